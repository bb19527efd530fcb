"""Crashes, lost answers, leases and rate limits: nothing lost, nothing duplicated."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests
from django.utils import timezone

from crmsync import services
from crmsync.client import HubSpotClient
from crmsync.models import Contact, PipelineState, SyncAttempt, SyncStatus
from crmsync.ratelimit import get_rate_limiter
from crmsync.sync import send, writeback
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def make_due() -> None:
    Contact.objects.filter(sync_status=SyncStatus.PENDING).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def assert_no_duplicates(sandbox) -> None:
    emails = [c["properties"].get("email") for c in sandbox.contacts()]
    emails = [e for e in emails if e]
    assert len(emails) == len(set(emails))


class Crash(Exception):
    pass


def test_crash_between_http_and_write_back_is_reconciled(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    rows = ContactFactory.create_batch(10)
    nomail = ContactFactory(email="", firstname="NoMail")

    def crash(batch):
        raise Crash("worker died after HubSpot answered")

    monkeypatch.setattr(writeback, "write_back", crash)
    with pytest.raises(Crash):
        services.sync_batch()
    monkeypatch.undo()
    assert len(hubspot_sandbox.contacts()) == 11  # HubSpot has them; we wrote nothing
    assert Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT).count() == 11
    # Not yet expired: another run must not touch them.
    assert services.sync_pending().requests == 0
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    summary = services.sync_pending()
    assert summary.synced == 10 and summary.held == 1
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]
    nomail.refresh_from_db()
    assert nomail.sync_status == SyncStatus.HELD
    assert "no email" in nomail.sync_error
    assert len(hubspot_sandbox.contacts()) == 11  # nothing created twice
    # The operator checks HubSpot and releases it: it is created (again, by their decision).
    assert services.release_held([nomail.pk]) == 1


#: Faults on creates, updates and the lookup made at once after a lost answer, so a row
#: whose answer was lost waits for its next try (looked up before creating again).
LOOKUP_TOO = ("create", "update", "upsert", "read")


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_after_commit_rate": 1.0},
        {"slow_after_commit_rate": 1.0, "slow_after_commit_seconds": 3.0},
    ],
)
def test_unknown_outcome_is_looked_up_before_creating_again(
    crmsync_settings, hubspot_sandbox, fault, settings
):
    settings.CRMSYNC = {
        **crmsync_settings,
        "HTTP_TIMEOUT_SECONDS": 1.0,
        "RETRY_BASE_SECONDS": 60,
        "RETRY_MAX_SECONDS": 600,
    }
    # The lookup made at once after the lost answer fails too (its answer lost as well), so
    # the rows wait for their next try, which looks them up before creating.
    hubspot_sandbox.configure(**fault, fault_endpoints=LOOKUP_TOO)
    rows = ContactFactory.create_batch(5)
    summary = services.sync_pending()
    assert summary.synced == 0
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.needs_reconcile
        assert row.sync_error_category == "OUTCOME_UNKNOWN"
    hubspot_sandbox.configure(drop_after_commit_rate=0.0, slow_after_commit_rate=0.0)
    make_due()
    services.sync_pending()
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]
        assert not row.needs_reconcile
    assert len(hubspot_sandbox.contacts()) == 5
    assert SyncAttempt.objects.filter(outcome="linked").count() == 5


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_after_commit_rate": 1.0},
        {"slow_after_commit_rate": 1.0, "slow_after_commit_seconds": 3.0},
    ],
)
def test_a_lost_create_answer_is_looked_up_at_once_in_the_same_batch(
    crmsync_settings, hubspot_sandbox, fault, settings
):
    """Not after a backoff and a claim of its own (the tail of a run under faults): the
    records HubSpot wrote are found by email and linked in the same run, sent their values by
    one update, and nothing is created twice."""
    settings.CRMSYNC = {
        **crmsync_settings,
        "HTTP_TIMEOUT_SECONDS": 1.0,
        "RETRY_BASE_SECONDS": 60,
        "RETRY_MAX_SECONDS": 600,
    }
    hubspot_sandbox.configure(**fault, fault_endpoints=("create",))
    rows = ContactFactory.create_batch(5)
    nomail = ContactFactory(email="", firstname="Anon")
    summary = services.sync_pending()
    assert (summary.synced, summary.held, summary.batches) == (5, 1, 1)
    # the create and one lookup: the records it finds hold the rows' values (the lost create
    # wrote them), so no update follows
    assert summary.requests == 2
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED and not row.needs_reconcile
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]
    nomail.refresh_from_db()
    assert nomail.sync_status == SyncStatus.HELD  # nothing to look it up by
    assert len(hubspot_sandbox.contacts()) == 6  # nothing created twice
    outcomes = list(SyncAttempt.objects.values_list("outcome", flat=True))
    assert sorted(outcomes) == sorted(["held"] + ["unknown", "linked"] * 5)
    for row in rows:
        held = hubspot_sandbox.contact_by_email(row.email)["properties"]
        assert (held["firstname"], held["lastname"]) == (row.firstname, row.lastname)
        assert row.synced_properties is not None  # what HubSpot holds, for the next diff


def test_a_lost_create_answer_not_found_at_once_is_not_created_again_now(
    crmsync_settings, hubspot_sandbox, settings, monkeypatch
):
    """The create may still be in progress at HubSpot: a row the immediate lookup does not
    find keeps the unknown path (looked up again before its next try), never created now."""
    settings.CRMSYNC = {**crmsync_settings, "RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 600}
    hubspot_sandbox.configure(drop_after_commit_rate=1.0, fault_endpoints=("create",))
    rows = ContactFactory.create_batch(3)
    real_read = HubSpotClient.batch_read_by_email

    def read_before_the_write_shows(self, emails, *args, **kwargs):
        response = real_read(self, emails, *args, **kwargs)
        response.results = []  # as if HubSpot had not finished writing yet
        return response

    monkeypatch.setattr(HubSpotClient, "batch_read_by_email", read_before_the_write_shows)
    summary = services.sync_pending()
    assert summary.synced == 0 and summary.requests == 2  # the create and the lookup
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.needs_reconcile
    assert len(hubspot_sandbox.contacts()) == 3


def test_unknown_outcome_without_email_is_held_not_recreated(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(drop_after_commit_rate=1.0)
    row = ContactFactory(email="", firstname="Anon")
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.HELD
    hubspot_sandbox.configure(drop_after_commit_rate=0.0)
    make_due()
    assert services.sync_pending().requests == 0
    assert len(hubspot_sandbox.contacts()) == 1


def test_write_back_with_a_lost_lease_changes_nothing(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    row = ContactFactory()
    real_execute = send.Sender.send

    def steal_then_execute(self, plan):
        # Another worker reclaimed the row meanwhile (new token).
        Contact.objects.filter(pk=row.pk).update(claim_token="00000000-0000-0000-0000-000000000001")
        real_execute(self, plan)

    monkeypatch.setattr(send.Sender, "send", steal_then_execute)
    summary = services.sync_pending()
    assert summary.lost_lease == 1
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.IN_FLIGHT  # untouched by the loser
    assert row.hubspot_id == ""


def test_rolling_429_waits_without_counting_an_attempt(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(rate_limit_max=1, rate_limit_interval_ms=60_000)
    other_app_request(hubspot_sandbox)  # takes the window's only request
    rows = ContactFactory.create_batch(3)
    services.sync_pending()
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING
        assert row.sync_attempts == 0
        assert row.sync_error_category == "RATE_LIMIT"
        assert row.next_attempt_at > timezone.now()


def other_app_request(sandbox) -> None:
    """A request from another app on the same account, unseen by crmsync's limiter."""
    response = requests.post(
        f"{sandbox.url}/crm/v3/objects/contacts/batch/read",
        json={"idProperty": "email", "properties": ["email"], "inputs": [{"id": "x@example.com"}]},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        timeout=5,
    )
    assert response.status_code in (200, 207)


def test_daily_429_pauses_until_the_reset(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(daily_limit=1)
    other_app_request(hubspot_sandbox)
    rows = ContactFactory.create_batch(3)
    summary = services.sync_pending()
    assert summary.stopped_reason
    state = PipelineState.objects.get(pk=1)
    assert state.paused and state.reason == "daily_limit"
    assert state.paused_until is not None and state.paused_until > timezone.now()
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.sync_attempts == 0
    assert services.sync_pending().requests == 0
    # Midnight in the account's time zone comes: HubSpot and the limiter start a new day.
    PipelineState.objects.update(paused_until=timezone.now() - dt.timedelta(seconds=1))
    get_rate_limiter().reset()
    hubspot_sandbox.configure(daily_limit=1000)
    assert services.sync_pending().synced == 3


def test_redis_down_stops_sending_and_leaves_rows_pending(
    crmsync_settings, hubspot_sandbox, settings
):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    settings.CRMSYNC = {
        **crmsync_settings,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "REDIS_OUTAGE_WAIT_SECONDS": 0.6,
    }
    rows = ContactFactory.create_batch(3)
    started = time.monotonic()
    summary = services.sync_pending()
    assert 0.6 <= time.monotonic() - started < 5  # waited for it to come back, then ended
    assert "unavailable" in summary.stopped_reason
    assert hubspot_sandbox.stats()["requests_total"] == 0  # nothing sent
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.sync_attempts == 0


def test_edits_after_a_lost_answer_reach_the_contact_hubspot_made(
    crmsync_settings, hubspot_sandbox, settings
):
    """The create's answer is lost; then one row's email and another's name change. The
    lookup must find the contacts made from the old values (not create a second one), and
    HubSpot must end up with the new values."""
    settings.CRMSYNC = {**crmsync_settings, "RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 600}
    a = ContactFactory(email="a@example.com", firstname="Old")
    b = ContactFactory(email="b@example.com", firstname="Old")
    hubspot_sandbox.configure(drop_after_commit_rate=1.0, fault_endpoints=LOOKUP_TOO)
    services.sync_pending()
    hubspot_sandbox.configure(drop_after_commit_rate=0.0)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.needs_reconcile and b.needs_reconcile
    a.email = "a2@example.com"
    a.save()
    b.firstname = "New"
    b.save()
    make_due()
    services.sync_pending()
    remote = {c["id"]: c["properties"] for c in hubspot_sandbox.contacts()}
    assert len(remote) == 2  # nothing created twice
    for row in (a, b):
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED, row.sync_error
        assert row.synced_version == row.version
        assert remote[row.hubspot_id]["email"] == row.email
        assert remote[row.hubspot_id]["firstname"] == row.firstname
    assert not a.reconcile_emails and not a.needs_reconcile


def test_email_edited_while_in_flight_before_a_crash_is_still_found(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    row = ContactFactory(email="before@example.com")

    def edit_then_crash(batch):
        other = Contact.objects.get(pk=row.pk)
        other.email = "after@example.com"
        other.save()  # while in flight: the worker sent before@...
        raise Crash("worker died after HubSpot answered")

    monkeypatch.setattr(writeback, "write_back", edit_then_crash)
    with pytest.raises(Crash):
        services.sync_batch()
    monkeypatch.undo()
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    services.sync_pending()
    remote = hubspot_sandbox.contacts()
    assert len(remote) == 1
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    assert row.hubspot_id == remote[0]["id"]
    assert remote[0]["properties"]["email"] == "after@example.com"


def test_expired_leases_flag_only_creates_for_lookup():
    (create, update) = Contact.objects.bulk_create(
        [Contact(email="c@example.com"), Contact(email="u@example.com", hubspot_id="77")]
    )
    Contact.objects.update(
        sync_status=SyncStatus.IN_FLIGHT,
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    assert services.release_expired_leases() == 2
    create.refresh_from_db()
    update.refresh_from_db()
    assert create.sync_status == update.sync_status == SyncStatus.PENDING
    assert create.needs_reconcile  # its create may have happened
    assert not update.needs_reconcile  # an update is idempotent
