"""When the next pending row falls due, by the database's clock, and who nudges for it.

A drain used to stop as soon as nothing was due at that instant, so a row to retry in half a
second waited for the next beat tick or the next ``crmsync_sync``: the tail of every run
under faults. A worker now asks :func:`next_due` (one statement on the partial index of
pending rows: ``min(next_attempt_at) - now()``, both the database's, never a worker's clock)
and sleeps for that interval when it is short (``DRAIN_HORIZON_SECONDS``), or, as a Celery
task, schedules one nudge for that moment. :func:`claim_nudge` makes "one" true across
workers: the first to claim the moment in Redis publishes, the others do not.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.db import connection

from ..conf import CrmSyncSettings
from ..dbclock import later_sql, now_sql
from ..models import Contact, SyncStatus
from ..runtime import redis_client

logger = logging.getLogger(__name__)

#: Moments closer than this share one nudge (a drain takes every row due by then).
NUDGE_BUCKET_SECONDS = 0.25
#: A claimed moment's Redis key outlives the moment by this much, then expires.
NUDGE_KEY_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class Due:
    """The earliest pending row's due time: ``wait`` seconds from the database's now (0 when
    due already) and ``at``, the same moment as epoch seconds of the database's clock."""

    wait: float
    at: float


def next_due(horizon: float | None = None) -> Due | None:
    """The earliest pending row's due time, or None when no row is pending (or, with
    ``horizon``, none falls due within that many seconds of the database's now)."""
    table = connection.ops.quote_name(Contact._meta.db_table)
    vendor = connection.vendor
    if vendor == "postgresql":
        first = "MIN(next_attempt_at)"
        columns = (
            f"EXTRACT(EPOCH FROM {first} - {now_sql(vendor)})::float8, "
            f"EXTRACT(EPOCH FROM {first})::float8"
        )
    else:  # SQLite: UTC text; julianday counts days, 2440587.5 is 1970-01-01
        first = "julianday(MIN(next_attempt_at))"
        columns = f"({first} - julianday('now')) * 86400.0, ({first} - 2440587.5) * 86400.0"
    sql = f"SELECT {columns} FROM {table} WHERE sync_status = %s"  # noqa: S608 - no input
    params: list[str | float] = [SyncStatus.PENDING.value]
    if horizon is not None:
        sql += f" AND next_attempt_at <= {later_sql(vendor, '%s')}"
        params.append(float(horizon))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        wait, at = cursor.fetchone()
    if wait is None:
        return None
    return Due(wait=max(float(wait), 0.0), at=float(at))


_local_lock = threading.Lock()
_local_claimed: set[int] = set()


def claim_nudge(conf: CrmSyncSettings, due: Due) -> bool:
    """Whether this worker is the one to schedule the nudge for ``due``: the first claim of
    its moment (to NUDGE_BUCKET_SECONDS) in Redis wins, so many workers finishing at once put
    one message on the broker, not one each. Without Redis (or with Redis down) the claim is
    this process's alone: a few duplicate nudges cost a claim that finds nothing."""
    bucket = int(due.at / NUDGE_BUCKET_SECONDS)
    ttl_ms = int((due.wait + NUDGE_KEY_GRACE_SECONDS) * 1000)
    if conf.REDIS_URL:
        key = f"{conf.REDIS_KEY_PREFIX}:nudge:{bucket}"
        try:
            return bool(redis_client(conf.REDIS_URL).set(key, "1", nx=True, px=ttl_ms))
        except Exception as exc:  # the limiter reports Redis trouble; a nudge is optional
            logger.debug("crmsync: nudge claim in Redis failed (%s); claiming locally", exc)
    with _local_lock:
        if bucket in _local_claimed:
            return False
        if len(_local_claimed) > 1000:
            _local_claimed.clear()
        _local_claimed.add(bucket)
        return True
