from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crmsync import health
from crmsync.management.commands._base import checked_settings

#: Exit status when the sync is unhealthy (paused, no live worker, backlog too old).
EXIT_UNHEALTHY = 2


class Command(BaseCommand):
    help = (
        "Is the HubSpot sync working? Prints contacts by state, the oldest due row's age, the "
        "last success, workers, the pipeline state and HubSpot's daily quota. Exit status: "
        "0 healthy; 2 unhealthy (paused, no live Celery worker while a broker is configured, "
        "or the oldest due row older than CRMSYNC['STATUS_MAX_BACKLOG_SECONDS']); "
        "1 the settings are wrong. For monitoring: --json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def execute(self, *args: Any, **options: Any) -> str | None:
        checked_settings()  # a bad setting: one line and exit 1, before the system checks
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        snap = health.snapshot()
        if options["json"]:
            self.stdout.write(json.dumps(snap.as_dict(), sort_keys=True))
        else:
            self.stdout.write("\n".join(report(snap)))
        if not snap.healthy:
            raise SystemExit(EXIT_UNHEALTHY)


def report(snap: health.Snapshot) -> list[str]:
    """The human-readable status, a line per fact."""
    lines = ["healthy" if snap.healthy else "UNHEALTHY"]
    lines += [f"  ! {problem}" for problem in snap.problems]
    counts = ", ".join(f"{status} {n}" for status, n in snap.counts.items())
    lines.append(f"contacts: {counts} (total {snap.total})")
    oldest = snap.oldest_due_seconds
    lines.append(
        "oldest due: " + ("none" if oldest is None else f"waiting {health.duration(oldest)}")
    )
    lines.append(f"last success: {_batch(snap.last_success, snap)}")
    lines.append(f"last request: {_batch(snap.last_batch, snap)}")
    p = snap.pipeline
    if p.paused:
        until = f", until {p.until.isoformat()}" if p.until else ""
        since = p.since.isoformat() if p.since else "?"
        lines.append(f"pipeline: paused ({p.reason_display}) since {since}{until}: {p.message}")
    else:
        lines.append("pipeline: running")
    if not snap.workers:
        lines.append(
            "workers: none has reported" + ("" if snap.broker_configured else " (no broker)")
        )
    for w in snap.workers:
        state = "alive" if w.alive else "DEAD"
        lines.append(f"{w.kind}: {w.name} {state}, seen {health.duration(w.seen_seconds_ago)} ago")
    lines.append(
        f"synced in 24 h: {sum(snap.per_minute)}; 429 answers in 24 h: {snap.rate_limited_24h}"
    )
    q = snap.quota
    lines.append(
        "daily quota: not reported"
        if q is None
        else f"daily quota: {q.used} of {q.limit} used ({q.fraction:.1%}), {q.remaining} left"
    )
    return lines


def _batch(info: health.BatchInfo | None, snap: health.Snapshot) -> str:
    if info is None:
        return "none"
    ago = health.duration((snap.now - info.created_at).total_seconds())
    return f"#{info.id} {info.endpoint} HTTP {info.http_status or 'no answer'}, {ago} ago"
