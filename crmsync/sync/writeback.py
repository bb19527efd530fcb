"""Stage 5, the write-back: every decision of a batch and its history in one transaction,
fenced by the claim token (``db.write_back``), so a worker that lost its lease changes
nothing. Then the batch's counts, and crmsync's signals for host projects.

The answers HubSpot gave exist only in this process until the write-back commits, so a
write-back that fails on a lost database connection (a failover, a pooler restart, an idle
timeout, ``pg_terminate_backend``) is tried again on a fresh connection while the lease
holds. Past it, the rows are left to ``release_expired_leases`` and the lookup by email.
"""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models.functions import Now

from .. import db, signals
from ..models import Contact, SyncBatch, SyncStatus
from .batch import Batch

logger = logging.getLogger(__name__)


def write_back(batch: Batch) -> None:
    batch.release_untouched()
    writes = [d.write for d in batch.decisions.values()]
    written = _write_surviving_lost_connections(batch, writes)
    if written < len(writes):
        lost = len(writes) - written
        batch.summary.lost_lease += lost
        logger.warning(
            "crmsync: %d rows were reclaimed by another worker; their results were not written",
            lost,
        )
    _count(batch)


#: First pause before writing again on a fresh connection; doubled each time, at most the cap.
RETRY_FIRST_PAUSE_SECONDS = 0.05
RETRY_MAX_PAUSE_SECONDS = 2.0


def _write_surviving_lost_connections(batch: Batch, writes: list[db.WriteBack]) -> int:
    """``_write_once``, again on a fresh connection after a lost one, while the lease holds.

    Inside a caller's transaction nothing is retried: a fresh connection cannot see (or
    finish) what that transaction did. A lost answer to COMMIT is ambiguous: if no row of
    the batch still holds its token, the first write committed and is not made twice.
    """
    pause = RETRY_FIRST_PAUSE_SECONDS
    stage = ["body"]
    while True:
        try:
            if stage[0] == "commit" and _committed(batch):
                return len(writes)
            stage[0] = "body"
            return _write_once(batch, writes, stage)
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + pause >= batch.lease_deadline:
                raise
            first_line = (str(exc).strip().splitlines() or [""])[0]
            logger.warning(
                "crmsync: the write-back of %d rows failed on the database connection "
                "(%s: %s); writing it again on a fresh connection",
                len(writes),
                type(exc).__name__,
                first_line,
            )
        connection.close()  # a broken connection is dropped; the next query opens a new one
        time.sleep(pause)
        pause = min(pause * 2, RETRY_MAX_PAUSE_SECONDS)


def _write_once(batch: Batch, writes: list[db.WriteBack], stage: list[str]) -> int:
    for record in batch.records:  # a rolled-back try left ids on them that hold nothing
        record.batch.pk = None
        record.batch._state.adding = True
        record.batch.created_at = Now()  # history: the database's clock, not this worker's
    with transaction.atomic():
        db.relax_commit_durability()
        written = db.write_back(batch.token, writes)
        saved = SyncBatch.objects.bulk_create([r.batch for r in batch.records])
        attempts = list(batch.loose_attempts)
        for record, row in zip(batch.records, saved, strict=True):
            for attempt in record.attempts:
                attempt.batch_id = row.pk
            attempts.extend(record.attempts)
        db.insert_attempts(attempts)
        stage[0] = "commit"  # an error from here on is the COMMIT's
    return written


def _committed(batch: Batch) -> bool:
    """After a COMMIT whose answer was lost: True when no row of the batch still holds its
    claim token (the write-back cleared them all), so the first write went through."""
    held = Contact.objects.filter(id__in=list(batch.rows), claim_token=batch.token)
    return not held.exists()


def _count(batch: Batch) -> None:
    by_status: dict[str, list[int]] = {}
    for decision in batch.decisions.values():
        by_status.setdefault(decision.write.status, []).append(decision.write.id)
    synced = by_status.get(SyncStatus.SYNCED, [])
    failed = by_status.get(SyncStatus.FAILED, [])
    summary = batch.summary
    summary.synced += len(synced)
    summary.failed += len(failed)
    summary.held += len(by_status.get(SyncStatus.HELD, []))
    # Rows untouched by a pause are pending too, but they are not retries.
    summary.retrying += sum(1 for d in batch.decisions.values() if d.retried)
    if synced:
        signals.contact_synced.send(sender=Contact, contact_ids=synced)
    if failed:
        signals.contact_sync_failed.send(sender=Contact, contact_ids=failed)
