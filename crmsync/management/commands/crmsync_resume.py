from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crmsync import services
from crmsync.management.commands._base import checked_settings


class Command(BaseCommand):
    help = (
        "Resume sending to HubSpot after a pause (authentication, scopes, daily limit, an "
        "operator's), once its cause is gone: a daily limit's reset has come, HubSpot accepts "
        "the token again. --force resumes without checking. Exit status 1 when not resumed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force", action="store_true", help="resume without checking that the cause is gone"
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before the system checks, so a bad setting is one line, not a check report; and
        # resuming into settings that cannot send would only look like a fix.
        checked_settings()
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        if not services.pipeline_state().paused:
            self.stdout.write("not paused: nothing to do")
            return
        if options["force"]:
            services.resume_pipeline()
            self.stdout.write("resumed (unchecked): pending contacts will be sent")
            return
        verdict = services.resume_checked()
        if not verdict.resumed:
            raise CommandError(verdict.message)
        self.stdout.write(f"resumed: pending contacts will be sent. {verdict.message}")
