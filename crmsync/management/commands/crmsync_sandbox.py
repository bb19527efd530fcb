"""``manage.py crmsync_sandbox``: the HubSpot sandbox in the foreground (docs/sandbox.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync.sandbox.cli import add_arguments, serve
from crmsync.sandbox.config import ConfigError


class Command(BaseCommand):
    help = "Run a local server that answers like HubSpot's contacts API, until SIGTERM or SIGINT."
    # The sandbox reads none of CRMSYNC: a bad crmsync setting must not stop it from starting.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            serve(options, write=self.stdout.write)
        except (ConfigError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
