"""Heartbeats written by a real Celery worker (prefork) on Redis, with no host code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from celery import current_app

from crmsync import tasks, workers
from crmsync.models import WorkerHeartbeat
from tests.test_celery_worker import ROOT, database_url

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def prefork_worker(hubspot_sandbox):
    queue = f"crmsync-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "HUBSPOT_ACCESS_TOKEN": hubspot_sandbox.token,
        "HUBSPOT_API_BASE_URL": hubspot_sandbox.url,
        "CRMSYNC_REDIS_KEY_PREFIX": f"crmsync-test-{queue}",
        "CRMSYNC_HEARTBEAT_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "worker", "--pool=prefork",
         "--concurrency=2", "-Q", queue, "--without-heartbeat", "--without-gossip",
         "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    old_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        current_app.conf.task_default_queue = old_queue
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


def wait_for(predicate, process, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.2)
    return False


def test_a_worker_beats_its_children_refresh_it_beat_ticks_count(prefork_worker):
    process = prefork_worker
    mine = WorkerHeartbeat.objects.filter(pid=process.pid, kind="worker")
    assert wait_for(mine.exists, process), "the worker wrote no heartbeat"
    first = mine.get().seen_at
    assert wait_for(lambda: mine.get().seen_at > first, process), "no second heartbeat"

    # A tick as beat publishes it: the worker that runs it writes beat's heartbeat.
    workers._state.beat_name = "beat-host:4242"
    try:
        tasks.sync_pending.apply_async()
    finally:
        workers._state.beat_name = ""
    beat = WorkerHeartbeat.objects.filter(name="beat-host:4242", kind="beat")
    assert wait_for(beat.exists, process), "beat's tick left no heartbeat"
    # the prefork child ran the task, yet it wrote its worker's row: one row per worker
    assert set(WorkerHeartbeat.objects.filter(kind="worker").values_list("pid", flat=True)) == {
        process.pid
    }

    process.send_signal(signal.SIGTERM)  # a warm shutdown deletes the row
    process.wait(timeout=30)
    assert not mine.exists()


def test_beat_marks_only_its_own_ticks_of_crmsync_tasks():
    assert workers.beat_tick_header("crmsync.sync_pending_contacts") == {}
    workers._state.beat_name = "h:1"
    try:
        assert workers.beat_tick_header("crmsync.sync_pending_contacts") == {"crmsync_beat": "h:1"}
        assert workers.beat_tick_header("otherapp.task") == {}
    finally:
        workers._state.beat_name = ""
