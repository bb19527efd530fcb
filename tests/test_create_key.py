"""Create mode with UNIQUE_PROPERTY set: every create carries the row's key in the unique
property, so a create whose answer was lost (or whose worker died) is looked up by the key,
and a row without an email is linked or created again instead of held for an operator."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crmsync import services
from crmsync.models import Contact, SyncStatus
from crmsync.sync import writeback
from crmsync.sync.plan import plan_batch
from tests.factories import ContactFactory
from tests.stage_helpers import TAG, row
from tests.test_upsert_mode import KEY, UNIQUE, by_key, endpoints

pytestmark = pytest.mark.django_db


@pytest.fixture
def create_key_mode(crmsync_settings, hubspot_sandbox, settings):
    hubspot_sandbox.configure(custom_properties=[UNIQUE])
    settings.CRMSYNC = {
        **crmsync_settings,
        "WRITE_MODE": "create",
        "UNIQUE_PROPERTY": KEY,
        "HTTP_TIMEOUT_SECONDS": 1.0,
        "RETRY_BASE_SECONDS": 60,
        "RETRY_MAX_SECONDS": 600,
    }
    return hubspot_sandbox


def test_creates_carry_the_key_but_do_not_count_it_as_a_synced_value():
    (create,) = plan_batch([row(1, sync_key="k1")], TAG, create_key=KEY).creates
    assert create.body["properties"][KEY] == "k1"
    assert create.body["associations"] == []  # still a create, associations inline
    assert create.synced_after is not None and KEY not in create.synced_after
    (plain,) = plan_batch([row(1, sync_key="k1")], TAG).creates
    assert KEY not in plain.body["properties"]


def test_a_row_without_email_to_reconcile_is_looked_up_by_its_key_not_held():
    lost = row(1, email="", sync_key="k1", needs_reconcile=True)
    plan = plan_batch([lost], TAG, create_key=KEY)
    assert plan.reconcile and len(plan.creates) == 1 and not plan.decided
    (decision,) = plan_batch([lost], TAG).decided  # without the key: held, as before
    assert decision.write.status == SyncStatus.HELD


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_after_commit_rate": 1.0},
        {"slow_after_commit_rate": 1.0, "slow_after_commit_seconds": 3.0},
    ],
)
def test_a_lost_answer_is_looked_up_by_key_and_linked_none_held(create_key_mode, fault):
    rows = [ContactFactory(email="") for _ in range(3)] + [ContactFactory()]
    create_key_mode.configure(**fault)
    summary = services.sync_pending()
    create_key_mode.configure(drop_after_commit_rate=0.0, slow_after_commit_rate=0.0)
    assert summary.held == 0
    held = by_key(create_key_mode)
    assert len(create_key_mode.contacts()) == 4 and len(held) == 4
    for contact in rows:
        contact.refresh_from_db()
        assert contact.sync_status == SyncStatus.SYNCED
        assert contact.hubspot_id == held[str(contact.sync_key)]["id"]
    # One read, by key: the row with an email needs no read by email beside it.
    assert endpoints()[:2] == ["create", "read"] and endpoints().count("read") == 1


def test_a_worker_that_died_after_its_create_is_reconciled_by_key(create_key_mode, monkeypatch):
    rows = ContactFactory.create_batch(2, email="")

    def crash(batch):
        raise RuntimeError("worker died after HubSpot answered")

    monkeypatch.setattr(writeback, "write_back", crash)
    with pytest.raises(RuntimeError):
        services.sync_batch()
    monkeypatch.undo()
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    summary = services.sync_pending()
    assert (summary.synced, summary.held) == (2, 0)
    assert len(create_key_mode.contacts()) == 2  # linked, not created twice
    held = by_key(create_key_mode)
    for contact in rows:
        contact.refresh_from_db()
        assert contact.hubspot_id == held[str(contact.sync_key)]["id"]


def test_a_create_that_never_reached_hubspot_is_sent_again_once(create_key_mode):
    contact = ContactFactory(email="")
    # As a worker killed before its request left leaves it: flagged, nothing at HubSpot.
    Contact.objects.filter(pk=contact.pk).update(needs_reconcile=True)
    summary = services.sync_pending()
    assert (summary.synced, summary.held) == (1, 0)
    assert endpoints() == ["read", "create"]
    (record,) = create_key_mode.contacts()
    contact.refresh_from_db()
    assert record["id"] == contact.hubspot_id
    assert record["properties"][KEY] == str(contact.sync_key)


def test_without_the_key_a_lost_create_without_email_is_still_held(
    crmsync_settings, hubspot_sandbox, settings
):
    settings.CRMSYNC = {**crmsync_settings, "HTTP_TIMEOUT_SECONDS": 1.0}
    ContactFactory(email="")
    hubspot_sandbox.configure(drop_after_commit_rate=1.0)
    assert services.sync_pending().held == 1


def test_the_dry_run_shows_the_read_by_key_the_sync_sends(create_key_mode):
    from crmsync.models import SyncBatch
    from crmsync.sync import dryrun

    contact = ContactFactory(email="")
    Contact.objects.filter(pk=contact.pk).update(needs_reconcile=True)
    planned = dryrun.preview(dryrun.due_rows()).requests
    assert [r.endpoint for r in planned] == ["read", "create"]
    (read,) = planned[0].inputs
    assert read.body["idProperty"] == KEY
    assert read.body["inputs"] == [{"id": str(contact.sync_key)}]
    services.sync_pending()
    assert endpoints() == ["read", "create"]
    sent = SyncBatch.objects.filter(endpoint="read").get()
    assert KEY in sent.request_body and str(contact.sync_key) in sent.request_body
