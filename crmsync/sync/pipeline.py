"""Whether sending is allowed at all: one row (``PipelineState``) every worker reads.

Sending pauses for a rejected token or missing scopes (until an operator resumes), for
HubSpot's daily limit (until midnight in the account's time zone, then by itself), or by an
operator. Rows stay pending meanwhile; nothing counts as an attempt.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models.functions import Now

from .. import signals
from ..conf import CrmSyncSettings
from ..models import PipelineState
from ..runtime import get_rate_limiter

logger = logging.getLogger(__name__)

_RUNNING = {"paused": False, "reason": "", "message": "", "paused_at": None, "paused_until": None}


class PipelinePausedError(Exception):
    """Sending is paused (auth failure, daily limit, operator). Rows stay pending."""

    def __init__(self, state: PipelineState) -> None:
        super().__init__(state.message or state.get_reason_display())
        self.state = state


def pipeline_state() -> PipelineState:
    state, _ = PipelineState.objects.get_or_create(pk=1)
    return state


def ensure_running() -> None:
    """Raise PipelinePausedError while sending is paused; lift an expired daily pause (ended
    by the database's clock, not this worker's)."""
    state = PipelineState.objects.filter(pk=1).first()
    if state is None or not state.paused:
        return
    if state.paused_until is not None:
        ended = PipelineState.objects.filter(
            pk=1, paused_until=state.paused_until, paused_until__lte=Now()
        )
        if ended.update(**_RUNNING):
            logger.info("crmsync: the daily-limit pause has ended; sending resumes")
            return
    raise PipelinePausedError(state)


def pause_pipeline(reason: str, message: str, until: dt.datetime | None = None) -> None:
    """Stop all sending on every worker until resumed (or ``until``). Rows stay pending."""
    PipelineState.objects.update_or_create(
        pk=1,
        defaults={
            "paused": True,
            "reason": reason,
            "message": message,
            "paused_at": Now(),
            "paused_until": until,
        },
    )
    logger.error("crmsync: sending paused (%s): %s", reason, message)
    signals.pipeline_paused.send(sender=PipelineState, reason=reason, message=message)


def resume_pipeline() -> bool:
    """Resume sending; returns whether it was paused."""
    changed = PipelineState.objects.filter(pk=1, paused=True).update(**_RUNNING)
    if changed:
        logger.info("crmsync: sending resumed")
    return bool(changed)


def exhaust_daily(conf: CrmSyncSettings) -> dt.datetime:
    """HubSpot's daily limit is spent: stop every worker's limiter until the account's next
    midnight, and return that time."""
    return get_rate_limiter(conf).exhaust_daily()
