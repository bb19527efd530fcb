"""End to end through a real Celery worker process on Redis: save -> enqueue -> synced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection, transaction

from crmsync.models import Contact, SyncStatus

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,  # the worker must see the test's committed rows
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    s = connection.settings_dict
    port = s.get("PORT") or 5432
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{port}/{s['NAME']}"


@pytest.fixture
def worker(hubspot_sandbox):
    queue = f"crmsync-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "HUBSPOT_ACCESS_TOKEN": hubspot_sandbox.token,
        "HUBSPOT_API_BASE_URL": hubspot_sandbox.url,
        "CRMSYNC_REDIS_KEY_PREFIX": f"crmsync-test-{queue}",
        "CRMSYNC_RATE_LIMIT_MAX": "1000",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    old_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        current_app.conf.task_default_queue = old_queue
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert hubspot_sandbox.token not in output  # the token never reaches the logs


def test_a_save_is_synced_by_a_real_worker(worker, hubspot_sandbox):
    assert not current_app.conf.task_always_eager
    with transaction.atomic():
        contact = Contact(email="celery-e2e@example.com", firstname="Cel", lastname="Ery")
        contact.save()
        another = Contact(email="celery-e2e-2@example.com")
        another.save()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        contact.refresh_from_db()
        another.refresh_from_db()
        if contact.sync_status == another.sync_status == SyncStatus.SYNCED:
            break
        assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
        time.sleep(0.2)
    assert contact.sync_status == SyncStatus.SYNCED
    assert contact.hubspot_id == hubspot_sandbox.contact_by_email(contact.email)["id"]
    assert another.sync_status == SyncStatus.SYNCED
