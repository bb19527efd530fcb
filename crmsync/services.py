"""The service layer: every way of syncing (Celery task, beat, command, admin) calls these.

The sync itself lives in ``crmsync.sync``, a module per stage; this module is its public
face, plus the operator's actions on rows. The database is the truth; Celery messages are
only nudges to run ``sync_pending``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from . import errorgroups
from .exceptions import HubSpotError, PipelineHaltError
from .models import Contact, PipelineState, SyncStatus
from .operations import (
    OPERATIONS,
    LookupResult,
    Operation,
    apply_operation,
    look_up_in_hubspot,
    record_bulk_job,
    run_bulk_job,
    sent_properties,
    settle_with_id,
)
from .ratelimit import RateLimiterError
from .retention import (
    ForgetResult,
    PruneResult,
    forget_contact_history,
    forget_email_history,
    forget_on_delete,
    prune_history,
)
from .sync.batch import RunSummary
from .sync.due import Due, claim_nudge, next_due
from .sync.pipeline import (
    PipelinePausedError,
    ensure_running,
    pause_pipeline,
    pipeline_state,
    resume_pipeline,
)
from .sync.run import (
    Progress,
    check_configuration,
    count_waiting,
    drain,
    probe_connection,
    release_expired_leases,
    sync_batch,
    sync_pending,
)

#: How long the dashboard's Resume waits for HubSpot to accept the token, inside a request.
AUTH_PROBE_SECONDS = 5.0

__all__ = [
    "OPERATIONS",
    "Due",
    "ForgetResult",
    "LookupResult",
    "Operation",
    "PipelinePausedError",
    "Progress",
    "PruneResult",
    "ResumeVerdict",
    "RunSummary",
    "apply_operation",
    "check_configuration",
    "claim_nudge",
    "count_waiting",
    "drain",
    "ensure_running",
    "errors_like",
    "forget_contact_history",
    "forget_email_history",
    "forget_on_delete",
    "look_up_in_hubspot",
    "next_due",
    "nudge_due",
    "pause_pipeline",
    "pipeline_state",
    "probe_connection",
    "prune_history",
    "queue_again",
    "record_bulk_job",
    "release_expired_leases",
    "release_held",
    "resume_checked",
    "resume_pipeline",
    "run_bulk_job",
    "sent_properties",
    "settle_with_id",
    "sync_batch",
    "sync_pending",
]


def nudge_due(horizon: float) -> Due | None:
    """The earliest pending row due within ``horizon`` seconds, when this worker is the one
    to nudge for it (``sync.due.claim_nudge``); None otherwise."""
    due = next_due(horizon)
    if due is None or not claim_nudge(check_configuration(), due):
        return None
    return due


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


def errors_like(category: str, shape: str | None = None) -> QuerySet[Contact]:
    """The failed and held contacts with this error (the dashboard's top errors): this
    category, and messages of this shape (``errorgroups.pattern``; None: any message)."""
    rows = Contact.objects.filter(
        sync_status__in=[SyncStatus.FAILED, SyncStatus.HELD], sync_error_category=category
    )
    return rows if shape is None else rows.filter(sync_error__regex=errorgroups.regex(shape))


def queue_again(category: str, shape: str | None = None, username: str = "") -> int:
    """Queue the contacts with this error again, with the operator's note on each, in chunks.
    (Held rows queued again are held again unless they can now be looked up: never created
    blindly.)"""
    return apply_operation("queue_for_sync", errors_like(category, shape), username)


@dataclass(frozen=True)
class ResumeVerdict:
    """What a checked resume did: whether sending resumed, and what to tell the operator."""

    resumed: bool
    level: str  # "success", "warning" or "error"
    message: str


def resume_checked(now: dt.datetime | None = None) -> ResumeVerdict:
    """Resume only when the pause's cause is gone: a daily limit's reset has come; an
    authentication pause's token is accepted again (one cheap read, a short timeout); an
    operator's pause always. A refusal says why and leaves the pipeline paused."""
    state = pipeline_state()
    if not state.paused:
        return ResumeVerdict(False, "warning", "The pipeline was not paused.")
    note = ""
    if state.reason == PipelineState.Reason.DAILY_LIMIT and state.paused_until is not None:
        if state.paused_until > (now or timezone.now()):
            return ResumeVerdict(
                False,
                "error",
                "Not resumed: HubSpot's daily limit resets at "
                f"{state.paused_until:%Y-%m-%d %H:%M %Z}; sending resumes by itself then "
                "(sent earlier, every request would be refused).",
            )
        note = " HubSpot's daily limit has reset."
    level = "success"
    if state.reason == PipelineState.Reason.AUTH:
        try:
            probe_connection(timeout=AUTH_PROBE_SECONDS, token=True)
        except PipelineHaltError as exc:
            return ResumeVerdict(
                False, "error", f"Not resumed: HubSpot still refuses the token ({exc})."
            )
        except (HubSpotError, RateLimiterError, ImproperlyConfigured) as exc:
            level = "warning"
            note = f" The token could not be checked ({type(exc).__name__}: {exc})."
        else:
            note = " HubSpot accepts the token again."
    if state.reason == PipelineState.Reason.MANUAL:
        note = " It was an operator's pause: nothing to check."
    resumed = resume_pipeline()
    return ResumeVerdict(resumed, level, f"Sending resumed.{note}")
