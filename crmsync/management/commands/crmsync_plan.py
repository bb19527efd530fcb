from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync.management.commands._base import EXIT_CONFIGURATION, checked_settings
from crmsync.models import Contact
from crmsync.registry import CONTACT_LABEL, registration_named
from crmsync.sync import dryrun

#: Exit statuses: 0 something would be sent; 2 nothing would be sent; 1 an error.
EXIT_NOTHING_TO_SEND = 2


class Command(BaseCommand):
    help = (
        "Dry run: plan the due rows (or the given model's rows) with the sync's own planning "
        "and print the requests that would go (endpoint, each input's exact properties), the "
        "rows decided without a request and why, and for updates what changed since HubSpot "
        "last accepted the row. Sends nothing and changes no row. Exit status: 0 something "
        "would be sent; 2 nothing would be sent; 1 an error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "model",
            nargs="?",
            help="app_label.Model: crmsync.Contact or a registered host model (default: the "
            "rows due now)",
        )
        parser.add_argument("--pk", nargs="+", default=None, help="only these primary keys")
        parser.add_argument("--limit", type=int, default=dryrun.DEFAULT_LIMIT, help="most rows")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def execute(self, *args: Any, **options: Any) -> str | None:
        checked_settings()  # a bad setting: one line and exit 1
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        limit = max(options["limit"], 0)
        if options["model"]:
            rows = dryrun.rows_of(_queryset(options["model"], options["pk"]), limit)
        elif options["pk"]:
            raise CommandError("--pk needs a model", returncode=EXIT_CONFIGURATION)
        else:
            rows = dryrun.due_rows(limit)
        result = dryrun.preview(rows)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), sort_keys=True))
        else:
            self.stdout.write("\n".join(report(result)))
        if not result.would_send:
            raise SystemExit(EXIT_NOTHING_TO_SEND)


def _queryset(label: str, pks: list[str] | None) -> Any:
    if label.lower() == CONTACT_LABEL:
        queryset = Contact.objects.all()
        return queryset.filter(pk__in=pks) if pks else queryset.order_by("pk")
    registration = registration_named(label)
    if registration is None:
        raise CommandError(
            f"{label} is neither crmsync.Contact nor a model registered with crmsync.register",
            returncode=EXIT_CONFIGURATION,
        )
    queryset = Contact.objects.filter(source=registration.label)
    if pks:
        queryset = queryset.filter(source_pk__in=[str(pk) for pk in pks])
    return queryset.order_by("pk")


def report(result: dryrun.DryRun) -> list[str]:
    """The dry run, a line per request, input, change and decided row."""
    lines = []
    for request in result.requests:
        count = len(request.inputs)
        lines.append(f"{request.method} {request.path}: {count} input{'s' * (count != 1)}")
        for item in request.inputs:
            lines.append(f"  {_who(item)}: {json.dumps(item.body, sort_keys=True)}")
            for change in item.changes:
                old = "(unknown)" if change.old is None else json.dumps(change.old)
                lines.append(f"      {change.name}: {old} -> {json.dumps(change.new)}")
    if result.decided:
        lines.append("decided without a request:")
    for row in result.decided:
        why = f" ({row.category})" if row.category else ""
        message = f": {row.message}" if row.message else ""
        lines.append(
            f"  contact #{row.contact_id} {row.email or '(no email)'}: {row.outcome}{why}{message}"
        )
    verdict = (
        f"{result.inputs} input(s) in {len(result.requests)} request(s) would be sent"
        if result.would_send
        else "nothing would be sent"
    )
    lines.append(
        f"{result.rows} row(s) planned: {verdict}; {len(result.decided)} decided without a "
        "request. Nothing was sent and no row changed."
    )
    return lines


def _who(item: dryrun.PlannedInput) -> str:
    ids = ", ".join(f"#{i}" for i in item.contact_ids)
    known = f" (HubSpot {item.hubspot_id})" if item.hubspot_id else ""
    return f"contact {ids} {item.email or '(no email)'}{known}"
