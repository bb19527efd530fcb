"""Many workers at once, on PostgreSQL (SQLite has no row locks to test)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crmsync import db, services, tasks
from crmsync.models import Contact, SyncAttempt, SyncStatus
from crmsync.sync import writeback
from tests.factories import ContactFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(fn, *args):
    """Run ``fn`` in a thread with its own database connection; return its result."""
    out: dict[str, object] = {}

    def target():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # surfaced to the test below
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def test_two_claims_at_once_take_disjoint_rows_without_waiting():
    ContactFactory.create_batch(30)
    first_claimed = threading.Event()
    release = threading.Event()

    def hold_a_claim():
        with transaction.atomic():
            rows = db.claim(uuid.uuid4(), 20, 60)
            first_claimed.set()
            release.wait(10)  # keep the row locks while the other worker claims
        return [r.id for r in rows]

    thread, out = in_thread(hold_a_claim)
    assert first_claimed.wait(10)
    # The first transaction still holds its locks: SKIP LOCKED must neither block nor
    # return its rows.
    with transaction.atomic():
        second = [r.id for r in db.claim(uuid.uuid4(), 20, 60)]
    release.set()
    thread.join(10)
    first = out["value"]
    assert len(first) == 20 and len(second) == 10
    assert not set(first) & set(second)


def test_many_workers_sync_every_row_exactly_once(crmsync_settings, hubspot_sandbox, settings):
    settings.CRMSYNC = {**crmsync_settings, "BATCH_SIZE": 25, "CONCURRENCY": 3}
    hubspot_sandbox.configure(latency_ms=5)
    rows = ContactFactory.create_batch(600)
    # Three "hosts", each draining with three threads, plus a redelivered task.
    runs = [in_thread(services.sync_pending) for _ in range(3)]
    runs.append(in_thread(tasks.sync_pending.run))
    for thread, out in runs:
        thread.join(120)
        assert "error" not in out, out.get("error")
    assert Contact.objects.filter(sync_status=SyncStatus.SYNCED).count() == len(rows)
    remote = hubspot_sandbox.contacts()
    assert len(remote) == len(rows)  # nobody created a contact twice
    ids = dict(Contact.objects.values_list("email", "hubspot_id"))
    for record in remote:
        assert ids[record["properties"]["email"]] == record["id"]
    created = Counter(
        SyncAttempt.objects.filter(outcome="created").values_list("contact_id", flat=True)
    )
    assert len(created) == len(rows) and set(created.values()) == {1}


def test_lease_release_and_reconcile_with_a_live_worker(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """A worker that stalls past its lease loses the rows; its late write-back is fenced
    off and the reclaiming worker links the contacts instead of creating them again."""
    rows = ContactFactory.create_batch(8)
    stalled = threading.Event()
    go_on = threading.Event()
    real_commit = writeback.write_back

    def stall_then_commit(batch):
        stalled.set()
        go_on.wait(20)
        real_commit(batch)

    monkeypatch.setattr(writeback, "write_back", stall_then_commit)
    thread, out = in_thread(services.sync_batch)
    assert stalled.wait(20)
    monkeypatch.setattr(writeback, "write_back", real_commit)
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    summary = services.sync_pending()  # releases, reconciles by email, links
    assert summary.synced == 8
    go_on.set()
    thread.join(20)
    assert out["value"].lost_lease == 8
    assert len(hubspot_sandbox.contacts()) == 8
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]
