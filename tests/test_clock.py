"""One clock: leases and due times come from the database's clock, never a worker's.

A worker whose clock is 10 minutes off runs in a subprocess under libfaketime (Debian's
``faketime``), which skews ``time.time``, ``datetime.now`` and so Django's ``timezone.now``
in that process only (not its monotonic clock); the database and this test keep the true
time. The rows it must not touch are set up with the database's clock, as a worker with a
true clock would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from crmsync import services
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.sandbox.server import SandboxServer
from tests.factories import ContactFactory

ROOT = Path(__file__).resolve().parent.parent
SKEW = dt.timedelta(minutes=10)
RETRY_BASE = 60.0  # the skewed worker's first backoff: 30..60 s
faketime = pytest.mark.skipif(
    shutil.which("faketime") is None, reason="needs libfaketime: apt-get install faketime"
)

# What the skewed worker runs: put back expired leases, then one claimed batch; it prints
# its own clock and what it did, as JSON on its last line.
_WORKER = """
import json, time, django
django.setup()
from crmsync import services
released = services.release_expired_leases()
summary = services.sync_batch()
print(json.dumps({"time": time.time(), "released": released,
                  "batch": summary.as_dict() if summary else None}))
"""


def db_now() -> dt.datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        value = cursor.fetchone()[0]
    if isinstance(value, str):  # SQLite: 'YYYY-MM-DD HH:MM:SS', UTC
        value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_skewed_worker(sandbox: SandboxServer, offset: str, **crmsync: Any) -> dict[str, Any]:
    """Run ``_WORKER`` under ``faketime -f offset`` against this test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=_database_url(),
        REDIS_URL="",
        HUBSPOT_API_BASE_URL=sandbox.url,
        HUBSPOT_ACCESS_TOKEN=sandbox.token,
        CRMSYNC_LEASE_SECONDS="300",
        CRMSYNC_CONCURRENCY="1",
        CRMSYNC_LOG_LEVEL="ERROR",
        # A wall clock off by minutes says nothing of the monotonic clock; and libfaketime's
        # faked monotonic clock hangs every timed wait (threading.Event.wait) in Python.
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        **{f"CRMSYNC_{name}": str(value) for name, value in crmsync.items()},
    )
    # faketime forks the program: its own session, so a hung worker dies with it.
    proc = subprocess.Popen(
        ["faketime", "-f", offset, sys.executable, "-c", _WORKER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def claim_as_another_worker(rows: list[Contact], lease_seconds: int) -> uuid.UUID:
    """What a worker with a true clock leaves: the rows in flight under its token, the lease
    ending ``lease_seconds`` from now by the database's clock."""
    token = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crmsync_contact SET sync_status = %s, claim_token = %s, "
            "claimed_version = version, "
            "lease_expires_at = CURRENT_TIMESTAMP + make_interval(secs => %s) WHERE id = ANY(%s)",
            [SyncStatus.IN_FLIGHT.value, token, lease_seconds, [r.pk for r in rows]],
        )
    return token


def set_due_in(rows: list[Contact], seconds: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crmsync_contact SET next_attempt_at = "
            "CURRENT_TIMESTAMP + make_interval(secs => %s) WHERE id = ANY(%s)",
            [seconds, [r.pk for r in rows]],
        )


def assert_skewed(report: dict[str, Any], by: dt.timedelta) -> None:
    """The subprocess really ran on a skewed clock (else the test proves nothing)."""
    assert abs(report["time"] - time.time() - by.total_seconds()) < 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@faketime
def test_a_fast_worker_neither_steals_a_live_lease_nor_claims_early(hubspot_sandbox):
    live = ContactFactory.create_batch(100, hubspot_id="")
    token = claim_as_another_worker(live, lease_seconds=300)
    later = ContactFactory.create_batch(3)
    set_due_in(later, 300)

    report = run_skewed_worker(hubspot_sandbox, "+10m")

    assert_skewed(report, SKEW)
    assert report["released"] == 0
    assert report["batch"] is None  # nothing was due by the database's clock
    held = Contact.objects.filter(pk__in=[r.pk for r in live])
    assert set(held.values_list("sync_status", "claim_token")) == {(SyncStatus.IN_FLIGHT, token)}
    assert not held.filter(needs_reconcile=True).exists()
    waiting = Contact.objects.filter(pk__in=[r.pk for r in later])
    assert set(waiting.values_list("sync_status", flat=True)) == {SyncStatus.PENDING}
    assert all(r.next_attempt_at > db_now() + dt.timedelta(seconds=200) for r in waiting)
    assert hubspot_sandbox.contacts() == []  # nothing was sent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@faketime
def test_a_fast_worker_releases_a_lease_only_once_it_expired_by_the_database(hubspot_sandbox):
    rows = ContactFactory.create_batch(5, hubspot_id="")
    claim_as_another_worker(rows, lease_seconds=-1)

    report = run_skewed_worker(hubspot_sandbox, "+10m")

    assert report["released"] == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@faketime
@pytest.mark.hubspot_sandbox(fault_5xx_rate=1.0, fault_endpoints=("create",))
def test_a_slow_worker_backs_off_from_the_databases_now(hubspot_sandbox):
    rows = ContactFactory.create_batch(10, hubspot_id="")
    set_due_in(rows, -1200)  # due even by the slow clock, so today's code claims them too
    before = db_now()

    report = run_skewed_worker(
        hubspot_sandbox, "-10m", RETRY_BASE_SECONDS=RETRY_BASE, MAX_ATTEMPTS=5
    )

    after = db_now()
    assert_skewed(report, -SKEW)
    assert report["batch"] is not None and report["batch"]["retrying"] == 10
    for row in Contact.objects.filter(pk__in=[r.pk for r in rows]):
        assert row.sync_status == SyncStatus.PENDING and row.sync_attempts == 1
        # backoff(1) is 30..60 s from the database's now at the write-back
        assert before + dt.timedelta(seconds=RETRY_BASE / 2) <= row.next_attempt_at
        assert row.next_attempt_at <= after + dt.timedelta(seconds=RETRY_BASE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@faketime
def test_a_fast_worker_writes_history_at_the_databases_time(hubspot_sandbox):
    """History (each request, each row's attempt) is stamped by the database: a host 10
    minutes fast writes none in the future (the admin and the dashboard order by it)."""
    ContactFactory.create_batch(3)
    report = run_skewed_worker(hubspot_sandbox, "+10m")
    assert_skewed(report, SKEW)
    assert report["batch"]["synced"] == 3
    now = db_now()
    stamps = [*SyncBatch.objects.values_list("created_at", flat=True)]
    stamps += SyncAttempt.objects.values_list("created_at", flat=True)
    assert len(stamps) == 4
    assert all(abs((stamp - now).total_seconds()) < 60 for stamp in stamps), (now, stamps)


# --- In-process, on any backend (SQLite too): Python's clock patched, the database's not.


@pytest.fixture
def skew_python_clock(monkeypatch):
    def skew(by: dt.timedelta) -> None:
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + by)

    return skew


def _due_in(rows: list[Contact], seconds: int) -> None:
    Contact.objects.filter(pk__in=[r.pk for r in rows]).update(
        next_attempt_at=db_now() + dt.timedelta(seconds=seconds)
    )


@pytest.mark.django_db
def test_claim_and_release_ignore_a_fast_python_clock(crmsync_sandbox, skew_python_clock):
    live = ContactFactory.create_batch(3)
    later = ContactFactory.create_batch(2)
    _due_in(later, 300)
    Contact.objects.filter(pk__in=[r.pk for r in live]).update(
        sync_status=SyncStatus.IN_FLIGHT,
        claim_token=uuid.uuid4(),
        lease_expires_at=db_now() + dt.timedelta(seconds=300),
    )
    skew_python_clock(SKEW)
    assert services.release_expired_leases() == 0
    assert services.sync_batch() is None  # `later` is due in 5 minutes, by the database
    assert Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT).count() == 3
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 2


@pytest.mark.django_db
@pytest.mark.hubspot_sandbox(fault_5xx_rate=1.0, fault_endpoints=("create",))
def test_backoff_is_applied_by_the_database(crmsync_sandbox, settings, skew_python_clock):
    settings.CRMSYNC = {**settings.CRMSYNC, "RETRY_BASE_SECONDS": 60.0, "RETRY_MAX_SECONDS": 60.0}
    rows = ContactFactory.create_batch(4)
    _due_in(rows, -1200)
    skew_python_clock(dt.timedelta(minutes=-10))
    before = db_now()
    summary = services.sync_batch()
    after = db_now() + dt.timedelta(seconds=1)  # SQLite's CURRENT_TIMESTAMP has whole seconds
    assert summary is not None and summary.retrying == 4
    for row in Contact.objects.filter(pk__in=[r.pk for r in rows]):
        assert before + dt.timedelta(seconds=30) <= row.next_attempt_at
        assert row.next_attempt_at <= after + dt.timedelta(seconds=60)


@pytest.mark.django_db
def test_history_is_stamped_by_the_database_not_a_fast_python_clock(
    crmsync_sandbox, skew_python_clock
):
    ContactFactory.create_batch(2)
    skew_python_clock(SKEW)
    before = db_now() - dt.timedelta(seconds=1)  # SQLite's CURRENT_TIMESTAMP: whole seconds
    services.sync_batch()
    after = db_now() + dt.timedelta(seconds=1)
    stamps = [*SyncBatch.objects.values_list("created_at", flat=True)]
    stamps += SyncAttempt.objects.values_list("created_at", flat=True)
    assert len(stamps) == 3
    assert all(before <= stamp <= after for stamp in stamps), (before, stamps, after)


@pytest.mark.django_db
def test_operator_notes_are_stamped_by_the_database_not_the_web_hosts_clock(
    skew_python_clock, monkeypatch
):
    from crmsync.operations.rows import apply_operation
    from crmsync.operations.settle import settle_with_id

    queued, held = ContactFactory.create_batch(2)
    Contact.objects.filter(pk=queued.pk).update(sync_status=SyncStatus.FAILED)
    Contact.objects.filter(pk=held.pk).update(sync_status=SyncStatus.HELD)
    skew_python_clock(SKEW)
    # The field's default holds the real timezone.now: skew it too.
    field = SyncAttempt._meta.get_field("created_at")
    monkeypatch.setattr(field, "default", timezone.now)
    before = db_now() - dt.timedelta(seconds=1)  # SQLite's CURRENT_TIMESTAMP: whole seconds
    assert apply_operation("queue_for_sync", Contact.objects.filter(pk=queued.pk), "alice") == 1
    assert settle_with_id(held.pk, "512", "alice")[0]
    after = db_now() + dt.timedelta(seconds=1)
    stamps = list(
        SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.OPERATOR).values_list(
            "created_at", flat=True
        )
    )
    assert len(stamps) == 2
    assert all(before <= stamp <= after for stamp in stamps), (before, stamps, after)
