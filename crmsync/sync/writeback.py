"""Stage 5, the write-back: every decision of a batch and its history in one transaction,
fenced by the claim token (``db.write_back``), so a worker that lost its lease changes
nothing. Then the batch's counts, and crmsync's signals for host projects."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from .. import db, signals
from ..models import Contact, SyncBatch, SyncStatus
from .batch import Batch

logger = logging.getLogger(__name__)


def write_back(batch: Batch) -> None:
    batch.release_untouched()
    writes = [d.write for d in batch.decisions.values()]
    now = timezone.now()
    with transaction.atomic():
        db.relax_commit_durability()
        written = db.write_back(batch.token, writes)
        saved = SyncBatch.objects.bulk_create([r.batch for r in batch.records])
        attempts = list(batch.loose_attempts)
        for record, row in zip(batch.records, saved, strict=True):
            for attempt in record.attempts:
                attempt.batch_id = row.pk
            attempts.extend(record.attempts)
        db.insert_attempts(attempts, now)  # history: the worker's clock
    if written < len(writes):
        lost = len(writes) - written
        batch.summary.lost_lease += lost
        logger.warning(
            "crmsync: %d rows were reclaimed by another worker; their results were not written",
            lost,
        )
    _count(batch)


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
