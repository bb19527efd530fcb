"""The rules of the property schema's settings (``SCHEMA_TTL_SECONDS``, ``PREFLIGHT``):
check ids crmsync.E040-E049."""

from __future__ import annotations

from typing import Any

from .base import IDS, RULES, Problem, error

IDS.update(
    {
        "schema_ttl": "crmsync.E040",
        "preflight": "crmsync.E041",
    }
)
#: A schema older than a day misses every property created since: surely a typo.
MAX_TTL_SECONDS = 86_400.0


def _schema_ttl(values: dict[str, Any]) -> list[Problem]:
    ttl = values.get("SCHEMA_TTL_SECONDS")
    if ttl is None or 0 <= ttl <= MAX_TTL_SECONDS:
        return []
    return error(
        "schema_ttl",
        "SCHEMA_TTL_SECONDS",
        f"CRMSYNC['SCHEMA_TTL_SECONDS'] must be between 0 and {MAX_TTL_SECONDS:g} (a day), "
        f"got {ttl!r}.",
        hint="0 reads HubSpot's property schema before every batch.",
    )


RULES.append(_schema_ttl)
