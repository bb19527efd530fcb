"""Is the sync working? One typed snapshot for the admin's dashboard and ``crmsync_status``.

Every age is measured with the database's clock (``Now()``), never the caller's: the web
server, the workers and the database may sit on hosts whose clocks differ. Each query is
served by an index, so the snapshot stays fast at millions of contacts and history rows
(``bench/admin_scale.py``): counts by status, the oldest due row (the claim's partial
index), history of the last 24 hours (``SyncBatch.created_at``), the failed and held rows'
errors (``crmsync_contact_error_idx``). ``SyncAttempt`` is never aggregated.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections import Counter as CounterType
from dataclasses import asdict, dataclass, field
from typing import Any

from celery import current_app
from django.db import connections
from django.db.models import Count, F, Func, Sum, Value
from django.db.models.functions import Left, Now, TruncMinute

from . import errorgroups, heartbeats
from .conf import get_settings, validated_settings
from .exceptions import ConfigurationError
from .models import Contact, PipelineState, SyncBatch, SyncStatus, WorkerHeartbeat

#: The chart's span, in minutes.
CHART_MINUTES = 24 * 60
TOP_ERRORS = 10
SUCCESS_STATUSES = (200, 201, 207)
SENDING_ENDPOINTS = (SyncBatch.Endpoint.CREATE, SyncBatch.Endpoint.UPDATE)
DEFAULT_MAX_BACKLOG_SECONDS = 900.0


@dataclass(frozen=True)
class BatchInfo:
    id: int
    created_at: dt.datetime
    endpoint: str
    http_status: int | None
    success_count: int
    error_count: int


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    hostname: str
    pid: int
    kind: str
    started_at: dt.datetime
    seen_at: dt.datetime
    alive: bool
    seen_seconds_ago: float


@dataclass(frozen=True)
class PipelineInfo:
    paused: bool
    reason: str
    reason_display: str
    message: str
    since: dt.datetime | None
    until: dt.datetime | None


@dataclass(frozen=True)
class Quota:
    """HubSpot's daily cap as its last answer of the day reported it."""

    limit: int
    remaining: int
    at: dt.datetime

    @property
    def used(self) -> int:
        return max(self.limit - self.remaining, 0)

    @property
    def fraction(self) -> float:
        return min(self.used / self.limit, 1.0) if self.limit else 0.0


@dataclass(frozen=True)
class ErrorGroup:
    """Failed and held contacts whose errors share a category and a shape."""

    category: str
    #: The messages' shape (``errorgroups.pattern``): ``"…" is an invalid email``.
    message: str
    count: int


@dataclass(frozen=True)
class Snapshot:
    now: dt.datetime
    counts: dict[str, int]
    oldest_due_seconds: float | None
    last_success: BatchInfo | None
    last_batch: BatchInfo | None
    workers: tuple[WorkerInfo, ...]
    broker_configured: bool
    pipeline: PipelineInfo
    #: Contacts HubSpot accepted per minute, oldest first; the last is the current minute.
    per_minute: tuple[int, ...]
    chart_start: dt.datetime
    rate_limited_24h: int
    quota: Quota | None
    top_errors: tuple[ErrorGroup, ...]
    max_backlog_seconds: float
    problems: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def live_workers(self) -> int:
        return sum(1 for w in self.workers if w.alive and w.kind == WorkerHeartbeat.Kind.WORKER)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (datetimes as ISO 8601), for ``crmsync_status --json``."""
        data = asdict(self)
        per_minute = data.pop("per_minute")
        data.update(healthy=self.healthy, total=self.total, live_workers=self.live_workers)
        data.update(synced_24h=sum(per_minute), synced_last_hour=sum(per_minute[-60:]))
        if self.quota is not None:
            data["quota"].update(used=self.quota.used)
        return _jsonable(data)


@dataclass(frozen=True)
class Checks:
    """What decides health: the few cheap reads every crmsync admin page's banner makes."""

    now: dt.datetime
    pipeline: PipelineInfo
    oldest_due_seconds: float | None
    workers: tuple[WorkerInfo, ...]
    broker_configured: bool
    max_backlog_seconds: float
    problems: tuple[str, ...]


def broker_configured() -> bool:
    """Whether Celery workers are expected: a broker, and tasks not run in-process."""
    conf = current_app.conf
    return not conf.task_always_eager and bool(conf.broker_write_url or conf.broker_url)


def checks() -> Checks:
    """Paused? A live worker (when a broker is configured)? The oldest due row's age?"""
    now, pipeline = _pipeline()
    oldest = _oldest_due_seconds(now)
    workers = _workers(now)
    broker = broker_configured()
    limit = max_backlog_seconds()
    problems: list[str] = []
    if pipeline.paused:
        problems.append(f"Sending is paused ({pipeline.reason_display}): {pipeline.message}")
    if broker and not any(w.alive and w.kind == WorkerHeartbeat.Kind.WORKER for w in workers):
        problems.append("No Celery worker is alive: nothing is being sent.")
    if oldest is not None and oldest > limit:
        problems.append(
            f"The oldest due contact has waited {duration(oldest)} (more than {duration(limit)})."
        )
    try:
        validated_settings()
    except ConfigurationError as exc:
        problems.append(f"The settings stop sending: {' '.join(str(exc).split())}")
    return Checks(now, pipeline, oldest, workers, broker, limit, tuple(problems))


def snapshot() -> Snapshot:
    """Everything the dashboard shows."""
    base = checks()
    now = base.now
    start = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=CHART_MINUTES - 1)
    day_ago = now - dt.timedelta(hours=24)
    return Snapshot(
        now=now,
        counts=_counts(),
        oldest_due_seconds=base.oldest_due_seconds,
        last_success=_batch_info(
            SyncBatch.objects.filter(success_count__gt=0, http_status__in=SUCCESS_STATUSES)
        ),
        last_batch=_batch_info(SyncBatch.objects.all()),
        workers=base.workers,
        broker_configured=base.broker_configured,
        pipeline=base.pipeline,
        per_minute=_per_minute(start),
        chart_start=start,
        rate_limited_24h=SyncBatch.objects.filter(created_at__gte=day_ago, http_status=429).count(),
        quota=_quota(day_ago),
        top_errors=_top_errors(),
        max_backlog_seconds=base.max_backlog_seconds,
        problems=base.problems,
    )


def max_backlog_seconds() -> float:
    value = get_settings().STATUS_MAX_BACKLOG_SECONDS
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_MAX_BACKLOG_SECONDS  # a wrong value is a check error (crmsync.E030)


def duration(seconds: float) -> str:
    """``42 s``, ``17 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours = seconds // 60, seconds // 3600
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


# -- the reads ---------------------------------------------------------------------------


def _pipeline() -> tuple[dt.datetime, PipelineInfo]:
    """The pipeline's row (made if missing) and the database's clock, in one read."""
    PipelineState.objects.get_or_create(pk=1)
    state = PipelineState.objects.annotate(db_now=Now()).get(pk=1)
    info = PipelineInfo(
        paused=state.paused,
        reason=state.reason,
        reason_display=str(state.get_reason_display()),
        message=state.message,
        since=state.paused_at,
        until=state.paused_until,
    )
    return state.db_now, info


def _oldest_due_seconds(now: dt.datetime) -> float | None:
    oldest = (
        Contact.objects.filter(sync_status=SyncStatus.PENDING, next_attempt_at__lte=Now())
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return None if oldest is None else max((now - oldest).total_seconds(), 0.0)


def _workers(now: dt.datetime) -> tuple[WorkerInfo, ...]:
    within = heartbeats.alive_within()
    return tuple(
        WorkerInfo(
            name=w.name,
            hostname=w.hostname,
            pid=w.pid,
            kind=w.kind,
            started_at=w.started_at,
            seen_at=w.seen_at,
            alive=now - w.seen_at <= within,
            seen_seconds_ago=max((now - w.seen_at).total_seconds(), 0.0),
        )
        for w in WorkerHeartbeat.objects.order_by("kind", "-seen_at")[:50]
    )


def _counts() -> dict[str, int]:
    counts = dict.fromkeys(SyncStatus.values, 0)
    rows = Contact.objects.order_by().values_list("sync_status").annotate(n=Count("*"))
    for status, n in rows:
        counts[status] = n
    return counts


def _batch_info(queryset: Any) -> BatchInfo | None:
    row = (
        queryset.order_by("-id")
        .values_list("id", "created_at", "endpoint", "http_status", "success_count", "error_count")
        .first()
    )
    return None if row is None else BatchInfo(*row)


def _per_minute(start: dt.datetime) -> tuple[int, ...]:
    buckets = [0] * CHART_MINUTES
    rows = (
        SyncBatch.objects.filter(created_at__gte=start, endpoint__in=SENDING_ENDPOINTS)
        .annotate(minute=TruncMinute("created_at", tzinfo=dt.UTC))
        .order_by()
        .values_list("minute")
        .annotate(n=Sum("success_count"))
    )
    for minute, n in rows:
        index = int((minute - start).total_seconds() // 60)
        if 0 <= index < CHART_MINUTES:
            buckets[index] += n or 0
    return tuple(buckets)


def _quota(since: dt.datetime) -> Quota | None:
    row = (
        SyncBatch.objects.filter(created_at__gte=since, daily_limit__isnull=False)
        .exclude(daily_remaining=None)
        .order_by("-created_at")
        .values_list("daily_limit", "daily_remaining", "created_at")
        .first()
    )
    if row is None or row[0] is None or row[1] is None:
        return None
    return Quota(limit=row[0], remaining=row[1], at=row[2])


def _top_errors() -> tuple[ErrorGroup, ...]:
    """The failed and held rows grouped by category and the message's shape
    (``errorgroups.pattern``: values replaced by placeholders), biggest first. PostgreSQL
    groups them itself; elsewhere (SQLite, a single host's few rows) they are counted here."""
    rows = Contact.objects.filter(sync_status__in=[SyncStatus.FAILED, SyncStatus.HELD]).order_by()
    if connections[rows.db].vendor == "postgresql":
        shape: Any = F("sync_error")
        for find, placeholder in errorgroups.SQL_STEPS:
            shape = Func(
                shape, Value(find), Value(placeholder), Value("g"), function="regexp_replace"
            )
        grouped = (
            rows.annotate(shape=Left(shape, errorgroups.MAX_PATTERN))
            .values_list("sync_error_category", "shape")
            .annotate(n=Count("*"))
            .order_by("-n", "sync_error_category", "shape")[:TOP_ERRORS]
        )
        return tuple(ErrorGroup(category, text, n) for category, text, n in grouped)
    counts: CounterType[tuple[str, str]] = Counter()
    exact = rows.values_list("sync_error_category", "sync_error").annotate(n=Count("*"))
    for category, message, n in exact.iterator():
        counts[(category, errorgroups.pattern(message))] += n
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_ERRORS]
    return tuple(ErrorGroup(category, text, n) for (category, text), n in top)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
