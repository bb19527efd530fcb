"""An action over a large selection: recorded as a ``BulkJob``, done by a task in chunks.

The admin's filtered queryset is kept as its pickled ``Query`` (Django supports pickling a
query for the same Django version; the job is short-lived, so a Django upgrade in between
fails the job with a message rather than doing something else). The database, which only
crmsync writes this column of, is trusted as it is for every other row.
"""

from __future__ import annotations

import logging
import pickle

from django.db import models, transaction
from django.utils import timezone

from ..models import BulkJob, Contact
from .rows import OPERATIONS, apply_chunk, chunk_ids

logger = logging.getLogger(__name__)


def record_bulk_job(
    name: str, queryset: models.QuerySet[Contact], username: str, description: str = ""
) -> BulkJob:
    """Record operation ``name`` over ``queryset`` for a task to do (``run_bulk_job``)."""
    if name not in OPERATIONS:
        raise ValueError(f"crmsync: no such operation {name!r}")
    selection = pickle.dumps(queryset.order_by().query)
    return BulkJob.objects.create(
        action=name,
        selection=selection,
        description=description[:255],
        requested_by=username[:150],
    )


def run_bulk_job(job_id: int) -> BulkJob | None:
    """Do a recorded job, resuming after its last finished chunk: safe to run twice, or
    redelivered (each chunk locks the job row and reads its cursor in its own transaction,
    so two runs never do the same chunk). None when there is no such job."""
    job = BulkJob.objects.filter(pk=job_id).first()
    if job is None or job.status in (BulkJob.Status.DONE, BulkJob.Status.FAILED):
        return job
    BulkJob.objects.filter(pk=job_id, started_at__isnull=True).update(
        started_at=timezone.now(), status=BulkJob.Status.RUNNING
    )
    try:
        queryset = Contact.objects.all()
        queryset.query = pickle.loads(bytes(job.selection))  # noqa: S301 (written by crmsync)
    except Exception as exc:  # a query pickled by another Django version
        logger.warning("crmsync: bulk job %s has an unreadable selection: %s", job_id, exc)
        BulkJob.objects.filter(pk=job_id).update(
            status=BulkJob.Status.FAILED,
            error=f"The selection could not be read ({type(exc).__name__}): do it again.",
            finished_at=timezone.now(),
        )
        return BulkJob.objects.get(pk=job_id)
    while _next_chunk(job_id, queryset):
        pass
    return BulkJob.objects.get(pk=job_id)


def _next_chunk(job_id: int, queryset: models.QuerySet[Contact]) -> bool:
    """Do the job's next chunk and record it, in one transaction; False when finished."""
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().get(pk=job_id)
        if job.status != BulkJob.Status.RUNNING:
            return False
        ids = chunk_ids(queryset, job.last_pk)
        if not ids:
            job.status = BulkJob.Status.DONE
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "finished_at"])
            return False
        changed = apply_chunk(OPERATIONS[job.action], ids, job.requested_by, using=queryset.db)
        job.last_pk = ids[-1]
        job.rows_done += len(ids)
        job.rows_changed += changed
        job.save(update_fields=["last_pk", "rows_done", "rows_changed"])
        return True
