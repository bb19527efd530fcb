from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crmsync import doctor

#: Exit status when any check FAILs (WARN alone exits 0).
EXIT_FAIL = 2


class Command(BaseCommand):
    help = (
        "Will crmsync work here? Read-only, safe in production (no row changed, nothing "
        "written to HubSpot): the settings, the token and its scopes, the API version, the "
        "mapped properties in HubSpot, the rate limit and daily quota, a worker and beat alive, "
        "the oldest due row, the pipeline. One line per check, OK / WARN / FAIL with the fix. "
        "Exit status: 0 no FAIL; 2 a check failed. For monitoring: --json."
    )
    requires_system_checks: list[str] = []  # a bad setting is the doctor's first FAIL

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        checks = doctor.run()
        failed = any(c.level == doctor.FAIL for c in checks)
        if options["json"]:
            data = {"ok": not failed, "checks": [c.as_dict() for c in checks]}
            self.stdout.write(json.dumps(data, sort_keys=True))
        else:
            self.stdout.write("\n".join(report(checks)))
        if failed:
            raise SystemExit(EXIT_FAIL)


def report(checks: list[doctor.Check]) -> list[str]:
    lines = []
    width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        lines.append(f"{check.level:<4} {check.name:<{width}}  {check.message}")
        if check.fix and check.level != doctor.OK:
            lines.append(f"     {'':<{width}}  fix: {check.fix}")
    return lines
