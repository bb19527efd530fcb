"""``manage.py crmsync_backfill app_label.ModelName``: queue a registered model's existing rows.

For rows that exist from before the model was registered, or were changed with ``update()``,
``bulk_update()`` or raw SQL (none of which send signals). Rows go in pk order,
``--batch-size`` at a time (one query to read them, one upsert to mirror them), so memory stays
flat however many rows there are. A row whose mapped values did not change is not written, so
running it again is cheap; ``--start-after PK`` resumes after the last pk it printed.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from crmsync import mirror, registry, tasks


class Command(BaseCommand):
    help = (
        "Queue the existing rows of a registered model for HubSpot, in chunks, in pk order. "
        "Resumable with --start-after; rows whose mapped values did not change are not "
        "written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The registered model, as app_label.ModelName.")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per chunk (default 1000)."
        )
        parser.add_argument(
            "--start-after",
            default=None,
            metavar="PK",
            help="Resume: only rows whose pk is greater than this (the last pk printed).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress line.")

    def handle(self, *args: Any, **options: Any) -> None:
        registration = _registration(options["model"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if not registry.queueing_active():
            raise CommandError("CRMSYNC['ENABLED'] is False: nothing queued")
        rows = registration.model._default_manager.all()
        start_after = options["start_after"]
        if start_after is not None:
            rows = rows.filter(pk__gt=start_after)
        total = rows.count()
        progress = _Progress(self.stderr, total, quiet=options["no_progress"])
        done = changed = 0
        last_pk = start_after
        try:
            for chunk in mirror.queue_in_chunks(rows, options["batch_size"]):
                done, changed, last_pk = done + chunk.rows, changed + chunk.changed, chunk.last_pk
                progress.show(done, changed, last_pk)
        except KeyboardInterrupt:
            progress.end()
            raise CommandError(
                f"interrupted after {done:,} rows ({changed:,} queued); last pk done: "
                f"{last_pk}. Resume with --start-after {last_pk}"
            ) from None
        progress.end()
        if changed:
            # Now, in autocommit; after the commit, when called inside a transaction.
            transaction.on_commit(tasks.enqueue_sync, using=rows.db)
        self.stdout.write(
            f"{registration.label}: {done:,} rows read, {changed:,} queued for HubSpot "
            f"(the others had not changed); last pk done: {last_pk}"
        )


def _registration(label: str) -> registry.Registration:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(f"no model {label!r}: give it as app_label.ModelName") from None
    registration = registry.registration_for(model)
    if registration is None:
        raise CommandError(
            f"{model._meta.label} is not registered with crmsync: call crmsync.register() "
            "for it (in its app's hubspot.py)"
        )
    return registration


class _Progress:
    """One line on stderr, rewritten in place at most about ten times a second."""

    def __init__(self, out: Any, total: int, quiet: bool) -> None:
        self.out, self.total, self.quiet = out, total, quiet
        self.started = self.shown = time.monotonic()

    def show(self, done: int, changed: int, last_pk: Any) -> None:
        now = time.monotonic()
        if self.quiet or (now - self.shown < 0.1 and done < self.total):
            return
        self.shown = now
        share = done / self.total if self.total else 1.0
        rate = done / max(now - self.started, 1e-6)
        self.out.write(
            f"\r{done:,}/{self.total:,} rows ({share:.0%}), {changed:,} queued, "
            f"{rate:,.0f} rows/s, last pk {last_pk}",
            ending="",
        )
        self.out.flush()

    def end(self) -> None:
        if not self.quiet:
            self.out.write("")
