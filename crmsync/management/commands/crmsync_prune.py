"""``manage.py crmsync_prune``: delete sync history older than the retention, in chunks; or
take one person's data out of history (``--forget-email``, a data subject's request)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync import services
from crmsync.management.commands._base import or_command_error
from crmsync.retention import CHUNK_SIZE


class Command(BaseCommand):
    help = (
        "Delete sync history (requests and attempts) older than CRMSYNC"
        "['HISTORY_RETENTION_DAYS'] days, in chunks; the newest attempt of a contact still "
        "failed, held or retrying is kept. --forget-email removes one person's data instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep this many days (default: CRMSYNC['HISTORY_RETENTION_DAYS']; 0: keep all).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help="Rows one DELETE statement removes (default: %(default)s).",
        )
        parser.add_argument(
            "--forget-email",
            metavar="EMAIL",
            help="Instead of pruning: blank this email in history and replace its inputs in "
            "stored request bodies with a note.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["forget_email"] is not None:
            self.forget(options["forget_email"])
            return
        days, chunk = options["days"], options["chunk_size"]
        if days is not None and days < 0:
            raise CommandError("--days must be 0 (keep for ever) or more")
        if chunk < 1:
            raise CommandError("--chunk-size must be at least 1")
        result = or_command_error(
            lambda: services.prune_history(days, dry_run=options["dry_run"], chunk_size=chunk)
        )
        if result.days == 0:
            self.stdout.write("History is kept for ever (retention 0 days): nothing deleted.")
            return
        verb = "would delete" if result.dry_run else "deleted"
        cutoff = result.cutoff.isoformat(timespec="seconds") if result.cutoff else ""
        text = (
            f"{verb} {result.attempts} attempts and {result.batches} requests older than "
            f"{result.days} days (before {cutoff})"
        )
        if not result.dry_run and result.deletes:
            text += (
                f" in {result.deletes} DELETE statements, the longest "
                f"{result.longest_delete_ms:.0f} ms"
            )
        self.stdout.write(text)

    def forget(self, email: str) -> None:
        if not email.strip():
            raise CommandError("--forget-email needs an email address")
        result = services.forget_email_history(email)
        self.stdout.write(
            f"forgot {email.strip()} in {result.attempts} attempts and {result.batches} "
            "stored requests"
        )
