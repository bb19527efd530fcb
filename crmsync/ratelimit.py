"""The rate limiter every request to HubSpot goes through.

One limit is shared by every worker on every host: with ``REDIS_URL`` set, all state (the
rolling window, the cool-down, the limit adopted from HubSpot's headers, the daily count)
lives in Redis under ``<REDIS_KEY_PREFIX>:ratelimit:``. Without it, an in-process limiter
serves one process. If Redis is configured but unreachable, ``acquire`` raises rather than
letting workers send unmetered.

Why not ``limits``' moving window on Redis: its Redis storage expires the window with
``EXPIRE`` (whole seconds only, so neither the headroom below nor HubSpot's
millisecond interval can be expressed), stamps entries with each client's own clock (skew
between hosts lands straight in the window), and checks one window per call, so honouring
the shared cool-down, the adopted limit and the daily cap would cost two to four round trips
or race. One Lua script here does all of it atomically in one round trip, on Redis' clock.
The in-process limiter does use ``limits``' memory storage for its window.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import NamedTuple, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from django.core.exceptions import ImproperlyConfigured
from limits.storage import MemoryStorage
from redis.backoff import NoBackoff
from redis.retry import Retry

from crmsync.conf import CrmSyncSettings, get_settings

logger = logging.getLogger(__name__)

__all__ = [
    "DailyLimitExhaustedError",
    "LocalRateLimiter",
    "RateLimitWaitTimeoutError",
    "RateLimiter",
    "RateLimiterError",
    "RateLimiterUnavailableError",
    "RedisRateLimiter",
    "build_rate_limiter",
    "get_rate_limiter",
]

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
HEADROOM_FRACTION = 0.025
HEADROOM_MIN_SECONDS = 0.1
# A 429 despite the headroom means requests took longer than it to reach HubSpot (a loaded
# host, many threads): every worker widens the headroom by one more step, up to a cap, and
# the widening lapses after a quiet spell. Throughput drops by a couple of percent while it
# lasts; a 429 costs more.
HEADROOM_STEP_FRACTION = 0.025
HEADROOM_MAX_EXTRA_FRACTION = 0.2
HEADROOM_EXTRA_TTL_SECONDS = 600.0

# HubSpot's Remaining header is the truth about its window, including requests we did not
# meter (another process using the same app, a retried request counted twice). Below this
# share of Max, every worker pauses for as long as HubSpot needs, at the limit's average
# rate, to free the missing slots: at 0 of 100 per 10 s, 0.5 s. When our own pacing is what
# drains Remaining, the pause costs no throughput: the window is full anyway, and the
# slots that free meanwhile are taken when the pause ends.
LOW_REMAINING_FRACTION = 0.05

# A limit adopted from headers is shared this long, refreshed while responses keep
# reporting it, and forgotten (back to the settings) when they stop.
ADOPTED_LIMIT_TTL_SECONDS = 600.0
_ADOPTED_REFRESH_SECONDS = 60.0
# Headers beyond these are taken as malformed rather than obeyed.
_MAX_ADOPTED_INTERVAL_MS = 86_400_000

# Waiting never sleeps longer than this at a stretch, so a waiter notices a reset or an
# expired adoption; the small random wake-up offset spreads waiters that all target the
# same freed slot.
_MAX_SLEEP_SECONDS = 1.0
_MIN_SLEEP_SECONDS = 0.001
_WAKE_JITTER_SECONDS = 0.002

# Redis: fail fast. A worker that cannot reach the shared limiter stops sending; waiting
# for Redis longer than this only delays that decision. One immediate retry covers a
# pooled connection the server closed while idle.
_REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
_REDIS_SOCKET_TIMEOUT_SECONDS = 0.5
# The window list keeps at least this many entries, so that during a rolling change of
# RATE_LIMIT_MAX a process configured lower never trims away entries one configured
# higher still counts.
_MIN_WINDOW_ENTRIES_KEPT = 1000
_DAILY_COUNTER_TTL_MS = 2 * 86_400_000


class RateLimiterError(Exception):
    """Base class: no request may be sent now."""


class RateLimiterUnavailableError(RateLimiterError):
    """The shared limiter (Redis) cannot be reached; stop sending rather than exceed the limit."""

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(
            f"rate limiter backend {backend} is unavailable ({detail}); "
            "not sending to HubSpot until it is back"
        )

    def __reduce__(self) -> tuple[type[RateLimiterUnavailableError], tuple[str, str]]:
        return (type(self), (self.backend, self.detail))


class DailyLimitExhaustedError(RateLimiterError):
    """The account's daily request allowance is used up until ``resume_at``."""

    def __init__(self, resume_at: datetime) -> None:
        self.resume_at = resume_at
        super().__init__(
            f"HubSpot daily request limit reached; sending resumes at {resume_at.isoformat()}"
        )

    def __reduce__(self) -> tuple[type[DailyLimitExhaustedError], tuple[datetime]]:
        return (type(self), (self.resume_at,))


class RateLimitWaitTimeoutError(RateLimiterError):
    """No slot frees before the caller's deadline."""

    def __init__(self, wait_seconds: float, reason: str) -> None:
        #: How long from the moment of raising until the next slot was expected.
        self.wait_seconds = wait_seconds
        #: What held the request back: "window" or "cool-down".
        self.reason = reason
        super().__init__(
            f"no rate-limit slot before the deadline: the next one ({reason}) "
            f"is {wait_seconds:.3f} s away"
        )

    def __reduce__(self) -> tuple[type[RateLimitWaitTimeoutError], tuple[float, str]]:
        return (type(self), (self.wait_seconds, self.reason))


class _Wait(NamedTuple):
    seconds: float
    reason: str


class _Adopted(NamedTuple):
    max: int
    interval_ms: int


def _next_midnight(now: datetime) -> datetime:
    """The next local midnight after aware ``now``, in ``now``'s zone.

    Round-tripping through UTC settles a midnight that a DST change skips (the day then
    starts at the jump).
    """
    tz = now.tzinfo
    naive = datetime.combine(now.date() + timedelta(days=1), dt_time(0))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _combine(configured: _Adopted, adopted: _Adopted | None) -> _Adopted:
    """The limit in force: what HubSpot last reported for this app (higher or lower than
    the settings: a Professional account left on the Starter default speeds up to 190),
    else the settings. Other apps sharing the budget show in Remaining, which slows us."""
    return configured if adopted is None else adopted


def _window_seconds(interval_ms: int, extra_seconds: float = 0.0) -> float:
    interval = interval_ms / 1000
    return interval + max(interval * HEADROOM_FRACTION, HEADROOM_MIN_SECONDS) + extra_seconds


def _headroom_step(interval_ms: int) -> tuple[int, int]:
    """(step, cap) of the extra headroom in ms for a window of ``interval_ms``."""
    step = max(round(interval_ms * HEADROOM_STEP_FRACTION), round(HEADROOM_MIN_SECONDS * 1000))
    return step, max(step, round(interval_ms * HEADROOM_MAX_EXTRA_FRACTION))


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


class RateLimiter(ABC):
    """Paces requests to HubSpot. One object per process and settings; thread-safe.

    Use :func:`get_rate_limiter` rather than building one.
    """

    def __init__(self, settings: CrmSyncSettings) -> None:
        if not isinstance(settings.RATE_LIMIT_MAX, int) or settings.RATE_LIMIT_MAX < 1:
            raise ImproperlyConfigured("CRMSYNC['RATE_LIMIT_MAX'] must be an integer >= 1")
        if not settings.RATE_LIMIT_INTERVAL_SECONDS > 0:
            raise ImproperlyConfigured("CRMSYNC['RATE_LIMIT_INTERVAL_SECONDS'] must be > 0")
        if not isinstance(settings.RATE_LIMIT_DAILY, int) or settings.RATE_LIMIT_DAILY < 0:
            raise ImproperlyConfigured(
                "CRMSYNC['RATE_LIMIT_DAILY'] must be an integer >= 0 (0 turns it off)"
            )
        try:
            self._zone = ZoneInfo(settings.ACCOUNT_TIME_ZONE)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"CRMSYNC['ACCOUNT_TIME_ZONE'] {settings.ACCOUNT_TIME_ZONE!r} is not a known "
                "time zone"
            ) from exc
        self._configured = _Adopted(
            settings.RATE_LIMIT_MAX, max(1, round(settings.RATE_LIMIT_INTERVAL_SECONDS * 1000))
        )
        self._daily_cap = settings.RATE_LIMIT_DAILY
        # (date key, next local midnight, its epoch seconds); swapped whole, so thread-safe.
        self._day: tuple[str, datetime, float] | None = None
        # Last limit seen in force; only to size the Remaining slowdown without a round trip.
        self._last_limit = self._configured

    # -- what the backends provide ---------------------------------------------------------

    @abstractmethod
    def _attempt(self) -> _Wait | None:
        """Take a slot (None) or say how long to wait; raise DailyLimitExhaustedError."""

    @abstractmethod
    def _extend_cool_down(self, seconds: float) -> None: ...

    @abstractmethod
    def _widen_headroom(self) -> None:
        """Widen every worker's headroom by one step (after a 429 in spite of it)."""

    @abstractmethod
    def extra_headroom(self) -> float:
        """Seconds added to the window's headroom by 429s, now."""

    @abstractmethod
    def _mark_daily_exhausted(self, resume_at: datetime) -> None: ...

    @abstractmethod
    def _adopt(self, adopted: _Adopted) -> None: ...

    @abstractmethod
    def current_limit(self) -> tuple[int, float]:
        """``(max, interval_seconds)`` in force now (before the pacing headroom)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget this limiter's shared state: window, cool-down, adoption, daily count."""

    # -- public API ------------------------------------------------------------------------

    def acquire(self, deadline: float | None = None) -> None:
        """Block until a request may be sent.

        ``deadline`` is a ``time.monotonic()`` value; if the next slot lies beyond it,
        :class:`RateLimitWaitTimeoutError` is raised at once rather than after waiting.
        Raises :class:`DailyLimitExhaustedError` without waiting when the day's allowance
        is used up, and :class:`RateLimiterUnavailableError` when Redis cannot be reached.
        """
        while True:
            wait = self._attempt()
            if wait is None:
                return
            now = time.monotonic()
            if deadline is not None and now + wait.seconds > deadline:
                raise RateLimitWaitTimeoutError(wait.seconds, wait.reason)
            pause = min(wait.seconds, _MAX_SLEEP_SECONDS) + random.uniform(0, _WAKE_JITTER_SECONDS)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - now))
            time.sleep(max(pause, _MIN_SLEEP_SECONDS))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Tune the limiter from one HubSpot response's ``X-HubSpot-RateLimit-*`` headers.

        Missing or malformed headers are ignored. Never raises for a backend failure
        (the next ``acquire`` will).
        """
        found = {
            key.lower(): value
            for key, value in headers.items()
            if key.lower().startswith("x-hubspot-ratelimit-")
        }
        if not found:
            return
        reported_max = _header_int(found, "x-hubspot-ratelimit-max", 1, 10**9)
        reported_interval = _header_int(
            found, "x-hubspot-ratelimit-interval-milliseconds", 1, _MAX_ADOPTED_INTERVAL_MS
        )
        remaining = _header_int(found, "x-hubspot-ratelimit-remaining", 0, 10**9)
        daily_remaining = _header_int(found, "x-hubspot-ratelimit-daily-remaining", 0, 10**12)

        try:
            if reported_max is not None or reported_interval is not None:
                self._adopt(
                    _Adopted(
                        reported_max or self._configured.max,
                        reported_interval or self._configured.interval_ms,
                    )
                )
            if remaining is not None:
                max_ = reported_max or self._last_limit.max
                interval_ms = reported_interval or self._last_limit.interval_ms
                low = max(1, math.ceil(max_ * LOW_REMAINING_FRACTION))
                if remaining < low:
                    pause = (low - remaining) / max_ * interval_ms / 1000
                    logger.debug(
                        "HubSpot reports %d of %d requests left; pausing %.3f s",
                        remaining,
                        max_,
                        pause,
                    )
                    self._extend_cool_down(pause)
            if daily_remaining == 0:
                resume_at = self._next_reset()
                logger.warning(
                    "HubSpot reports the daily request limit used up; pausing until %s",
                    resume_at.isoformat(),
                )
                self._mark_daily_exhausted(resume_at)
        except RateLimiterUnavailableError as exc:
            logger.warning("could not record HubSpot's rate-limit headers: %s", exc)

    def cool_down(self, seconds: float) -> None:
        """Stop every worker for ``seconds`` (after a TEN_SECONDLY_ROLLING 429).

        A longer cool-down already in force is kept. Never raises for a backend failure.
        """
        if not seconds > 0 or math.isinf(seconds):
            return
        logger.info("rate limit cool-down for %.3f s", seconds)
        try:
            self._extend_cool_down(seconds)
            self._widen_headroom()
        except RateLimiterUnavailableError as exc:
            logger.warning("could not record the cool-down: %s", exc)

    def exhaust_daily(self, resume_at: datetime | None = None) -> datetime:
        """Stop every worker until ``resume_at`` (after a DAILY 429); return that time.

        Defaults to the next midnight in ``ACCOUNT_TIME_ZONE``, when HubSpot resets the
        daily count. Never raises for a backend failure.
        """
        if resume_at is None:
            resume_at = self._next_reset()
        elif resume_at.tzinfo is None or resume_at.utcoffset() is None:
            raise ValueError("resume_at must be an aware datetime")
        if resume_at.timestamp() <= time.time():
            return resume_at
        logger.warning("daily request limit exhausted; pausing until %s", resume_at.isoformat())
        try:
            self._mark_daily_exhausted(resume_at)
        except RateLimiterUnavailableError as exc:
            logger.warning("could not record the daily exhaustion: %s", exc)
        return resume_at

    # -- helpers ---------------------------------------------------------------------------

    def _today(self) -> tuple[str, datetime]:
        """(account-local date key, next local midnight); recomputed once a day."""
        day = self._day
        if day is None or time.time() >= day[2]:
            now = datetime.now(self._zone)
            reset = _next_midnight(now)
            day = (now.date().isoformat(), reset, reset.timestamp())
            self._day = day
        return day[0], day[1]

    def _next_reset(self) -> datetime:
        return self._today()[1]

    def _note_limit(self, limit: _Adopted) -> None:
        if limit != self._last_limit:
            logger.info(
                "rate limit in force: %d requests per %.3f s", limit.max, limit.interval_ms / 1000
            )
            self._last_limit = limit


class LocalRateLimiter(RateLimiter):
    """In-process limiter (no ``REDIS_URL``): serves the threads of one process only."""

    _WINDOW_KEY = "window"

    def __init__(self, settings: CrmSyncSettings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        self._window = MemoryStorage()
        self._cool_down_until = 0.0  # monotonic
        self._adopted: tuple[_Adopted, float] | None = None  # (limit, monotonic expiry)
        self._exhausted_until: datetime | None = None
        self._count_day = ""
        self._count = 0
        self._extra_headroom = (0.0, 0.0)  # (seconds, monotonic expiry)

    def _in_force(self, now: float) -> _Adopted:
        adopted = self._adopted
        if adopted is not None and adopted[1] <= now:
            self._adopted = adopted = None
        return _combine(self._configured, adopted[0] if adopted else None)

    def _attempt(self) -> _Wait | None:
        with self._lock:
            now = time.monotonic()
            limit = self._in_force(now)
            self._note_limit(limit)
            if self._cool_down_until > now:
                return _Wait(self._cool_down_until - now, "cool-down")
            exhausted = self._exhausted_until
            if exhausted is not None:
                if exhausted.timestamp() > time.time():
                    raise DailyLimitExhaustedError(exhausted)
                self._exhausted_until = None
            day, reset_at = self._today()
            if day != self._count_day:
                self._count_day, self._count = day, 0
            if self._daily_cap and self._count >= self._daily_cap:
                raise DailyLimitExhaustedError(reset_at)
            window = _window_seconds(limit.interval_ms, self._extra_locked(now))
            # limits annotates the expiry as whole seconds, but its memory storage computes
            # with floats, and the headroom needs fractions. (Entries keep the expiry they
            # were taken with; if an adopted interval later grows, entries older than the
            # old window are already gone: a one-window transition, not a steady state.)
            if self._window.acquire_entry(self._WINDOW_KEY, limit.max, window):  # type: ignore[arg-type]
                self._count += 1
                return None
            oldest, _ = self._window.get_moving_window(self._WINDOW_KEY, limit.max, window)  # type: ignore[arg-type]
            # Exact while the window holds max entries. Just after the max was lowered it
            # holds more, and the oldest frees before the one that matters: the retry then
            # waits for the next oldest, one real wait per surplus entry, never a spin.
            return _Wait(oldest + window - time.time(), "window")

    def _extend_cool_down(self, seconds: float) -> None:
        with self._lock:
            self._cool_down_until = max(self._cool_down_until, time.monotonic() + seconds)

    def _extra_locked(self, now: float) -> float:
        extra, expires = self._extra_headroom
        return extra if expires > now else 0.0

    def _widen_headroom(self) -> None:
        with self._lock:
            now = time.monotonic()
            step, cap = _headroom_step(self._in_force(now).interval_ms)
            extra = min(self._extra_locked(now) + step / 1000, cap / 1000)
            self._extra_headroom = (extra, now + HEADROOM_EXTRA_TTL_SECONDS)

    def extra_headroom(self) -> float:
        with self._lock:
            return self._extra_locked(time.monotonic())

    def _mark_daily_exhausted(self, resume_at: datetime) -> None:
        resume_at = resume_at.astimezone(self._zone)
        with self._lock:
            if self._exhausted_until is None or resume_at > self._exhausted_until:
                self._exhausted_until = resume_at

    def _adopt(self, adopted: _Adopted) -> None:
        with self._lock:
            self._adopted = (adopted, time.monotonic() + ADOPTED_LIMIT_TTL_SECONDS)

    def current_limit(self) -> tuple[int, float]:
        with self._lock:
            limit = self._in_force(time.monotonic())
        return limit.max, limit.interval_ms / 1000

    def reset(self) -> None:
        with self._lock:
            self._init_state()
            self._last_limit = self._configured


# One status per outcome of the acquire script; see its header.
_TAKEN, _WINDOW_FULL, _COOLING_DOWN, _EXHAUSTED_UNTIL, _DAILY_CAP_REACHED = range(5)

_ACQUIRE_LUA = """
-- KEYS: 1 window (list of Redis-clock microsecond stamps, newest first), 2 cool-down,
--       3 adopted limit (hash), 4 daily exhausted until (epoch ms), 5 today's daily counter,
--       6 extra headroom ms (widened after 429s)
-- ARGV: 1 configured max, 2 configured interval ms, 3 headroom fraction, 4 minimum headroom ms,
--       5 daily cap (0 = off), 6 daily counter TTL ms, 7 window entries kept
-- Returns {status, value, max, interval ms}: 0 taken; 1 window full, value = ms until a slot
-- frees; 2 cooling down, value = ms left; 3 daily exhausted, value = resume epoch ms;
-- 4 daily cap counted out.
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local adopted = redis.call('HMGET', KEYS[3], 'max', 'interval_ms')
local amax, aint = tonumber(adopted[1]), tonumber(adopted[2])
if amax and amax >= 1 and aint and aint >= 1 then limit = amax; interval = aint end
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then return {2, cool, limit, interval} end
local resume = redis.call('GET', KEYS[4])
if resume then return {3, resume, limit, interval} end
local cap = tonumber(ARGV[5])
if cap > 0 and (tonumber(redis.call('GET', KEYS[5])) or 0) >= cap then
  return {4, 0, limit, interval}
end
-- Redis' clock, not the callers': every host stamps the window with the same one.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local extra = tonumber(redis.call('GET', KEYS[6])) or 0
local window = (interval + math.max(interval * tonumber(ARGV[3]), tonumber(ARGV[4])) + extra) * 1000
local nth = redis.call('LINDEX', KEYS[1], limit - 1)
if nth then
  local free_at = tonumber(nth) + window
  if free_at > now then
    return {1, math.ceil((free_at - now) / 1000), limit, interval}
  end
end
redis.call('LPUSH', KEYS[1], string.format('%.0f', now))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
if cap > 0 and redis.call('INCR', KEYS[5]) == 1 then
  redis.call('PEXPIRE', KEYS[5], ARGV[6])
end
return {0, 0, limit, interval}
"""

# Set KEYS[1] to ARGV[1] for ARGV[2] ms, unless it already lives longer: a short cool-down
# never cuts a longer one short, whichever worker sets it.
_EXTEND_LUA = """
local ms = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
  return 1
end
return 0
"""

# Add ARGV[1] ms to KEYS[1], at most ARGV[2], kept for ARGV[3] ms.
_WIDEN_LUA = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v > tonumber(ARGV[2]) then
  v = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], v)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
"""

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis_client(url: str) -> redis.Redis:
    """One client (connection pool) per URL per process, shared by every limiter on it."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_SECONDS,
                socket_timeout=_REDIS_SOCKET_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 1),
                health_check_interval=30,
            )
            _clients[url] = client
        return client


def _describe_redis(url: str) -> str:
    """``redis://host:port/db`` without credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisRateLimiter(RateLimiter):
    """Limiter shared by every process on every host through Redis."""

    def __init__(self, settings: CrmSyncSettings) -> None:
        super().__init__(settings)
        self._url = settings.REDIS_URL
        self._backend = _describe_redis(settings.REDIS_URL)
        self._password = urlsplit(settings.REDIS_URL).password or ""
        self._redis = _redis_client(settings.REDIS_URL)
        base = f"{settings.REDIS_KEY_PREFIX}:ratelimit"
        self._key_base = base
        self._key_window = f"{base}:window"
        self._key_cool_down = f"{base}:cooldown"
        self._key_limit = f"{base}:limit"
        self._key_exhausted = f"{base}:daily-exhausted"
        self._key_daily = f"{base}:daily:"
        self._key_headroom = f"{base}:headroom"
        self._acquire_script = self._redis.register_script(_ACQUIRE_LUA)
        self._extend_script = self._redis.register_script(_EXTEND_LUA)
        self._widen_script = self._redis.register_script(_WIDEN_LUA)
        # Encoded once: packing the command is a visible share of the hot path's cost.
        self._args = tuple(
            str(arg).encode()
            for arg in (
                self._configured.max,
                self._configured.interval_ms,
                HEADROOM_FRACTION,
                HEADROOM_MIN_SECONDS * 1000,
                self._daily_cap,
                _DAILY_COUNTER_TTL_MS,
                max(self._configured.max, _MIN_WINDOW_ENTRIES_KEPT),
            )
        )
        self._fixed_keys = tuple(
            key.encode()
            for key in (self._key_window, self._key_cool_down, self._key_limit, self._key_exhausted)
        )
        self._daily_keys: tuple[str, bytes] = ("", b"")
        self._headroom_key = self._key_headroom.encode()
        self._adopt_lock = threading.Lock()
        # (what this object last wrote, monotonic time it did): every response repeats the
        # same headers, and one write per refresh period is enough to keep them shared.
        self._last_adopted: tuple[_Adopted, float] | None = None

    def _unavailable(self, exc: redis.RedisError) -> RateLimiterUnavailableError:
        detail = f"{type(exc).__name__}: {exc}"
        if self._password:
            detail = detail.replace(self._password, "***")
        return RateLimiterUnavailableError(self._backend, detail)

    def _attempt(self) -> _Wait | None:
        day, reset_at = self._today()
        daily_keys = self._daily_keys
        if daily_keys[0] != day:
            daily_keys = self._daily_keys = (day, (self._key_daily + day).encode())
        keys = (*self._fixed_keys, daily_keys[1], self._headroom_key)
        try:
            status, value, max_, interval_ms = self._acquire_script(keys=keys, args=self._args)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        self._note_limit(_Adopted(int(max_), int(interval_ms)))
        if status == _TAKEN:
            return None
        if status == _WINDOW_FULL:
            return _Wait(int(value) / 1000, "window")
        if status == _COOLING_DOWN:
            return _Wait(int(value) / 1000, "cool-down")
        if status == _EXHAUSTED_UNTIL:
            raise DailyLimitExhaustedError(datetime.fromtimestamp(int(value) / 1000, self._zone))
        raise DailyLimitExhaustedError(reset_at)

    def _extend(self, key: str, value: str, seconds: float) -> None:
        try:
            self._extend_script(keys=(key,), args=(value, max(1, math.ceil(seconds * 1000))))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def _extend_cool_down(self, seconds: float) -> None:
        self._extend(self._key_cool_down, "1", seconds)

    def _widen_headroom(self) -> None:
        step, cap = _headroom_step(self._last_limit.interval_ms)
        ttl = round(HEADROOM_EXTRA_TTL_SECONDS * 1000)
        try:
            self._widen_script(keys=(self._key_headroom,), args=(step, cap, ttl))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def extra_headroom(self) -> float:
        try:
            raw = self._redis.get(self._key_headroom)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return int(cast(bytes, raw)) / 1000 if raw else 0.0

    def _mark_daily_exhausted(self, resume_at: datetime) -> None:
        resume_ms = round(resume_at.timestamp() * 1000)
        self._extend(self._key_exhausted, str(resume_ms), resume_ms / 1000 - time.time())

    def _adopt(self, adopted: _Adopted) -> None:
        now = time.monotonic()
        with self._adopt_lock:
            last = self._last_adopted
            if last is not None and last[0] == adopted and now - last[1] < _ADOPTED_REFRESH_SECONDS:
                return
            self._last_adopted = (adopted, now)
        if last is None or last[0] != adopted:
            logger.info(
                "HubSpot reports %d requests per %.3f s",
                adopted.max,
                adopted.interval_ms / 1000,
            )
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._key_limit,
                    mapping={"max": adopted.max, "interval_ms": adopted.interval_ms},
                )
                pipe.pexpire(self._key_limit, round(ADOPTED_LIMIT_TTL_SECONDS * 1000))
                pipe.execute()
        except redis.RedisError as exc:
            with self._adopt_lock:
                self._last_adopted = None
            raise self._unavailable(exc) from exc

    def current_limit(self) -> tuple[int, float]:
        try:
            # redis-py types its commands for both its sync and async clients.
            raw = cast(
                list[bytes | None], self._redis.hmget(self._key_limit, ["max", "interval_ms"])
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        adopted = None
        if raw[0] is not None and raw[1] is not None:
            adopted = _Adopted(max(1, int(raw[0])), int(raw[1]))
        limit = _combine(self._configured, adopted)
        return limit.max, limit.interval_ms / 1000

    def reset(self) -> None:
        try:
            daily = list(self._redis.scan_iter(match=f"{self._key_daily}*", count=1000))
            self._redis.delete(
                self._key_window,
                self._key_cool_down,
                self._key_limit,
                self._key_exhausted,
                self._key_headroom,
                *daily,
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        with self._adopt_lock:
            self._last_adopted = None
        self._last_limit = self._configured


def build_rate_limiter(settings: CrmSyncSettings) -> RateLimiter:
    """A new limiter for ``settings`` (uncached; most code wants :func:`get_rate_limiter`)."""
    if settings.REDIS_URL:
        return RedisRateLimiter(settings)
    return LocalRateLimiter(settings)


_limiters: dict[tuple[object, ...], RateLimiter] = {}
_limiters_lock = threading.Lock()


def _cache_key(settings: CrmSyncSettings) -> tuple[object, ...]:
    return (
        settings.REDIS_URL,
        settings.REDIS_KEY_PREFIX,
        settings.RATE_LIMIT_MAX,
        settings.RATE_LIMIT_INTERVAL_SECONDS,
        settings.RATE_LIMIT_DAILY,
        settings.ACCOUNT_TIME_ZONE,
    )


def get_rate_limiter(settings: CrmSyncSettings | None = None) -> RateLimiter:
    """The process's limiter for the current settings (read now, so override_settings works).

    Threads share it; a change to any rate-limit setting gets a new one.
    """
    if settings is None:
        settings = get_settings()
    key = _cache_key(settings)
    limiter = _limiters.get(key)
    if limiter is None:
        with _limiters_lock:
            limiter = _limiters.get(key)
            if limiter is None:
                limiter = _limiters[key] = build_rate_limiter(settings)
    return limiter


def _after_fork_in_child() -> None:
    # A forked child (Celery prefork) must not inherit a lock another thread held at fork
    # time, nor share an in-process window with its parent.
    global _limiters_lock, _clients_lock
    _limiters_lock = threading.Lock()
    _clients_lock = threading.Lock()
    _limiters.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
