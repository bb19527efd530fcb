"""The rules of the write mode (``WRITE_MODE``, ``UNIQUE_PROPERTY``): README, "Write modes"."""

from __future__ import annotations

import re
from typing import Any

from .base import IDS, Problem, error
from .base import rule as _rule

WRITE_MODES = ("create", "upsert")
#: HubSpot's rule for a property's internal name (the sandbox checks the same).
_PROPERTY_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,99}", re.ASCII)

IDS.update(
    {
        "write_mode": "crmsync.E060",
        "unique_property_missing": "crmsync.E061",
        "unique_property_email": "crmsync.E062",
        "unique_property_name": "crmsync.E063",
    }
)


@_rule
def _write_mode(values: dict[str, Any]) -> list[Problem]:
    mode = values.get("WRITE_MODE")
    if mode is None or mode in WRITE_MODES:
        return []
    return error(
        "write_mode",
        "WRITE_MODE",
        f"CRMSYNC['WRITE_MODE'] must be 'create' or 'upsert', got {mode!r}.",
    )


@_rule
def _unique_property(values: dict[str, Any]) -> list[Problem]:
    name = values.get("UNIQUE_PROPERTY")
    if name is None:
        return []
    if name.strip().lower() == "email":
        return error(
            "unique_property_email",
            "UNIQUE_PROPERTY",
            "CRMSYNC['UNIQUE_PROPERTY'] cannot be 'email': HubSpot does not support partial "
            "upserts by email (one bad row would fail the whole batch), a contact may have no "
            "email, and an email changes; use a custom unique property such as 'crmsync_id'.",
            hint="manage.py crmsync_unique_property --create crmsync_id",
        )
    if name and not _PROPERTY_NAME_RE.fullmatch(name):
        return error(
            "unique_property_name",
            "UNIQUE_PROPERTY",
            f"CRMSYNC['UNIQUE_PROPERTY'] {name!r} is not a HubSpot property name "
            "(lower-case letters, digits and _, starting with a letter).",
        )
    if not name and values.get("WRITE_MODE") == "upsert":
        return error(
            "unique_property_missing",
            "UNIQUE_PROPERTY",
            "CRMSYNC['WRITE_MODE'] is 'upsert' but CRMSYNC['UNIQUE_PROPERTY'] is empty: name "
            "the custom unique property that holds each contact's key, e.g. 'crmsync_id'.",
            hint="manage.py crmsync_unique_property --create crmsync_id",
        )
    return []
