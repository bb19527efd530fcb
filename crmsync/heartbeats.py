"""Worker heartbeats: each Celery worker (and beat, through its ticks) says it is alive.

A row per process (``hostname:pid``), its ``seen_at`` written with the database's clock, so
hosts whose clocks differ still agree on who is alive. ``crmsync.workers`` writes them from
Celery's own signals; ``crmsync.health`` reads them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from django.db import IntegrityError, transaction
from django.db.models.functions import Now

from .conf import get_settings
from .models import WorkerHeartbeat
from .runtime import worker_name

logger = logging.getLogger(__name__)

#: The message header beat's ticks of crmsync's tasks carry: the beat process's name.
BEAT_HEADER = "crmsync_beat"
#: Rows of processes unseen this long are deleted: a dead worker is shown for a day.
FORGET_AFTER = dt.timedelta(days=1)
#: A process is alive when seen within this many heartbeat intervals.
ALIVE_INTERVALS = 3
DEFAULT_SECONDS = 30.0


def interval_seconds() -> float:
    """``CRMSYNC["HEARTBEAT_SECONDS"]``; the default for a value the checks reject
    (crmsync.E031): a heartbeat must never stop because of a setting."""
    value = get_settings().HEARTBEAT_SECONDS
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e6:
        return float(value)
    return DEFAULT_SECONDS


def alive_within() -> dt.timedelta:
    return dt.timedelta(seconds=ALIVE_INTERVALS * interval_seconds())


def record(kind: str = WorkerHeartbeat.Kind.WORKER, name: str | None = None) -> None:
    """Say that ``name`` (default: this process) is alive now, by the database's clock."""
    name = name or worker_name()
    host, _, pid_text = name.rpartition(":")
    updated = WorkerHeartbeat.objects.filter(name=name).update(seen_at=Now(), kind=kind)
    if updated:
        return
    try:
        with transaction.atomic():
            WorkerHeartbeat.objects.create(
                name=name,
                hostname=host or name,
                pid=int(pid_text) if pid_text.isdigit() else 0,
                kind=kind,
            )
    except IntegrityError:  # another thread of the same process made it meanwhile
        WorkerHeartbeat.objects.filter(name=name).update(seen_at=Now(), kind=kind)


def parent_name() -> str:
    """The name of this process's parent (a prefork pool child's worker)."""
    return f"{socket.gethostname()}:{os.getppid()}"


def forget(name: str | None = None) -> int:
    """Delete this process's row (a worker shutting down cleanly)."""
    deleted, _ = WorkerHeartbeat.objects.filter(name=name or worker_name()).delete()
    return deleted


def forget_dead() -> int:
    """Delete the rows of processes unseen for a day."""
    deleted, _ = WorkerHeartbeat.objects.filter(seen_at__lt=Now() - FORGET_AFTER).delete()
    return deleted
