"""The numbers every backend shares: the window's headroom, the limit in force, the day.

Pure values and functions; the backends (``local``, ``redis_limiter`` and its Lua) apply
them. The Lua script repeats the window formula, so a change here is a change there too.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import NamedTuple
from zoneinfo import ZoneInfo

from crmsync.conf import CrmSyncSettings, validate
from crmsync.exceptions import ConfigurationError

# HubSpot counts a request when it arrives; we count it when a slot is taken. Between the
# two lie queueing, connection reuse or set-up and network jitter, and that delay varies
# from request to request. A client paced at exactly N per T therefore sometimes lands
# N+1 arrivals inside one of HubSpot's T windows. So the window we enforce is T stretched
# by a margin: any T window at HubSpot then holds only requests taken within T + margin,
# which we allow to hold N at most, as long as the jitter stays under the margin (250 ms at
# T = 10 s). The cost is 1 - 1/1.025, about 2.4 % of the ceiling (97.6 % of it stays
# usable). Lowering N by a few percent instead would not be safe: a window-paced client
# sends in bursts one window apart, and jitter between the tail of one burst and the head
# of the next puts more than a few requests of overlap into one server window.
# The floor is for short (sandbox) windows, where 2.5 % is only tens of milliseconds: on a
# loaded 2-core machine, loopback jitter reached ~90 ms, and a 50 ms margin let one or two
# requests in 500 through as 429s where 100 ms let none.
# A slot whose request has been answered needs no margin: HubSpot counted the request
# before it answered, so the slot may free one interval after the answer was read (plus any
# widened headroom) when that comes sooner than the margin allows (``answered_stamp``).
# On a fast answer (the sandbox's 10-30 ms) that gives back most of the margin; on HubSpot's
# own, slower answers the margin usually frees the slot first and nothing changes.
HEADROOM_FRACTION = 0.025
HEADROOM_MIN_SECONDS = 0.1
# A 429 despite the headroom means requests took longer than it to reach HubSpot (a loaded
# host, many threads): every worker widens the headroom by one more step, up to a cap, and
# the widening lapses after a quiet spell. Throughput drops by a couple of percent while it
# lasts; a 429 costs more.
HEADROOM_STEP_FRACTION = 0.025
HEADROOM_MAX_EXTRA_FRACTION = 0.2
HEADROOM_EXTRA_TTL_SECONDS = 600.0

# A limit adopted from headers is shared this long, refreshed while responses keep
# reporting it, and forgotten (back to the settings) when they stop.
ADOPTED_LIMIT_TTL_SECONDS = 600.0
ADOPTED_REFRESH_SECONDS = 60.0


class Limit(NamedTuple):
    """``max`` requests per ``interval_ms``, before the pacing headroom."""

    max: int
    interval_ms: int


class Slot(NamedTuple):
    """A slot taken: hand it to ``RateLimiter.answered`` once HubSpot has answered."""

    #: The backend's name for the slot (the Redis member, or the local window's key).
    key: str
    #: The interval in force when it was taken, in ms.
    interval_ms: int


class Wait(NamedTuple):
    """No slot now: try again in ``seconds``; ``reason`` is "window" or "cool-down"."""

    seconds: float
    reason: str


def combine(configured: Limit, adopted: Limit | None) -> Limit:
    """The limit in force: what HubSpot last reported for this app (higher or lower than
    the settings: a Professional account left on the Starter default speeds up to 190),
    else the settings. Other apps sharing the budget show in Remaining, which slows us."""
    return configured if adopted is None else adopted


def window_seconds(interval_ms: int, extra_seconds: float = 0.0) -> float:
    """The window enforced for ``interval_ms``: the interval plus the headroom."""
    return interval_ms / 1000 + margin_seconds(interval_ms) + extra_seconds


def margin_seconds(interval_ms: int) -> float:
    """The pacing headroom for ``interval_ms`` before any widening: max(2.5 %, 100 ms)."""
    return max(interval_ms / 1000 * HEADROOM_FRACTION, HEADROOM_MIN_SECONDS)


def answered_stamp(answered_at: float, interval_ms: int) -> float:
    """The stamp a slot takes once its request was answered at ``answered_at`` (the caller
    keeps the earlier of this and the take): the window, which adds the margin back, then
    ends one interval (plus any widening) after the answer. HubSpot counted the request on
    arrival, which came before its answer, so any interval at HubSpot holding the next
    request taken then misses this one, whatever the network's jitter."""
    return answered_at - margin_seconds(interval_ms)


def headroom_step(interval_ms: int) -> tuple[int, int]:
    """(step, cap) of the extra headroom in ms for a window of ``interval_ms``."""
    step = max(round(interval_ms * HEADROOM_STEP_FRACTION), round(HEADROOM_MIN_SECONDS * 1000))
    return step, max(step, round(interval_ms * HEADROOM_MAX_EXTRA_FRACTION))


def next_midnight(now: datetime) -> datetime:
    """The next local midnight after aware ``now``, in ``now``'s zone.

    Round-tripping through UTC settles a midnight that a DST change skips (the day then
    starts at the jump).
    """
    tz = now.tzinfo
    naive = datetime.combine(now.date() + timedelta(days=1), dt_time(0))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


class Configured(NamedTuple):
    """The limiter's settings, checked."""

    limit: Limit
    daily_cap: int
    zone: ZoneInfo


_SETTINGS = (
    "RATE_LIMIT_MAX",
    "RATE_LIMIT_INTERVAL_SECONDS",
    "RATE_LIMIT_DAILY",
    "ACCOUNT_TIME_ZONE",
)


def configured(settings: CrmSyncSettings) -> Configured:
    """The rate-limit settings, checked by crmsync's one validator (ConfigurationError)."""
    problems = [p for p in validate(dataclasses.asdict(settings)) if p.is_error]
    mine = [p.message for p in problems if p.key in _SETTINGS]
    if mine:
        raise ConfigurationError(" ".join(mine))
    zone = ZoneInfo(settings.ACCOUNT_TIME_ZONE)
    limit = Limit(
        settings.RATE_LIMIT_MAX, max(1, round(settings.RATE_LIMIT_INTERVAL_SECONDS * 1000))
    )
    return Configured(limit, settings.RATE_LIMIT_DAILY, zone)
