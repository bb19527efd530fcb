"""One claimed batch, from claim to write-back, against the sandbox over real HTTP.

Each test runs a single ``sync_batch()`` and then checks every row and the records the
sandbox holds: a later batch must not be what repairs a row the first one left undecided.
"""

from __future__ import annotations

import json

import pytest

from crmsync import services
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def statuses() -> dict[str, int]:
    out: dict[str, int] = {}
    for status in Contact.objects.values_list("sync_status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out


def assert_matches_sandbox(sandbox) -> None:
    """Every synced row names the HubSpot contact holding its email, and no two rows
    claim different contacts for one email."""
    for row in Contact.objects.filter(sync_status=SyncStatus.SYNCED).exclude(email=""):
        remote = sandbox.contact_by_email(row.email)
        assert remote is not None, row.email
        assert row.hubspot_id == remote["id"]


def test_one_batch_creates_every_row_once(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(30)
    summary = services.sync_batch()
    assert summary is not None
    assert (summary.synced, summary.failed, summary.requests) == (30, 0, 1)
    assert statuses() == {"synced": 30}
    assert len(hubspot_sandbox.contacts()) == 30
    assert_matches_sandbox(hubspot_sandbox)
    assert services.sync_batch() is None  # nothing left


def test_create_inputs_carry_associations_even_when_empty(crmsync_settings, hubspot_sandbox):
    ContactFactory()
    ContactFactory(associations=[{"to": {"id": "9001"}}])
    services.sync_batch()
    body = json.loads(SyncBatch.objects.get(endpoint="create").request_body)
    associations = sorted(len(i["associations"]) for i in body["inputs"])
    assert associations == [0, 1]  # HubSpot's spec requires the key on every input


def test_one_batch_isolates_a_bad_row_in_a_multi_status_answer(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(9)
    bad = ContactFactory(email="not-an-email")
    summary = services.sync_batch()
    assert summary is not None and (summary.synced, summary.failed) == (9, 1)
    assert len(hubspot_sandbox.contacts()) == 9
    bad.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED and "not-an-email" in bad.sync_error
    assert_matches_sandbox(hubspot_sandbox)


def test_one_batch_isolates_a_bad_row_of_a_whole_batch_rejection(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(multi_status=False)
    ContactFactory.create_batch(15)
    bad = ContactFactory(email="broken@@example.com")
    summary = services.sync_batch()
    assert summary is not None and (summary.synced, summary.failed) == (15, 1)
    assert summary.requests >= 3  # the rejection, then the isolated halves
    assert len(hubspot_sandbox.contacts()) == 15
    bad.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED
    assert statuses() == {"synced": 15, "failed": 1}


@pytest.mark.parametrize("conflict_mode", ["per_input", "batch"])
def test_one_batch_links_emails_hubspot_already_has(
    crmsync_settings, hubspot_sandbox, conflict_mode
):
    hubspot_sandbox.configure(conflict_mode=conflict_mode)
    existing = hubspot_sandbox.add_contact({"email": "known@example.com", "firstname": "Remote"})
    ContactFactory.create_batch(4)
    known = ContactFactory(email="Known@Example.com", firstname="Local")
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 5 and summary.failed == 0
    assert len(hubspot_sandbox.contacts()) == 5  # 4 new + the one it had: no duplicate
    known.refresh_from_db()
    assert known.hubspot_id == existing and known.sync_status == SyncStatus.SYNCED
    # linked, then sent this row's values: the local database is the truth
    assert hubspot_sandbox.contact_by_email("known@example.com")["properties"]["firstname"] == (
        "Local"
    )
    assert SyncAttempt.objects.filter(contact=known, outcome="linked").exists()


def test_one_batch_sends_two_rows_with_one_email_once(crmsync_settings, hubspot_sandbox):
    first = ContactFactory(email="twin@example.com")
    second = ContactFactory(email="TWIN@example.com")
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 2
    assert len(hubspot_sandbox.contacts()) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.hubspot_id == second.hubspot_id != ""
    outcomes = set(SyncAttempt.objects.values_list("outcome", flat=True))
    assert outcomes == {"created", "linked"}


def test_one_batch_updates_known_contacts_and_creates_new_ones(crmsync_settings, hubspot_sandbox):
    known_id = hubspot_sandbox.add_contact({"email": "old@example.com", "firstname": "Before"})
    known = ContactFactory(email="old@example.com", firstname="After")
    Contact.objects.filter(pk=known.pk).update(hubspot_id=known_id)
    ContactFactory.create_batch(3)
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 4 and summary.requests == 2
    assert len(hubspot_sandbox.contacts()) == 4
    assert hubspot_sandbox.contact_by_email("old@example.com")["properties"]["firstname"] == "After"
    assert set(SyncBatch.objects.values_list("endpoint", flat=True)) == {"create", "update"}


def test_a_transient_error_schedules_one_counted_retry(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(fault_5xx_rate=1.0)
    row = ContactFactory()
    summary = services.sync_batch()
    assert summary is not None and summary.retrying == 1 and summary.synced == 0
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING and row.sync_attempts == 1
    assert hubspot_sandbox.contacts() == []
