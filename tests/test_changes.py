"""Updates carry only what changed; emptied values are cleared; rows to archive are archived.

Against the sandbox over real HTTP, one ``sync_batch()`` at a time, checking the request
bodies kept as history and the records the sandbox holds."""

from __future__ import annotations

import json

import pytest

from crmsync import db, services
from crmsync.client import HubSpotClient
from crmsync.models import Contact, SyncAction, SyncAttempt, SyncBatch, SyncStatus
from crmsync.sync.plan import changes, plan_batch
from tests.factories import ContactFactory
from tests.stage_helpers import TAG, row

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("current", "synced", "create_only", "send", "after"),
    [
        # nothing known of HubSpot's copy: everything but create-only properties
        ({"a": "1", "b": "2"}, None, frozenset(), {"a": "1", "b": "2"}, {"a": "1", "b": "2"}),
        ({"a": "1", "c": "x"}, None, frozenset({"c"}), {"a": "1"}, {"a": "1"}),
        # only what differs
        ({"a": "1", "b": "3"}, {"a": "1", "b": "2"}, frozenset(), {"b": "3"},
         {"a": "1", "b": "3"}),
        # an emptied value is cleared with ""
        ({"a": "1"}, {"a": "1", "b": "2"}, frozenset(), {"b": ""}, {"a": "1"}),
        # nothing changed: nothing to send
        ({"a": "1"}, {"a": "1"}, frozenset(), {}, {"a": "1"}),
        # a create-only property is never updated, nor cleared, and HubSpot keeps its value
        ({"a": "2", "c": "new"}, {"a": "1", "c": "old"}, frozenset({"c"}), {"a": "2"},
         {"a": "2", "c": "old"}),
        ({"a": "1"}, {"a": "1", "c": "old"}, frozenset({"c"}), {}, {"a": "1", "c": "old"}),
        # a new property appears
        ({"a": "1", "n": "v"}, {"a": "1"}, frozenset(), {"n": "v"}, {"a": "1", "n": "v"}),
    ],
)  # fmt: skip
def test_changes(current, synced, create_only, send, after):
    assert changes(current, synced, create_only) == (send, after)


def update_row(**fields) -> db.ClaimedRow:
    return row(1, hubspot_id="512", **fields)


def test_plan_sends_only_changes_and_decides_unchanged_rows_without_a_request():
    same = update_row(synced_properties={"email": "p1@example.com", "firstname": "F1"})
    edited = row(2, hubspot_id="513", firstname="New",
                 synced_properties={"email": "p2@example.com", "firstname": "F2"})  # fmt: skip
    plan = plan_batch([same, edited], TAG)
    assert [d.outcome for d in plan.decided] == ["unchanged"]
    assert plan.decided[0].write.status == "synced" and plan.decided[0].write.hubspot_id == "512"
    [update] = plan.updates
    assert update.body["properties"] == {"firstname": "New"}
    assert update.synced_after == {"email": "p2@example.com", "firstname": "New"}


def test_plan_leaves_create_only_properties_out_of_updates_but_not_creates():
    known = update_row(
        lifecyclestage="customer", synced_properties={"email": "p1@example.com", "firstname": "F1"}
    )
    new = row(2, lifecyclestage="lead")
    plan = plan_batch([known, new], TAG, create_only=lambda source: frozenset({"lifecyclestage"}))
    assert plan.decided[0].outcome == "unchanged"
    assert plan.creates[0].body["properties"]["lifecyclestage"] == "lead"


def test_plan_names_the_host_row_of_a_mapping_error():
    bad = row(1, source="shop.customer", source_pk="42", properties={"score": float("nan")})
    [decision] = plan_batch([bad], TAG).decided
    assert decision.write.status == "failed"
    assert decision.write.error.startswith("Cannot send shop.customer #42: score: nan is not")


def test_plan_archives_known_contacts_and_settles_unknown_ones():
    rows = [
        row(1, action="archive", hubspot_id="9"),
        row(2, action="archive"),  # never created: nothing to archive
        row(3, action="archive", needs_reconcile=True, reconcile_emails="p3@example.com "),
        row(4, action="archive", email="", needs_reconcile=True),  # nothing to look up by
    ]
    plan = plan_batch(rows, TAG)
    assert [i.body for i in plan.archives] == [{"id": "9"}]
    assert [r.id for r in plan.archive_lookups] == [3]
    assert [(d.write.id, d.write.status) for d in plan.decided] == [
        (2, "archived"),
        (4, "archived"),
    ]


def sent_bodies(endpoint: str) -> list[dict]:
    batches = SyncBatch.objects.filter(endpoint=endpoint).order_by("id")
    return [json.loads(b.request_body) for b in batches]


def edit_in_hubspot(sandbox, hubspot_id: str, **properties: str) -> None:
    client = HubSpotClient(base_url=sandbox.url, access_token=sandbox.token)
    client.batch_update([{"id": hubspot_id, "properties": properties}])


def test_an_update_sends_only_what_changed_and_keeps_edits_made_in_hubspot(
    crmsync_settings, hubspot_sandbox
):
    contact = ContactFactory(firstname="Ada", lastname="Lovelace", phone="+44 1")
    services.sync_batch()
    contact.refresh_from_db()
    assert contact.synced_properties == {
        "email": contact.email,
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": "+44 1",
        "lifecyclestage": "lead",
    }
    edit_in_hubspot(hubspot_sandbox, contact.hubspot_id, phone="+44 2")  # sales, in HubSpot
    contact.firstname = "Augusta"
    contact.save()
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 1
    [update] = sent_bodies("update")
    assert update["inputs"][0]["properties"] == {"firstname": "Augusta"}
    remote = hubspot_sandbox.contact_by_email(contact.email)["properties"]
    assert remote["firstname"] == "Augusta" and remote["phone"] == "+44 2"  # not overwritten
    contact.refresh_from_db()
    assert contact.synced_properties["firstname"] == "Augusta"


def test_an_emptied_field_is_cleared_in_hubspot(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(lastname="Lovelace", properties={"jobtitle": "Analyst"})
    services.sync_batch()
    contact.lastname = ""
    contact.properties = {}
    contact.save()
    services.sync_batch()
    [update] = sent_bodies("update")
    assert update["inputs"][0]["properties"] == {"lastname": "", "jobtitle": ""}
    remote = hubspot_sandbox.contact_by_email(contact.email)["properties"]
    assert not remote.get("lastname") and not remote.get("jobtitle")
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert "lastname" not in contact.synced_properties


def test_a_change_undone_before_the_send_sends_nothing(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(firstname="Ada")
    services.sync_batch()
    contact.firstname = "Tmp"
    contact.save()
    contact.firstname = "Ada"
    contact.save()
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 1 and summary.requests == 0
    assert sent_bodies("update") == []
    assert SyncAttempt.objects.filter(contact=contact, outcome="unchanged").count() == 1
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED


def test_a_contact_synced_before_fingerprints_sends_everything_once(
    crmsync_settings, hubspot_sandbox
):
    contact = ContactFactory(firstname="Ada", lastname="L")
    services.sync_batch()
    Contact.objects.filter(pk=contact.pk).update(synced_properties=None)  # an older install
    contact.refresh_from_db()
    contact.firstname = "Augusta"
    contact.save()
    services.sync_batch()
    [update] = sent_bodies("update")
    assert set(update["inputs"][0]["properties"]) == {
        "email",
        "firstname",
        "lastname",
        "lifecyclestage",
    }


def test_a_contact_linked_by_a_conflict_records_what_it_was_sent(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "known@example.com", "firstname": "Remote"})
    contact = ContactFactory(email="known@example.com", firstname="Local")
    services.sync_batch()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert contact.synced_properties["firstname"] == "Local"


def test_contacts_to_archive_are_archived_in_hubspot(crmsync_settings, hubspot_sandbox):
    keep, gone = ContactFactory(), ContactFactory()
    services.sync_batch()
    gone.refresh_from_db()
    never = ContactFactory()
    Contact.objects.filter(pk__in=[gone.pk, never.pk]).update(
        action=SyncAction.ARCHIVE, sync_status=SyncStatus.PENDING
    )
    summary = services.sync_batch()
    assert summary is not None and summary.requests == 1
    [archive] = sent_bodies("archive")
    assert archive == {"inputs": [{"id": gone.hubspot_id}]}
    assert [c["id"] for c in hubspot_sandbox.archived_contacts()] == [gone.hubspot_id]
    assert hubspot_sandbox.contact_by_email(keep.email) is not None
    for contact in (gone, never):
        contact.refresh_from_db()
        assert contact.sync_status == SyncStatus.ARCHIVED
    assert SyncAttempt.objects.filter(outcome="archived").count() == 2


def test_an_archive_after_a_lost_create_looks_the_contact_up_first(
    crmsync_settings, hubspot_sandbox
):
    hubspot_id = hubspot_sandbox.add_contact({"email": "maybe@example.com"})
    contact = ContactFactory(email="maybe@example.com")
    Contact.objects.filter(pk=contact.pk).update(
        action=SyncAction.ARCHIVE, needs_reconcile=True, reconcile_emails="maybe@example.com "
    )
    services.sync_batch()
    assert [c["id"] for c in hubspot_sandbox.archived_contacts()] == [hubspot_id]
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.ARCHIVED and contact.hubspot_id == hubspot_id
