from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync import services
from crmsync.exceptions import ConfigurationError, ConnectionFailedError
from crmsync.models import PipelineState


class Command(BaseCommand):
    help = "Send every due pending contact to HubSpot now, in this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches (default: until none is due).",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Batches in flight at once (default: CRMSYNC_CONCURRENCY).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            services.check_configuration()
            services.probe_connection()
            summary = services.sync_pending(
                max_batches=options["max_batches"], concurrency=options["concurrency"]
            )
        except (ConfigurationError, ConnectionFailedError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(format_summary(summary))
        state = services.pipeline_state()
        if state.paused and state.reason == PipelineState.Reason.AUTH:
            # A rejected token or missing scope is a configuration error too.
            raise CommandError(f"sending is paused: {state.message}")
        if summary.stopped_reason:
            self.stderr.write(f"stopped: {summary.stopped_reason}")


def format_summary(summary: services.RunSummary) -> str:
    waiting = services.count_waiting()
    return (
        f"synced {summary.synced}, failed {summary.failed}, waiting to retry {waiting} "
        f"(held for review {summary.held}; {summary.requests} requests in "
        f"{summary.batches} batches)"
    )
