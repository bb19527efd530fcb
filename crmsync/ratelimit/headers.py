"""HubSpot's ``X-HubSpot-RateLimit-*`` headers, read into one small value.

Parsing is kept apart from acting on it: :meth:`HeaderReport.parse` turns one response's
headers into a report, and the report's methods say what it means (a limit to adopt, a
pause, the day used up). The limiter then only applies those answers to its state.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from .policy import Limit

logger = logging.getLogger(__name__)

# HubSpot's Remaining header is the truth about its window, including requests we did not
# meter (another process using the same app, a retried request counted twice). Below this
# share of Max, every worker pauses for as long as HubSpot needs, at the limit's average
# rate, to free the missing slots: at 0 of 100 per 10 s, 0.5 s. When our own pacing is what
# drains Remaining, the pause costs no throughput: the window is full anyway, and the
# slots that free meanwhile are taken when the pause ends.
LOW_REMAINING_FRACTION = 0.05

# Headers beyond these are taken as malformed rather than obeyed.
MAX_ADOPTED_INTERVAL_MS = 86_400_000

_PREFIX = "x-hubspot-ratelimit-"


def _header_int(headers: Mapping[str, str], name: str, minimum: int, maximum: int) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        logger.debug("ignoring malformed %s header", name)
        return None
    if not minimum <= value <= maximum:
        logger.debug("ignoring out-of-range %s header", name)
        return None
    return value


@dataclass(frozen=True)
class HeaderReport:
    """What one response said about the limit; ``None`` where a header is missing or
    malformed."""

    max: int | None = None
    interval_ms: int | None = None
    remaining: int | None = None
    daily_remaining: int | None = None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> HeaderReport | None:
        """The report in ``headers`` (any case), or None if none of them is there."""
        found = {
            key.lower(): value for key, value in headers.items() if key.lower().startswith(_PREFIX)
        }
        if not found:
            return None
        return cls(
            max=_header_int(found, f"{_PREFIX}max", 1, 10**9),
            interval_ms=_header_int(
                found, f"{_PREFIX}interval-milliseconds", 1, MAX_ADOPTED_INTERVAL_MS
            ),
            remaining=_header_int(found, f"{_PREFIX}remaining", 0, 10**9),
            daily_remaining=_header_int(found, f"{_PREFIX}daily-remaining", 0, 10**12),
        )

    def limit(self, configured: Limit) -> Limit | None:
        """The limit to adopt, or None if the report names none. A header missing from it
        falls back to the setting for that half only."""
        if self.max is None and self.interval_ms is None:
            return None
        return Limit(self.max or configured.max, self.interval_ms or configured.interval_ms)

    def low_remaining_pause(self, in_force: Limit) -> float | None:
        """Seconds every worker should pause because Remaining ran low, or None.

        ``in_force`` sizes the pause for a half the report leaves out.
        """
        if self.remaining is None:
            return None
        max_ = self.max or in_force.max
        interval_ms = self.interval_ms or in_force.interval_ms
        low = max(1, math.ceil(max_ * LOW_REMAINING_FRACTION))
        if self.remaining >= low:
            return None
        return (low - self.remaining) / max_ * interval_ms / 1000

    @property
    def daily_exhausted(self) -> bool:
        return self.daily_remaining == 0
