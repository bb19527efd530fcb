from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crmsync import propertymap, schema
from crmsync.exceptions import HubSpotError
from crmsync.management.commands._base import EXIT_CONFIGURATION, checked_settings
from crmsync.runtime import get_client

#: Exit status when a mapped property has a problem (missing, read-only, wrong type...).
EXIT_PROBLEMS = 2


class Command(BaseCommand):
    help = (
        "Every property crmsync maps (Contact's columns, Contact.properties, registered "
        "models) with its HubSpot type and every mapping problem: a property HubSpot lacks, "
        "one it keeps read-only, a type that does not fit, options local data uses that "
        "HubSpot lacks. --create creates the missing properties in a 'crmsync' property "
        "group (idempotent: one that exists is left alone). Exit status: 0 no problem; 2 "
        "problems remain; 1 the settings are wrong or HubSpot's schema cannot be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the missing custom properties in HubSpot (group 'crmsync')",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        checked_settings()  # a bad setting: one line and exit 1, before the system checks
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        client = get_client(checked_settings())
        mapped = propertymap.mapped_properties()
        items = propertymap.report(self._schema(client), mapped)
        if options["create"]:
            try:
                created = propertymap.create_missing(client, items)
            except HubSpotError as exc:
                raise CommandError(f"cannot create properties: {exc}", returncode=1) from None
            for name, made in created:
                self.stdout.write(f"{'created' if made else 'exists:'} {name}")
            if created:
                schema.clear()  # this process's workers read the new schema next batch
                items = propertymap.report(self._schema(client), mapped)
        self.stdout.write("\n".join(lines(items)))
        if any(item.problems for item in items):
            raise SystemExit(EXIT_PROBLEMS)

    def _schema(self, client: Any) -> Any:
        try:
            return propertymap.read_schema(client)
        except HubSpotError as exc:
            raise CommandError(
                f"cannot read HubSpot's property schema: {exc}", returncode=EXIT_CONFIGURATION
            ) from None


def lines(items: list[propertymap.Mapped]) -> list[str]:
    """A table: property, HubSpot type, where it is mapped from; problems under each."""
    width = max([len(i.name) for i in items] + [8])
    out = [f"{'property':<{width}}  {'HubSpot type':<24}  mapped from"]
    for item in items:
        out.append(f"{item.name:<{width}}  {item.hubspot_type:<24}  {', '.join(item.sources)}")
        out += [f"{'':<{width}}  ! {problem}" for problem in item.problems]
    problems = sum(len(i.problems) for i in items)
    out.append(f"{len(items)} properties mapped, {problems} problem(s)")
    return out
