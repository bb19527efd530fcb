"""SIGTERM mid-request to real processes: a ``crmsync_sync`` and a Celery worker (solo and
prefork pools) on Redis, against the sandbox over HTTP, its answers delayed (``latency_ms``:
the records are written, the answer comes late), so the signal lands while a request is in
flight. The first signal: the answer is written back, the rows not sent are released, the
process ends. A second one: it ends at once, the rows stay in flight until their lease
expires, and a redelivered task sends nothing twice."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from kombu import Connection

from crmsync import services
from crmsync.models import Contact, SyncStatus
from crmsync.testing import sandbox_settings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 3000
ROWS, BATCH = 30, 10
#: a Redis database of these tests' own: a worker with a short visibility timeout restores
#: every unacked message older than it in its database, other tests' included
BROKER_DB = 13
#: where a worker's own nudges go (Celery's default queue), in that database
DEFAULT_QUEUE = "celery"


def database_url() -> str:
    s = connection.settings_dict
    port = s.get("PORT") or 5432
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{port}/{s['NAME']}"


def broker_url() -> str:
    return os.environ["REDIS_URL"].rsplit("/", 1)[0] + f"/{BROKER_DB}"


def child_env(sandbox, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "HUBSPOT_ACCESS_TOKEN": sandbox.token,
        "HUBSPOT_API_BASE_URL": sandbox.url,
        "CRMSYNC_REDIS_KEY_PREFIX": f"crmsync-test-{prefix}",
        "CRMSYNC_RATE_LIMIT_MAX": "1000",
        "CRMSYNC_BATCH_SIZE": str(BATCH),
        "CRMSYNC_CONCURRENCY": "1",
        "CRMSYNC_HTTP_TIMEOUT_SECONDS": "8",
        "CRMSYNC_LEASE_SECONDS": "20",
        **extra,
    }


def make_rows() -> list[Contact]:
    # bulk_create: no save signal, so no nudge; the tests say when a drain starts
    return Contact.objects.bulk_create(
        Contact(email=f"stop{n}@example.com", firstname=f"F{n}") for n in range(ROWS)
    )


def wait_for(predicate, process, seconds=60.0, what=""):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the process ended (status {process.returncode}) before {what}:\n{output}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def counts() -> dict[str, int]:
    out: dict[str, int] = {}
    for status in Contact.objects.values_list("sync_status", flat=True):
        out[status] = out.get(status, 0) + 1
    return out


def assert_each_contact_once(sandbox) -> None:
    emails = [c["properties"].get("email") for c in sandbox.contacts()]
    assert sorted(emails) == sorted(f"stop{n}@example.com" for n in range(ROWS))


def first_request_in_flight(sandbox, process) -> None:
    """The first batch/create is done on HubSpot's side and its answer is on its way."""
    wait_for(lambda: len(sandbox.contacts()) == BATCH, process, what="the first create")


def finished(process, seconds: float) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"still running {seconds} s after the signal:\n{output}")
    return process.returncode, output


def drain_rest(sandbox) -> None:
    """What another worker does later: rows whose lease ran out are released (creates looked
    up by email first) and sent."""
    Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with override_settings(CRMSYNC=sandbox_settings(sandbox, BATCH_SIZE=BATCH)):
        services.sync_pending()


# -- crmsync_sync --------------------------------------------------------------------------


def start_command(sandbox) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "crmsync_sync"],
        cwd=ROOT,
        env=child_env(sandbox, uuid.uuid4().hex[:8], REDIS_URL=""),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_to_crmsync_sync_writes_back_the_request_in_flight(hubspot_sandbox):
    hubspot_sandbox.configure(latency_ms=LATENCY_MS)
    make_rows()
    process = start_command(hubspot_sandbox)
    first_request_in_flight(hubspot_sandbox, process)
    process.send_signal(signal.SIGTERM)
    code, output = finished(process, LATENCY_MS / 1000 + 10)
    assert code == 4, output  # EXIT_STOPPED
    assert "shutting down (SIGTERM received)" in output
    assert counts() == {SyncStatus.SYNCED: BATCH, SyncStatus.PENDING: ROWS - BATCH}
    assert hubspot_sandbox.stats()["records_created"] == BATCH  # nothing after the signal
    assert hubspot_sandbox.token not in output
    hubspot_sandbox.configure(latency_ms=0)
    drain_rest(hubspot_sandbox)
    assert counts() == {SyncStatus.SYNCED: ROWS}
    assert_each_contact_once(hubspot_sandbox)


def test_a_second_sigterm_stops_crmsync_sync_at_once_and_leaves_the_leases(hubspot_sandbox):
    hubspot_sandbox.configure(latency_ms=LATENCY_MS)
    make_rows()
    process = start_command(hubspot_sandbox)
    first_request_in_flight(hubspot_sandbox, process)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    code, output = finished(process, LATENCY_MS / 1000 + 10)
    assert time.monotonic() - signalled < LATENCY_MS / 1000  # before the answer came
    assert code == 1, output
    assert counts() == {SyncStatus.IN_FLIGHT: BATCH, SyncStatus.PENDING: ROWS - BATCH}
    hubspot_sandbox.configure(latency_ms=0)
    drain_rest(hubspot_sandbox)  # the 10 created are looked up and linked, not created again
    assert counts() == {SyncStatus.SYNCED: ROWS}
    assert hubspot_sandbox.stats()["records_created"] == ROWS
    assert_each_contact_once(hubspot_sandbox)


# -- a Celery worker -----------------------------------------------------------------------


def start_worker(
    sandbox, queue: str, pool: str, queues: str = "", **extra: str
) -> subprocess.Popen:
    env = child_env(sandbox, queue, REDIS_URL=broker_url(), **extra)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "project", "worker"),
            *(f"--pool={pool}", "--concurrency=1", "-Q", queues or queue),
            *("--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def enqueue_drain(queue: str) -> str:
    with Connection(broker_url()) as conn:
        task = current_app.send_task("crmsync.sync_pending_contacts", queue=queue, connection=conn)
    return str(task.id)


def redeliver_unacked() -> None:
    """What Redis's transport does once the visibility timeout is over (a worker scans for
    unacked messages every 10 s, restoring only on every 10th scan: too slow for a test):
    the messages never acked go back to their queue. Only these tests use this database."""
    with Connection(broker_url(), transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100, interval=1)


@pytest.fixture
def queue():
    name = f"crmsync-stop-{uuid.uuid4().hex[:8]}"
    with Connection(broker_url()) as conn:
        conn.default_channel.client.delete(DEFAULT_QUEUE)
    yield name
    with Connection(broker_url()) as conn:  # what the test left in the broker
        conn.default_channel.client.delete(name, DEFAULT_QUEUE)


@pytest.mark.celery_worker
@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_celery_warm_shutdown_writes_back_the_request_in_flight(hubspot_sandbox, queue, pool):
    hubspot_sandbox.configure(latency_ms=LATENCY_MS)
    make_rows()
    worker = start_worker(hubspot_sandbox, queue, pool)
    enqueue_drain(queue)
    first_request_in_flight(hubspot_sandbox, worker)
    worker.send_signal(signal.SIGTERM)  # to the main process only, as a deploy does
    code, output = finished(worker, LATENCY_MS / 1000 + 20)
    assert code == 0, output
    assert counts() == {SyncStatus.SYNCED: BATCH, SyncStatus.PENDING: ROWS - BATCH}, output
    assert hubspot_sandbox.stats()["records_created"] == BATCH
    assert hubspot_sandbox.token not in output
    # The stopped drain nudged another worker (on Celery's default queue) for the rows it
    # put back; this one takes the nudge.
    worker = start_worker(hubspot_sandbox, queue, pool, queues=DEFAULT_QUEUE)
    hubspot_sandbox.configure(latency_ms=0)
    try:
        wait_for(lambda: counts() == {SyncStatus.SYNCED: ROWS}, worker, what="the nudge's drain")
    finally:
        worker.terminate()
        finished(worker, 30)
    assert_each_contact_once(hubspot_sandbox)


@pytest.mark.celery_worker
@pytest.mark.parametrize(
    ("pool", "second"),
    [("solo", signal.SIGTERM), ("prefork", signal.SIGTERM), ("prefork", signal.SIGQUIT)],
    ids=["solo-SIGTERM", "prefork-SIGTERM", "prefork-SIGQUIT"],
)
def test_a_second_signal_stops_the_worker_at_once_and_the_redelivered_task_sends_nothing_twice(
    hubspot_sandbox, queue, pool, second
):
    """Solo: the drain runs in the process that gets the signals. Prefork: in a pool
    process; the main process gets both signals (as from a deploy) and must end its drain at
    once too, not wait for the answer (nor kill the pool child before the first stop)."""
    hubspot_sandbox.configure(latency_ms=LATENCY_MS)
    make_rows()
    worker = start_worker(hubspot_sandbox, queue, pool)
    task_id = enqueue_drain(queue)
    first_request_in_flight(hubspot_sandbox, worker)
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(second)
    code, output = finished(worker, LATENCY_MS / 1000 + 20)
    took = time.monotonic() - signalled
    assert took < LATENCY_MS / 1000, f"{took:.1f} s\n{output}"  # before the answer came
    assert code == (1 if pool == "solo" else 0), f"status {code}\n{output}"
    assert counts() == {SyncStatus.IN_FLIGHT: BATCH, SyncStatus.PENDING: ROWS - BATCH}
    # The task was never acked: Redis gives it to the next worker after the visibility
    # timeout. The redelivered drain sends the 20 pending rows and leaves the 10 in flight
    # alone (their lease still runs): sent once, not twice.
    hubspot_sandbox.configure(latency_ms=0)
    redeliver_unacked()
    worker = start_worker(hubspot_sandbox, queue, "solo")
    try:
        wait_for(
            lambda: counts().get(SyncStatus.SYNCED) == ROWS - BATCH,
            worker,
            what="the redelivered task",
        )
        assert counts()[SyncStatus.IN_FLIGHT] == BATCH
        assert hubspot_sandbox.stats()["records_created"] == ROWS
    finally:
        worker.terminate()
        _, output = finished(worker, 30)
    assert f"sync_pending_contacts[{task_id}] succeeded" in output  # the same message, again
    drain_rest(hubspot_sandbox)
    assert counts() == {SyncStatus.SYNCED: ROWS}
    assert hubspot_sandbox.stats()["records_created"] == ROWS
    assert_each_contact_once(hubspot_sandbox)
