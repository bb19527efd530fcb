"""A polite stop, in this process: the request in flight is written back, nothing more is
sent, and rows not sent (or half done: a link without its follow-up update) go back to the
queue. The subprocess tests (a real crmsync_sync, a real Celery worker, SIGTERM mid-request)
are in test_shutdown_processes.py."""

from __future__ import annotations

import pytest
from django.test import override_settings

from crmsync import services, shutdown
from crmsync.client import HubSpotClient
from crmsync.models import Contact, SyncStatus
from crmsync.testing import sandbox_settings
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_stop_left_behind():
    shutdown.clear()
    yield
    shutdown.clear()


def stop_after(monkeypatch, method: str, calls: int = 1) -> list[int]:
    """Ask for the stop once HubSpot has answered the ``calls``-th request of ``method``:
    as a SIGTERM landing while that request was in flight."""
    real = getattr(HubSpotClient, method)
    seen: list[int] = []

    def answered_then_stop(self, *args, **kwargs):
        response = real(self, *args, **kwargs)
        seen.append(1)
        if len(seen) == calls:
            shutdown.request_stop("SIGTERM received")
        return response

    monkeypatch.setattr(HubSpotClient, method, answered_then_stop)
    return seen


def by_status() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Contact.objects.values_list("sync_status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_the_request_in_flight_is_written_back_and_nothing_more_is_claimed(
    crmsync_sandbox, monkeypatch
):
    ContactFactory.create_batch(25)
    seen = stop_after(monkeypatch, "batch_create")
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, BATCH_SIZE=10)):
        summary = services.sync_pending()
    assert len(seen) == 1  # one request, then no other batch claimed
    assert summary.synced == 10 and summary.batches == 1
    assert summary.stopped_reason.startswith("shutting down (SIGTERM received)")
    assert by_status() == {SyncStatus.SYNCED: 10, SyncStatus.PENDING: 15}
    assert len(crmsync_sandbox.contacts()) == 10
    # Asked again after the stop is forgotten (a new process), the rest goes.
    shutdown.clear()
    monkeypatch.undo()
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, BATCH_SIZE=10)):
        assert services.sync_pending().synced == 15
    assert len(crmsync_sandbox.contacts()) == 25


def test_rows_of_the_batch_not_sent_yet_go_back_to_the_queue_untouched(
    crmsync_sandbox, monkeypatch
):
    known = []
    for n in range(3):
        email = f"known{n}@example.com"
        hubspot_id = crmsync_sandbox.add_contact({"email": email, "firstname": "Old"})
        known.append(ContactFactory(email=email, firstname="New", hubspot_id=hubspot_id))
    new = ContactFactory.create_batch(4)
    stop_after(monkeypatch, "batch_update")  # updates go first, then the creates
    summary = services.sync_pending()
    assert summary.synced == 3 and summary.requests == 1
    for row in known:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
    assert crmsync_sandbox.stats()["records_created"] == 0  # the creates were never sent
    for row in new:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING
        assert row.claim_token is None and row.lease_expires_at is None
        assert row.sync_attempts == 0  # not sent costs no attempt
        assert row.sync_error == "not sent: the worker was stopping"


def test_a_linked_row_whose_follow_up_was_not_sent_is_queued_again(crmsync_sandbox, monkeypatch):
    """HubSpot held the contact (an earlier create's answer was lost): the lookup links it,
    and its values follow in an update. Stopped between the two, the row must not be left
    synced with HubSpot holding the old values."""
    hubspot_id = crmsync_sandbox.add_contact({"email": "lost@example.com", "firstname": "Old"})
    row = ContactFactory(email="lost@example.com", firstname="Fresh")
    Contact.objects.filter(pk=row.pk).update(needs_reconcile=True)
    stop_after(monkeypatch, "batch_read_by_email")
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING
    assert row.hubspot_id == hubspot_id  # linked: no second create, ever
    assert crmsync_sandbox.contact_by_email("lost@example.com")["properties"]["firstname"] == "Old"
    shutdown.clear()
    monkeypatch.undo()
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED and row.hubspot_id == hubspot_id
    record = crmsync_sandbox.contact_by_email("lost@example.com")
    assert record["properties"]["firstname"] == "Fresh"
    assert len(crmsync_sandbox.contacts()) == 1


def test_an_updated_row_whose_associations_were_not_sent_is_queued_again(
    crmsync_sandbox, monkeypatch
):
    hubspot_id = crmsync_sandbox.add_contact({"email": "assoc@example.com", "firstname": "Old"})
    link = [{"to": {"id": "9001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                              "associationTypeId": 279}]}]  # fmt: skip
    row = ContactFactory(
        email="assoc@example.com", firstname="New", hubspot_id=hubspot_id, associations=link
    )
    Contact.objects.filter(pk=row.pk).update(synced_associations=[])
    stop_after(monkeypatch, "batch_update")
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING  # not synced without its company
    assert crmsync_sandbox.associations(hubspot_id) == []
    shutdown.clear()
    monkeypatch.undo()
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    assert crmsync_sandbox.associations(hubspot_id) == ["9001"]


def test_a_stop_asked_before_the_drain_sends_nothing(crmsync_sandbox):
    ContactFactory.create_batch(3)
    shutdown.request_stop("SIGTERM received")
    summary = services.sync_pending()
    assert summary.requests == 0 and summary.stopped_reason
    assert by_status() == {SyncStatus.PENDING: 3}
    assert crmsync_sandbox.stats()["requests_total"] == 0


def test_a_second_request_without_a_drain_running_does_not_end_the_process():
    shutdown.request_stop("SIGTERM received")
    shutdown.request_stop("SIGTERM received")  # no drain running: nothing to cut short
    assert shutdown.stop_requested() and shutdown.reason() == "SIGTERM received"
