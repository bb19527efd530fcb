"""Celery tasks: thin shells over crmsync.services. Their arguments never hold a token."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app, shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="crmsync.sync_pending_contacts", ignore_result=True, acks_late=True)
def sync_pending(max_batches: int | None = None) -> dict[str, Any]:
    """Drain due pending contacts. Safe to run twice at once, or redelivered: rows are
    claimed in the database, so no row is ever sent by two runs."""
    return services.sync_pending(max_batches=max_batches).as_dict()


@shared_task(name="crmsync.release_expired_leases", ignore_result=True)
def release_expired_leases() -> int:
    return services.release_expired_leases()


def enqueue_sync() -> bool:
    """Nudge a worker to drain; returns whether a task was enqueued. With no broker
    configured (tasks run eagerly) the nudge is skipped: a save or an admin request must
    never make an HTTP call itself."""
    if current_app.conf.task_always_eager:
        logger.debug("crmsync: no Celery broker; run manage.py crmsync_sync to send")
        return False
    try:
        sync_pending.delay()
    except Exception:  # the broker is down: the beat schedule will drain the row later
        logger.warning("crmsync: could not enqueue a sync task", exc_info=True)
        return False
    return True
