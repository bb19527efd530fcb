"""crmsync's own signals for host projects, and the save hook that queues contacts.

Custom signals (sent after the write-back commits, once per batch):

- ``contact_synced(sender=Contact, contact_ids=[...])``: rows now synced (created, updated or
  linked to an existing HubSpot contact).
- ``contact_sync_failed(sender=Contact, contact_ids=[...])``: rows failed for good.
- ``pipeline_paused(sender=PipelineState, reason=..., message=...)``: sending stopped
  (authentication, scopes, daily limit).

``QuerySet.update()`` and ``bulk_create()`` send no model signals, so rows written that way
are not nudged at once; the beat task picks them up within seconds (they are pending: a new
row is pending however it was created).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

contact_synced = Signal()
contact_sync_failed = Signal()
pipeline_paused = Signal()


def contact_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save: a new contact, or one whose synced fields changed, nudges a worker once
    the transaction commits. Never an HTTP call here; the sync's own writes use update()
    and so never come back through this hook."""
    if kwargs.get("raw"):
        return
    if created or getattr(instance, "_crmsync_changed", False):
        instance._crmsync_changed = False
        _enqueue_once_on_commit(kwargs.get("using"))


def _enqueue_once_on_commit(using: str | None) -> None:
    conn = transaction.get_connection(using)
    # Many saves in one transaction need one nudge, not one each.
    if conn.in_atomic_block and any(
        entry[1] is _nudge for entry in getattr(conn, "run_on_commit", [])
    ):
        return
    transaction.on_commit(_nudge, using=using)


def _nudge() -> None:
    from .tasks import enqueue_sync

    enqueue_sync()
