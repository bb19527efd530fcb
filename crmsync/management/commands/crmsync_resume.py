from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crmsync import services
from crmsync.management.commands._base import checked_settings


class Command(BaseCommand):
    help = "Resume sending to HubSpot after a pause (authentication, scopes, daily limit)."

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Before the system checks, so a bad setting is one line, not a check report; and
        # resuming into settings that cannot send would only look like a fix.
        checked_settings()
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        if services.resume_pipeline():
            self.stdout.write("resumed: pending contacts will be sent")
        else:
            self.stdout.write("not paused: nothing to do")
