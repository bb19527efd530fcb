"""A database connection lost between HubSpot's answer and the write-back (a failover, a
pooler restart, ``pg_terminate_backend``): the write-back is made again on a fresh
connection while the lease holds, once only; past the lease, the lookup by email takes over.
No answer HubSpot gave is lost."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from crmsync import db, services
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.sync import send, writeback
from tests.factories import ContactFactory

# A write-back is retried only outside a transaction (a fresh connection cannot finish a
# caller's one), so these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


def assert_synced_once(rows, sandbox) -> None:
    """Every row synced to the one record HubSpot made for it, and its history kept once."""
    assert len(sandbox.contacts()) == len(rows)
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED, row.sync_error
        assert row.hubspot_id == sandbox.contact_by_email(row.email)["id"]
        assert row.claim_token is None
    assert SyncBatch.objects.count() == 1
    assert SyncAttempt.objects.count() == len(rows)


def terminate_this_connection() -> None:
    """End this thread's PostgreSQL session from a second connection, as a failover or a
    pooler restart would: the next statement on it fails."""
    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"],
        host=s["HOST"],
        port=s["PORT"] or 5432,
        autocommit=True,
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
    deadline = time.monotonic() + 5
    with psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"],
        host=s["HOST"],
        port=s["PORT"] or 5432,
        autocommit=True,
    ) as other:  # pg_terminate_backend only signals: wait until the session is gone
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.mark.postgres
def test_a_terminated_connection_before_the_write_back_is_written_again(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    rows = ContactFactory.create_batch(5)
    real_send = send.Sender.send

    def send_then_lose_the_connection(self, plan):
        real_send(self, plan)  # HubSpot has answered; the answer lives only in this process
        terminate_this_connection()

    monkeypatch.setattr(send.Sender, "send", send_then_lose_the_connection)
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 5 and summary.lost_lease == 0
    assert_synced_once(rows, hubspot_sandbox)


def test_a_write_back_failing_once_on_the_connection_is_written_again(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    rows = ContactFactory.create_batch(5)
    real_write_back = db.write_back
    failures = []

    def fail_once(token, writes):
        if not failures:
            failures.append(token)
            raise OperationalError("server closed the connection unexpectedly")
        return real_write_back(token, writes)

    monkeypatch.setattr(db, "write_back", fail_once)
    summary = services.sync_batch()
    assert failures and summary is not None and summary.synced == 5
    assert_synced_once(rows, hubspot_sandbox)


def test_a_lost_answer_to_commit_is_not_written_twice(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """The COMMIT went through but its answer was lost: the rows no longer hold the claim,
    so the history is not inserted a second time."""
    rows = ContactFactory.create_batch(5)
    real_write_once = writeback._write_once
    calls = []

    def commit_then_lose_the_answer(batch, writes, stage):
        calls.append(stage)
        written = real_write_once(batch, writes, stage)
        if len(calls) == 1:
            assert stage == ["commit"]
            raise OperationalError("server closed the connection unexpectedly")
        return written

    monkeypatch.setattr(writeback, "_write_once", commit_then_lose_the_answer)
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 5
    assert len(calls) == 1  # the probe found the write made: not made again
    assert_synced_once(rows, hubspot_sandbox)


def test_past_the_lease_the_lookup_by_email_takes_over(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    rows = ContactFactory.create_batch(5)
    tries = []

    def database_gone(batch, writes, stage):
        if not tries:
            batch.lease_deadline = time.monotonic() + 0.5  # a lease about to end
        tries.append(time.monotonic())
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(writeback, "_write_once", database_gone)
    with pytest.raises(OperationalError):
        services.sync_batch()
    assert len(tries) >= 2  # tried again while the lease held, then gave up
    assert tries[-1] - tries[0] < 1.0
    monkeypatch.undo()
    assert len(hubspot_sandbox.contacts()) == 5  # HubSpot made them; nothing written here
    assert Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT).count() == 5
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    summary = services.sync_pending()  # releases the expired lease, looks the emails up
    assert summary.synced == 5
    assert len(hubspot_sandbox.contacts()) == 5  # found, not created again
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]


def test_inside_a_callers_transaction_nothing_is_retried(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """A fresh connection cannot finish a caller's transaction: the error goes up."""
    from django.db import transaction

    ContactFactory.create_batch(2)
    calls = []

    def fail(token, writes):
        calls.append(token)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(db, "write_back", fail)
    with pytest.raises(OperationalError), transaction.atomic():
        services.sync_batch()
    assert len(calls) == 1


@pytest.fixture
def every_request_extends_the_lease(monkeypatch):
    """Make every request want a longer lease first (as late in a long batch)."""
    from crmsync.sync import calls

    monkeypatch.setattr(calls, "LEASE_MARGIN_SECONDS", 10**6)


@pytest.mark.postgres  # pg_terminate_backend
def test_a_lease_extension_on_a_dead_connection_is_made_on_a_fresh_one(
    crmsync_sandbox, monkeypatch, every_request_extends_the_lease
):
    """Found by the multi-host harness: after pg_terminate_backend, the lease check before a
    request failed on the dead connection and its OperationalError ended the worker."""
    rows = ContactFactory.create_batch(3)
    real = db.extend_lease
    failures = []

    def dies_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            terminate_this_connection()
        return real(*args, **kwargs)

    monkeypatch.setattr(db, "extend_lease", dies_once)
    summary = services.sync_batch()
    assert failures and summary is not None and summary.synced == 3
    assert_synced_once(rows, crmsync_sandbox)


def test_a_lease_that_cannot_be_confirmed_sends_nothing_and_puts_the_rows_back(
    crmsync_sandbox, monkeypatch, every_request_extends_the_lease
):
    rows = ContactFactory.create_batch(3)

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(db, "extend_lease", unreachable)
    services.sync_batch()  # no OperationalError out of the batch: the worker goes on
    assert crmsync_sandbox.contacts() == []
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.claim_token is None


@pytest.mark.postgres  # pg_terminate_backend
def test_a_drain_goes_on_when_its_own_connection_dies_between_runs(crmsync_sandbox, monkeypatch):
    """Found by the multi-host harness: pg_terminate_backend killed the drain's own (main
    thread's) connection, and its next count of waiting rows ended the worker."""
    from crmsync.sync import run

    first = ContactFactory.create_batch(2)
    later = []
    real = run.count_waiting
    calls = []

    def dies_once() -> int:
        calls.append(1)
        if len(calls) == 1:
            later.extend(ContactFactory.create_batch(2))  # more work arrived meanwhile
            terminate_this_connection()
        return real()

    monkeypatch.setattr(run, "count_waiting", dies_once)
    summary = services.drain(timeout=20, horizon=0)
    assert not summary.stopped_reason and len(calls) >= 2
    for row in [*first, *later]:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
