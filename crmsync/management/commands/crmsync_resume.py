from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crmsync import services


class Command(BaseCommand):
    help = "Resume sending to HubSpot after a pause (authentication, scopes, daily limit)."

    def handle(self, *args: Any, **options: Any) -> None:
        if services.resume_pipeline():
            self.stdout.write("resumed: pending contacts will be sent")
        else:
            self.stdout.write("not paused: nothing to do")
