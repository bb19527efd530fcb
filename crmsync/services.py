"""The service layer: every way of syncing (Celery task, beat, command, admin) calls these.

The sync itself lives in ``crmsync.sync``, a module per stage; this module is its public
face, plus the operator's actions on rows. The database is the truth; Celery messages are
only nudges to run ``sync_pending``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models.functions import Now

from .models import Contact, SyncStatus
from .sync.batch import RunSummary
from .sync.pipeline import (
    PipelinePausedError,
    ensure_running,
    pause_pipeline,
    pipeline_state,
    resume_pipeline,
)
from .sync.run import (
    check_configuration,
    count_waiting,
    probe_connection,
    release_expired_leases,
    sync_batch,
    sync_pending,
)

__all__ = [
    "PipelinePausedError",
    "RunSummary",
    "check_configuration",
    "count_waiting",
    "ensure_running",
    "pause_pipeline",
    "pipeline_state",
    "probe_connection",
    "release_expired_leases",
    "release_held",
    "resume_pipeline",
    "sync_batch",
    "sync_pending",
]


def release_held(contact_ids: Iterable[int]) -> int:
    """An operator checked HubSpot: these held contacts are not there; create them again."""
    return Contact.objects.filter(pk__in=list(contact_ids), sync_status=SyncStatus.HELD).update(
        sync_status=SyncStatus.PENDING,
        needs_reconcile=False,
        reconcile_emails="",
        next_attempt_at=Now(),
        sync_error="",
        sync_error_category="",
    )
