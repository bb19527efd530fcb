"""Facts of HubSpot's API that more than one layer needs (see shared/hubspot-api.md)."""

from __future__ import annotations

from collections.abc import Mapping

#: Where HubSpot's API lives.
API_BASE_URL = "https://api.hubapi.com"
#: At most this many inputs in one batch request; more is a 400 for the whole request.
MAX_BATCH_INPUTS = 100


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
