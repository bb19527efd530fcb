from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crmsync import unique_property
from crmsync.exceptions import HubSpotError
from crmsync.management.commands._base import checked_settings
from crmsync.runtime import get_client


class Command(BaseCommand):
    help = (
        "Check (or, with --create, create) the custom unique HubSpot property that upsert mode "
        "writes by: CRMSYNC['UNIQUE_PROPERTY'], or NAME. Exit status 1 when it is missing or "
        "not unique."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", nargs="?", default="", help="default: UNIQUE_PROPERTY")
        parser.add_argument(
            "--create", action="store_true", help="create it (hasUniqueValue, group crmsync)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = checked_settings()
        name = options["name"] or conf.UNIQUE_PROPERTY or unique_property.DEFAULT_NAME
        if name.lower() == "email":
            raise CommandError("email cannot be the upsert key (see crmsync.E062)")
        client = get_client(conf)
        try:
            if options["create"]:
                found = unique_property.ensure(client, name)
            else:
                found = unique_property.inspect(client, name)
        except HubSpotError as exc:
            raise CommandError(f"HubSpot refused: {exc}") from None
        if found.created:
            self.stdout.write(f"created {name}: a unique text property in group crmsync")
        elif found.usable:
            self.stdout.write(f"{name} exists and is unique: upsert mode can use it")
        elif found.exists:
            raise CommandError(
                f"{name} exists in HubSpot but is not unique (hasUniqueValue false): HubSpot "
                "answers 400 to an upsert by it. Pick another name."
            )
        else:
            raise CommandError(f"{name} does not exist in HubSpot: run with --create")
        if name != conf.UNIQUE_PROPERTY:
            self.stdout.write(f"set CRMSYNC['UNIQUE_PROPERTY'] = {name!r} to use it")
