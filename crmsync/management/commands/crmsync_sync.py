"""``manage.py crmsync_sync``: drain now, in this process, and say truthfully what happened.

Exit status: 0 when it could send (rows may still have failed for their own data);
1 (EXIT_CONFIGURATION) for a bad setting, a rejected token or scope, or when every row failed
because HubSpot refused the requests as misaddressed (404 from batch/create or batch/read:
an API_VERSION or API_BASE_URL it does not serve); 3 (EXIT_NOT_SENT) when nothing could be
sent now: sending is paused (daily limit, an operator) or the shared rate limiter is down;
4 (EXIT_STOPPED) when SIGTERM or SIGINT stopped it: the request in flight was answered and
written back, the rows not sent are back in the queue. A second signal stops it at once
(rows in flight wait for their lease to expire); 5 (EXIT_UNREACHABLE) when HubSpot could not
be reached (connection refused, or no connection within the timeout: a partition, HubSpot
down): nothing more was sent, the rows not sent are back in the queue with no attempt
counted.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync import services, shutdown
from crmsync.exceptions import ConnectionFailedError
from crmsync.management.commands._base import (
    EXIT_CONFIGURATION,
    EXIT_NOT_SENT,
    EXIT_STOPPED,
    EXIT_UNREACHABLE,
    checked_settings,
    or_command_error,
)
from crmsync.management.commands._progress import MODES, progress_bar
from crmsync.models import PipelineState
from crmsync.reconnect import once_more_if_disconnected


class Command(BaseCommand):
    help = (
        "Send every due pending contact to HubSpot now, in this process. Exits 1 for a "
        "configuration problem, 3 when nothing could be sent now (paused, rate limiter down), "
        "4 when stopped by a signal, 5 when HubSpot could not be reached."
    )

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
            help="Batches in flight at once (default: CRMSYNC['CONCURRENCY']).",
        )
        parser.add_argument(
            "--drain",
            action="store_true",
            help="Run until no row is pending or in flight (retries included), or --timeout.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=600.0,
            help="With --drain: give up after this many seconds, exit 3 (default 600).",
        )
        parser.add_argument(
            "--progress",
            nargs="?",
            const="auto",
            choices=MODES,
            default=None,
            help="A progress bar on stderr (rows sent of those waiting, rate, ETA); only when "
            "stderr is a terminal, unless --progress=always.",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before the system checks: a bad setting is one line, not a check report.
        checked_settings()
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        checked_settings()
        try:
            with (
                shutdown.signals_stop_drain(),
                progress_bar(options["progress"], self._stderr_stream()) as progress,
            ):
                summary = or_command_error(lambda: self.run_options(options, progress))
        except ConnectionFailedError as exc:  # the probe: no connection, nothing claimed
            raise CommandError(
                f"HubSpot unreachable: {exc.message}; nothing was sent, every row stays in "
                "the queue",
                returncode=EXIT_UNREACHABLE,
            ) from None
        self.stdout.write(format_summary(summary))
        state = services.pipeline_state()
        if state.paused:
            # A rejected token or missing scope is a configuration error; any other pause
            # (daily limit, an operator) means nothing more can be sent for now.
            code = (
                EXIT_CONFIGURATION if state.reason == PipelineState.Reason.AUTH else EXIT_NOT_SENT
            )
            why = " ".join(state.message.split()) or state.get_reason_display()
            raise CommandError(f"sending is paused: {why}", returncode=code)
        if summary.config_error:
            raise CommandError(
                " ".join(summary.config_error.split()), returncode=EXIT_CONFIGURATION
            )
        if summary.unreachable:
            raise CommandError(
                f"{summary.unreachable}; nothing more was sent, the rows not sent are back "
                "in the queue",
                returncode=EXIT_UNREACHABLE,
            )
        if summary.stopped_reason:
            code = EXIT_STOPPED if shutdown.stop_requested() else EXIT_NOT_SENT
            raise CommandError(f"stopped: {summary.stopped_reason}", returncode=code)

    def _stderr_stream(self) -> Any:
        # The stream under Django's OutputWrapper, which would end every write with a
        # newline (tqdm redraws its line with carriage returns).
        return getattr(self.stderr, "_out", self.stderr)

    def run_options(
        self, options: dict[str, Any], progress: services.Progress | None
    ) -> services.RunSummary:
        if not options["drain"]:
            return self.run(options["max_batches"], options["concurrency"], progress)
        if options["max_batches"] is not None:
            raise CommandError("--drain runs until the queue is empty: drop --max-batches")
        if not options["timeout"] > 0:
            raise CommandError(f"--timeout must be more than 0 seconds, got {options['timeout']}")
        services.probe_connection()
        return services.drain(
            options["timeout"],
            horizon=checked_settings().DRAIN_HORIZON_SECONDS,
            concurrency=options["concurrency"],
            progress=progress,
        )

    @staticmethod
    def run(
        max_batches: int | None,
        concurrency: int | None,
        progress: services.Progress | None = None,
    ) -> services.RunSummary:
        services.probe_connection()
        return services.sync_pending(
            max_batches=max_batches,
            concurrency=concurrency,
            progress=progress,
            horizon=checked_settings().DRAIN_HORIZON_SECONDS,
        )


def format_summary(summary: services.RunSummary) -> str:
    """What the run did, in words that match what each number counts."""
    text = (
        f"synced {summary.synced}, failed {summary.failed}, to retry later "
        f"{summary.retrying}, held for review {summary.held} "
        f"({_count(summary.requests, 'request')} in {_count(summary.batches, 'batch')})"
    )
    if summary.lost_lease:
        text += f"; {summary.lost_lease} results not written (another worker took the rows)"
    return f"{text}; left in the queue: {once_more_if_disconnected(services.count_waiting)}"


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith("ch") else f"{n} {noun}s"
