"""The doctor's checks of this side: rate limit, quota, workers and beat, backlog, pause."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models.functions import Now

from .. import health, heartbeats
from ..models import SyncBatch, WorkerHeartbeat
from .base import FAIL, OK, WARN, Check, Context

#: Below this share of HubSpot's daily cap left, the quota is a warning.
QUOTA_WARN_FRACTION = 0.1


def _health(ctx: Context) -> health.Checks:
    """``health.checks()``, rolled back: its first read makes the pipeline's row when there is
    none, and the doctor changes no row."""
    if ctx.health is None:
        with transaction.atomic():
            ctx.health = health.checks()
            transaction.set_rollback(True)
    result: health.Checks = ctx.health
    return result


def check_rate_limit(ctx: Context) -> Check:
    conf = ctx.conf
    daily = f"{conf.RATE_LIMIT_DAILY:,} a day" if conf.RATE_LIMIT_DAILY else "no daily cap"
    text = f"{conf.RATE_LIMIT_MAX} requests per {conf.RATE_LIMIT_INTERVAL_SECONDS:g} s, {daily}"
    if not conf.REDIS_URL and health.broker_configured():
        return Check(
            "rate limit",
            WARN,
            f"{text}, counted in each process only (no REDIS_URL): several workers exceed it",
            "Set CRMSYNC['REDIS_URL'] so every worker shares one limiter.",
        )
    where = "shared in Redis" if conf.REDIS_URL else "in this process"
    return Check("rate limit", OK, f"{text}, {where}")


def check_daily_quota(ctx: Context) -> Check:
    """HubSpot's X-HubSpot-RateLimit-Daily(-Remaining) of its last answer today, as kept on
    ``SyncBatch``."""
    row = (
        SyncBatch.objects.filter(created_at__gte=Now() - dt.timedelta(hours=24))
        .exclude(daily_remaining=None)
        .exclude(daily_limit=None)
        .order_by("-created_at")
        .values_list("daily_limit", "daily_remaining", "created_at")
        .first()
    )
    limit, remaining, at = row or (None, None, None)
    if limit is None or remaining is None or at is None:
        return Check("daily quota", OK, "not reported by HubSpot in the last 24 h")
    text = f"{remaining:,} of {limit:,} requests left (HubSpot's answer at {at.isoformat()})"
    if remaining <= 0:
        return Check(
            "daily quota", FAIL, text, "Wait for the daily reset, or buy a limit increase."
        )
    if limit and remaining < limit * QUOTA_WARN_FRACTION:
        return Check("daily quota", WARN, text, "Less than 10% left: find what spends it.")
    return Check("daily quota", OK, text)


def _alive(ctx: Context, kind: str) -> list[health.WorkerInfo]:
    return [w for w in _health(ctx).workers if w.kind == kind and w.alive]


def check_worker(ctx: Context) -> Check:
    checks = _health(ctx)
    alive = _alive(ctx, WorkerHeartbeat.Kind.WORKER)
    if alive:
        names = ", ".join(w.name for w in alive[:5])
        return Check("worker", OK, f"{len(alive)} Celery worker(s) alive: {names}")
    if not checks.broker_configured:
        return Check(
            "worker",
            WARN,
            "no Celery broker configured: nothing sends unless manage.py crmsync_sync runs",
            "Run crmsync_sync from cron or a service, or configure Celery (REDIS_URL).",
        )
    return Check(
        "worker",
        FAIL,
        "no Celery worker is alive (no heartbeat in the last "
        f"{health.duration(3 * heartbeats.interval_seconds())})",
        "Start one: celery -A project worker.",
    )


def check_beat(ctx: Context) -> Check:
    if not _health(ctx).broker_configured:
        return Check("beat", OK, "not needed: no Celery broker configured")
    alive = _alive(ctx, WorkerHeartbeat.Kind.BEAT)
    if alive:
        return Check("beat", OK, f"Celery beat alive: {alive[0].name}")
    return Check(
        "beat",
        FAIL,
        "no Celery beat is alive: retries due later and lost nudges wait for nobody",
        "Start it: celery -A project beat.",
    )


def check_oldest_due(ctx: Context) -> Check:
    checks = _health(ctx)
    oldest = checks.oldest_due_seconds
    if oldest is None:
        return Check("backlog", OK, "no contact is due")
    text = f"the oldest due contact has waited {health.duration(oldest)}"
    if oldest > checks.max_backlog_seconds:
        limit = health.duration(checks.max_backlog_seconds)
        return Check(
            "backlog",
            FAIL,
            f"{text} (more than {limit})",
            "Is a worker sending? See manage.py crmsync_status and the admin's dashboard.",
        )
    return Check("backlog", OK, text)


def check_pipeline(ctx: Context) -> Check:
    p = _health(ctx).pipeline
    if p.paused:
        until = f" until {p.until.isoformat()}" if p.until else ""
        return Check(
            "pipeline",
            FAIL,
            f"sending is paused ({p.reason_display}){until}: {p.message}",
            "Fix the cause, then manage.py crmsync_resume (or the admin's pipeline page).",
        )
    return Check("pipeline", OK, "running")
