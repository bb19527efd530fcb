"""Facts of HubSpot's API that more than one layer needs (see shared/hubspot-api.md)."""

from __future__ import annotations

from collections.abc import Mapping

#: Where HubSpot's API lives.
API_BASE_URL = "https://api.hubapi.com"
#: At most this many inputs in one batch request; more is a 400 for the whole request.
MAX_BATCH_INPUTS = 100
#: Where HubSpot's web app lives: a contact's record is {APP_URL}/contacts/{portal}/record/0-1/{id}.
APP_URL = "https://app.hubspot.com"
#: The lifecycle stages every portal has (internal names, in their order); a portal may add
#: its own (numeric ids).
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
#: The error categories a contact's last error may carry: HubSpot's (its ``category``), then
#: crmsync's own (a value it could not map; an answer it never got; a row its preflight
#: stopped; a write HubSpot refused for a portal validation rule).
ERROR_CATEGORIES = (
    "VALIDATION_ERROR",
    "CONFLICT",
    "OBJECT_ALREADY_EXISTS",
    "OBJECT_NOT_FOUND",
    "RATE_LIMIT",
    "RATE_LIMITS",
    "INVALID_AUTHENTICATION",
    "EXPIRED_AUTHENTICATION",
    "MISSING_SCOPES",
    "BAD_REQUEST",
    "MAPPING_ERROR",
    "OUTCOME_UNKNOWN",
    "PREFLIGHT",
    "PORTAL_RULE",
)
#: HubSpot refused a write for one of the portal's own validation rules (API version
#: 2026-09 on): its errors carry this subCategory or per-property code.
PORTAL_RULE_MARKERS = frozenset(("PROPERTY_VALIDATION_RULE", "VALIDATION_RULE_VIOLATED"))


def daily_quota(headers: Mapping[str, str]) -> tuple[int | None, int | None]:
    """(daily cap, remaining) from an answer's X-HubSpot-RateLimit-Daily and
    -Daily-Remaining headers; None for a missing or malformed value (they may be missing)."""
    return _count(headers.get("X-HubSpot-RateLimit-Daily")), _count(
        headers.get("X-HubSpot-RateLimit-Daily-Remaining")
    )


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None
