"""The save hook: a saved contact that HubSpot must hear about nudges a worker on commit.

Connected in ``CrmSyncConfig.ready()``. Never an HTTP call here: the nudge only enqueues a
Celery task, and only once the transaction commits, so a worker never looks for a row that
is not visible yet. ``QuerySet.update()`` and ``bulk_create()`` send no model signals; the
beat task picks such rows up (they are pending), and the sync's own write-backs use
``update()`` so they never come back through this hook.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from . import tasks


def contact_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save: a new contact, or one whose synced fields changed (``Contact.save`` says
    which), nudges a worker once the transaction commits."""
    if kwargs.get("raw"):
        return
    if created or getattr(instance, "_crmsync_changed", False):
        instance._crmsync_changed = False
        _enqueue_once_on_commit(kwargs.get("using"))


def _enqueue_once_on_commit(using: str | None) -> None:
    conn = transaction.get_connection(using)
    # Many saves in one transaction need one nudge, not one each: a worker drains every due
    # row, not the one that was saved.
    if conn.in_atomic_block and any(
        entry[1] is _nudge for entry in getattr(conn, "run_on_commit", [])
    ):
        return
    transaction.on_commit(_nudge, using=using)


def _nudge() -> None:
    tasks.enqueue_sync()
