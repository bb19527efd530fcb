"""WRITE_MODE "upsert": new contacts through batch/upsert by the unique property holding each
row's stable key, known ones through batch/update by id; a lost answer is sent again (never
held, never looked up); batch/upsert's ``new`` kept in history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crmsync import services
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.sync import writeback
from crmsync.sync.plan import plan_batch
from tests.factories import ContactFactory
from tests.stage_helpers import TAG, row

pytestmark = pytest.mark.django_db

KEY = "crmsync_id"
UNIQUE = {"name": KEY, "type": "string", "hasUniqueValue": True, "groupName": "crmsync"}
PRIMARY = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]


@pytest.fixture
def upsert_mode(crmsync_settings, hubspot_sandbox, settings):
    hubspot_sandbox.configure(custom_properties=[UNIQUE])
    settings.CRMSYNC = {
        **crmsync_settings,
        "WRITE_MODE": "upsert",
        "UNIQUE_PROPERTY": KEY,
        "HTTP_TIMEOUT_SECONDS": 1.0,
        "RETRY_BASE_SECONDS": 60,
        "RETRY_MAX_SECONDS": 600,
    }
    return hubspot_sandbox


def make_due() -> None:
    Contact.objects.filter(sync_status=SyncStatus.PENDING).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def endpoints() -> list[str]:
    return list(SyncBatch.objects.order_by("id").values_list("endpoint", flat=True))


def by_key(sandbox) -> dict[str, dict]:
    return {c["properties"][KEY]: c for c in sandbox.contacts() if c["properties"].get(KEY)}


def test_new_rows_are_upserted_by_their_key_and_known_ones_updated_by_id(upsert_mode):
    rows = [ContactFactory(), ContactFactory(email="")]
    summary = services.sync_pending()
    assert summary.synced == 2 and endpoints() == ["upsert"]
    held = by_key(upsert_mode)
    for contact in rows:
        contact.refresh_from_db()
        assert held[str(contact.sync_key)]["id"] == contact.hubspot_id
    attempts = SyncAttempt.objects.all()
    assert {(a.outcome, a.upsert_new) for a in attempts} == {("created", True)}
    rows[1].firstname = "Renamed"
    rows[1].save()
    services.sync_pending()
    assert endpoints() == ["upsert", "update"]
    assert upsert_mode.contacts()[1]["properties"]["firstname"] == "Renamed"


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_after_commit_rate": 1.0},
        {"slow_after_commit_rate": 1.0, "slow_after_commit_seconds": 3.0},
    ],
)
def test_a_lost_answer_is_sent_again_never_held_nor_duplicated(upsert_mode, fault):
    rows = [ContactFactory(email="") for _ in range(3)] + [ContactFactory()]
    upsert_mode.configure(**fault)
    summary = services.sync_pending()
    assert summary.synced == 0 and summary.held == 0
    assert len(upsert_mode.contacts()) == 4  # HubSpot wrote them; the answer was lost
    for contact in rows:
        contact.refresh_from_db()
        assert contact.sync_status == SyncStatus.PENDING and not contact.needs_reconcile
    upsert_mode.configure(drop_after_commit_rate=0.0, slow_after_commit_rate=0.0)
    make_due()
    assert services.sync_pending().synced == 4
    assert len(upsert_mode.contacts()) == 4  # the same upsert updated what it had made
    assert "read" not in endpoints()  # no lookup
    again = SyncAttempt.objects.filter(outcome="updated")
    assert again.count() == 4 and {a.upsert_new for a in again} == {False}


def test_a_crash_before_the_write_back_is_sent_again_after_the_lease(upsert_mode, monkeypatch):
    ContactFactory.create_batch(2, email="")

    def crash(batch):
        raise RuntimeError("worker died after HubSpot answered")

    monkeypatch.setattr(writeback, "write_back", crash)
    with pytest.raises(RuntimeError):
        services.sync_batch()
    monkeypatch.undo()
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    summary = services.sync_pending()
    assert (summary.synced, summary.held) == (2, 0)
    assert len(upsert_mode.contacts()) == 2


def test_an_email_another_contact_holds_is_linked_and_sent_by_id(upsert_mode):
    existing = upsert_mode.add_contact({"email": "taken@example.com", "firstname": "Old"})
    row_ = ContactFactory(email="taken@example.com", firstname="New")
    others = ContactFactory.create_batch(2)
    services.sync_pending()
    row_.refresh_from_db()
    assert (row_.sync_status, row_.hubspot_id) == (SyncStatus.SYNCED, existing)
    assert upsert_mode.contact_by_email("taken@example.com")["properties"]["firstname"] == "New"
    outcomes = SyncAttempt.objects.filter(contact=row_).order_by("id")
    assert [a.outcome for a in outcomes] == ["linked", "updated"]
    assert len(upsert_mode.contacts()) == 3
    for other in others:
        other.refresh_from_db()
        assert other.sync_status == SyncStatus.SYNCED


def test_a_whole_batch_409_is_isolated_the_rest_goes_through(upsert_mode):
    upsert_mode.configure(conflict_mode="batch")
    existing = upsert_mode.add_contact({"email": "taken@example.com"})
    conflicting = ContactFactory(email="taken@example.com")
    others = ContactFactory.create_batch(5, email="")
    services.sync_pending()
    conflicting.refresh_from_db()
    assert conflicting.hubspot_id == existing
    for other in others:
        other.refresh_from_db()
        assert other.sync_status == SyncStatus.SYNCED, other.sync_error
    assert len(upsert_mode.contacts()) == 6
    assert endpoints()[0] == "upsert" and endpoints().count("upsert") > 2  # split in parts


def test_a_bad_row_fails_alone_in_a_partial_upsert(upsert_mode):
    bad = ContactFactory(email="", properties={"no_such_property": "x"})
    good = ContactFactory(email="")
    services.sync_pending()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED and "no_such_property" in bad.sync_error
    assert good.sync_status == SyncStatus.SYNCED
    assert endpoints() == ["upsert"]  # one request: HubSpot answered 207


def test_associations_of_an_upserted_row_go_through_the_v4_api(upsert_mode):
    contact = ContactFactory(email="", associations=[{"to": {"id": "9001"}, "types": PRIMARY}])
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert upsert_mode.association_types(contact.hubspot_id) == {"9001": [279]}
    assert endpoints() == ["upsert", "associate"]
    assert contact.synced_associations == [["9001", "HUBSPOT_DEFINED", 279]]


def test_an_upserted_row_whose_association_fails_keeps_the_record_it_made(upsert_mode):
    """batch/upsert takes no associations: the contact is written, then the v4 call refuses a
    company that does not exist. The row fails for that, holding the id of the record HubSpot
    has (found by the multi-host chaos run: it lost the id), so a later try updates it."""
    missing = [{"to": {"id": "424242"}, "types": PRIMARY}]
    contact = ContactFactory(email="", associations=missing)
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.FAILED
    (record,) = upsert_mode.contacts()
    assert contact.hubspot_id == record["id"]
    assert endpoints() == ["upsert", "associate"]
    contact.associations = []
    contact.save()
    make_due()
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert [c["id"] for c in upsert_mode.contacts()] == [record["id"]]


def test_a_missing_unique_property_stops_the_run_with_the_reason(upsert_mode):
    upsert_mode.reset(restore_config=True)  # no custom property any more
    upsert_mode.configure(custom_properties=[])
    contact = ContactFactory()
    summary = services.sync_pending()
    assert "crmsync_unique_property --create" in summary.config_error
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.PENDING and contact.sync_attempts == 0
    assert endpoints() == ["upsert"]  # not split in halves: no row is at fault


def test_rows_left_unanswered_in_create_mode_are_looked_up_before_upserting(upsert_mode, settings):
    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).update(
        needs_reconcile=True, reconcile_emails=contact.email.lower() + " "
    )
    existing = upsert_mode.add_contact({"email": contact.email})  # the lost create made it
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.hubspot_id == existing and len(upsert_mode.contacts()) == 1
    assert endpoints() == ["read", "update"]


def test_two_rows_with_one_key_never_go_in_one_request():
    one, two = row(1, sync_key="k"), row(2, sync_key="k", email="other@example.com")
    plan = plan_batch([one, two], TAG, unique_property=KEY)
    assert [i.body["id"] for i in plan.upserts] == ["k"]
    (decision,) = plan.decided
    assert decision.write.id == 2 and decision.error_category == "DUPLICATE_KEY"


def test_upsert_inputs_carry_the_key_and_no_associations():
    item = row(1, sync_key="k1", associations=[{"to": {"id": "9001"}, "types": PRIMARY}])
    (upsert,) = plan_batch([item], TAG, unique_property=KEY).upserts
    assert upsert.body["idProperty"] == KEY and upsert.body["id"] == "k1"
    assert "associations" not in upsert.body
    assert upsert.links is not None and upsert.links.create == [["9001", "HUBSPOT_DEFINED", 279]]
    assert plan_batch([item], TAG).creates[0].body["associations"]  # create mode: inline


def test_the_admin_history_shows_whether_the_upsert_was_new(upsert_mode, admin_client):
    from django.urls import reverse

    contact = ContactFactory(email="")
    upsert_mode.configure(drop_after_commit_rate=1.0)
    services.sync_pending()
    upsert_mode.configure(drop_after_commit_rate=0.0)
    make_due()
    services.sync_pending()
    page = admin_client.get(reverse("admin:crmsync_contact_change", args=[contact.pk]))
    assert "(upsert: existing)" in page.content.decode()
    listing = admin_client.get(reverse("admin:crmsync_syncattempt_changelist"), {"upsert_new": "0"})
    assert listing.status_code == 200 and "Updated" in listing.content.decode()


def test_upsert_results_are_matched_by_trace_id_else_by_key_never_by_position():
    from crmsync.sync.matching import match_upserted

    first, second = (
        plan_batch(
            [row(1, sync_key="k1", email=""), row(2, sync_key="k2", email="")],
            TAG,
            unique_property=KEY,
        )
    ).upserts
    results = [
        {"id": "202", "new": False, "properties": {KEY: "k2"}},
        {"id": "201", "new": True, "properties": {}, "objectWriteTraceId": first.trace_id},
    ]
    answer = match_upserted([first, second], results, [], KEY)
    assert {item.body["id"]: r["id"] for item, r in answer.created} == {"k1": "201", "k2": "202"}
    assert answer.unmentioned == []
    error = {
        "message": "Contact already exists. Existing ID: 77",
        "context": {"objectWriteTraceId": [second.trace_id]},
    }
    answer = match_upserted([first, second], results[1:], [error], KEY)
    assert answer.existing == [(second, "77")]


def test_the_dry_run_shows_the_upserts_it_would_send(upsert_mode):
    """crmsync_plan in upsert mode lists the batch/upsert input (by the row's key) that the
    sync then sends, and sends nothing itself."""
    import io

    from django.core.management import call_command

    contact = ContactFactory(email="", firstname="Keyed")
    out = io.StringIO()
    try:
        call_command("crmsync_plan", stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    text = out.getvalue()
    assert code == 0, text  # something would be sent
    assert "/batch/upsert: 1 input" in text, text
    assert f'"id": "{contact.sync_key}"' in text and '"idProperty": "crmsync_id"' in text
    assert endpoints() == []  # nothing sent
