"""The save hook: a saved contact that HubSpot must hear about nudges a worker on commit.

Connected in ``CrmSyncConfig.ready()``. Never an HTTP call here: the nudge only enqueues a
Celery task, and only once the transaction commits, so a worker never looks for a row that
is not visible yet. ``QuerySet.update()`` and ``bulk_create()`` send no model signals; the
beat task picks such rows up (they are pending), and the sync's own write-backs use
``update()`` so they never come back through this hook.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from . import mirror, registry, services, tasks

logger = logging.getLogger(__name__)


def contact_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save: a new contact, or one whose synced fields changed (``Contact.save`` says
    which), nudges a worker once the transaction commits."""
    if kwargs.get("raw"):
        return
    if created or getattr(instance, "_crmsync_changed", False):
        instance._crmsync_changed = False
        _enqueue_once_on_commit(kwargs.get("using"))


def contact_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete of a Contact (one ``delete()`` or each row of a ``QuerySet.delete()``,
    inside the delete's transaction, before its attempts lose their link to it): with
    ``HISTORY_FORGET_ON_DELETE``, its personal data leaves history with it."""
    if services.forget_on_delete():
        services.forget_contact_history([instance.pk], using=kwargs.get("using"))


def connect(registration: registry.Registration) -> None:
    """Connect the save and delete handlers for a registered model (``registry.on_register``
    calls it for each registration, made before or after ``ready()``)."""
    model, uid = registration.model, registration.label
    post_save.connect(registered_saved, sender=model, dispatch_uid=f"crmsync_saved:{uid}")
    post_delete.connect(registered_deleted, sender=model, dispatch_uid=f"crmsync_deleted:{uid}")


def registered_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_save of a registered model: its mirror is upserted (one statement) and, when it
    changed, a worker is nudged on commit."""
    registration = registry.registration_for(sender)
    if registration is None or kwargs.get("raw") or not _queueing():
        return
    using = kwargs.get("using")
    if mirror.save_mirror(registration, instance, using):
        _enqueue_once_on_commit(using)


def registered_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of a registered model: its mirror goes (never sent) or is marked for
    archive (``on_delete="archive"``)."""
    registration = registry.registration_for(sender)
    if registration is None or not _queueing():
        return
    using = kwargs.get("using")
    if mirror.delete_mirror(registration, instance, using):
        _enqueue_once_on_commit(using)


_said_disabled = False


def _queueing() -> bool:
    global _said_disabled
    if registry.queueing_active():
        return True
    if not registry.queueing_paused() and not _said_disabled:
        _said_disabled = True  # once per process: a log line per save would drown the log
        logger.warning(
            "crmsync: CRMSYNC['ENABLED'] is False: saves of registered models "
            "queue nothing for HubSpot"
        )
    return False


def nudge_on_commit(using: str | None = None) -> None:
    """One nudge for this transaction, after it commits (``crmsync.queue`` uses it)."""
    _enqueue_once_on_commit(using)


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
    tasks.nudge_soon()  # never waits for the broker: the save's request goes on
