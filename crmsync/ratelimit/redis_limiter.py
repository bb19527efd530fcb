"""The shared limiter: every process on every host keeps its state in Redis.

All of it lives under ``<REDIS_KEY_PREFIX>:ratelimit:``. Each acquire is one Lua script
(``lua.ACQUIRE_LUA``), one round trip, stamped with Redis' clock. If Redis cannot be
reached, ``acquire`` raises rather than letting workers send unmetered.
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast
from urllib.parse import urlsplit

import redis

from crmsync.conf import CrmSyncSettings

from . import lua
from .base import RateLimiter
from .errors import DailyLimitExhaustedError, RateLimiterUnavailableError
from .policy import (
    ADOPTED_LIMIT_TTL_SECONDS,
    ADOPTED_REFRESH_SECONDS,
    HEADROOM_EXTRA_TTL_SECONDS,
    HEADROOM_FRACTION,
    HEADROOM_MIN_SECONDS,
    Limit,
    Slot,
    Wait,
    combine,
    headroom_step,
    margin_seconds,
    window_seconds,
)
from .redis_connection import describe_redis, redis_client

logger = logging.getLogger(__name__)

_DAILY_COUNTER_TTL_MS = 2 * 86_400_000


@dataclass(frozen=True)
class _Keys:
    """The limiter's Redis keys under one prefix (see docs/ratelimit.md)."""

    slots: str
    cool_down: str
    limit: str
    exhausted: str
    daily: str  # + account-local date
    headroom: str
    alive: str  # present while Redis holds crmsync's state (see lua.ACQUIRE_LUA)

    @classmethod
    def under(cls, prefix: str) -> _Keys:
        base = f"{prefix}:ratelimit"
        return cls(
            # A sorted set since slots free early once answered; the list of takes
            # before that was named "window" (a rolling upgrade counts them apart for one
            # window: docs/ratelimit.md).
            slots=f"{base}:slots",
            cool_down=f"{base}:cooldown",
            limit=f"{base}:limit",
            exhausted=f"{base}:daily-exhausted",
            daily=f"{base}:daily:",
            headroom=f"{base}:headroom",
            alive=f"{base}:alive",
        )


class RedisRateLimiter(RateLimiter):
    """Limiter shared by every process on every host through Redis."""

    def __init__(self, settings: CrmSyncSettings) -> None:
        super().__init__(settings)
        self._backend = describe_redis(settings.REDIS_URL)
        self._password = urlsplit(settings.REDIS_URL).password or ""
        self._redis = redis_client(settings.REDIS_URL)
        self._keys = keys = _Keys.under(settings.REDIS_KEY_PREFIX)
        self._acquire_script = self._redis.register_script(lua.ACQUIRE_LUA)
        self._answered_script = self._redis.register_script(lua.ANSWERED_LUA)
        self._extend_script = self._redis.register_script(lua.EXTEND_LUA)
        self._widen_script = self._redis.register_script(lua.WIDEN_LUA)
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
            )
        )
        # Slot ids: unique per limiter object (one per process, rebuilt after a fork).
        # (itertools.count, not a generator: next() on it is safe from any thread)
        self._slot_tag, self._slot_serials = secrets.token_hex(4), itertools.count()
        self._fixed_keys = tuple(
            key.encode() for key in (keys.slots, keys.cool_down, keys.limit, keys.exhausted)
        )
        # Until this object has talked (or tried to talk) to Redis, a missing "alive" key
        # means a fresh Redis; afterwards, one that lost the state: wait a whole window.
        lost_ms = math.ceil(window_seconds(self._configured.interval_ms) * 1000)
        self._lost_by_seen = {False: b"0", True: str(lost_ms).encode()}
        self._seen = False
        self._daily_keys: tuple[str, bytes] = ("", b"")
        self._tail_keys = (keys.headroom.encode(), keys.alive.encode())
        self._adopt_lock = threading.Lock()
        # (what this object last wrote, monotonic time it did): every response repeats the
        # same headers, and one write per refresh period is enough to keep them shared.
        self._last_adopted: tuple[Limit, float] | None = None

    def _unavailable(self, exc: redis.RedisError) -> RateLimiterUnavailableError:
        detail = f"{type(exc).__name__}: {exc}"
        if self._password:
            detail = detail.replace(self._password, "***")
        return RateLimiterUnavailableError(self._backend, detail)

    def _shared_now(self) -> datetime:
        """Redis's clock (``TIME``), which the acquire script's windows use too."""
        try:
            seconds, micros = cast(tuple[int, int], self._redis.time())
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return datetime.fromtimestamp(seconds + micros / 1_000_000, UTC)

    def _attempt(self) -> Wait | Slot:
        day, reset_at = self._today()
        daily_keys = self._daily_keys
        if daily_keys[0] != day:
            daily_keys = self._daily_keys = (day, (self._keys.daily + day).encode())
        keys = (*self._fixed_keys, daily_keys[1], *self._tail_keys)
        # Seen only once a script has run here: threads making their first calls at once
        # all find the store fresh (marked seen before, a thread racing the first call would
        # take the missing key for lost state and cool every worker down for a window).
        slot_id = f"{self._slot_tag}.{next(self._slot_serials)}".encode()
        args = (*self._args, slot_id, self._lost_by_seen[self._seen])
        try:
            status, value, max_, interval_ms = self._acquire_script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        self._seen = True
        self._note_limit(Limit(int(max_), int(interval_ms)))
        if status == lua.TAKEN:
            member = value.decode() if isinstance(value, bytes) else str(value)
            return Slot(member, int(interval_ms))
        if status == lua.WINDOW_FULL:
            return Wait(int(value) / 1000, "window")
        if status == lua.COOLING_DOWN:
            return Wait(int(value) / 1000, "cool-down")
        if status == lua.EXHAUSTED_UNTIL:
            raise DailyLimitExhaustedError(datetime.fromtimestamp(int(value) / 1000, self._zone))
        raise DailyLimitExhaustedError(reset_at)

    def _release_early(self, slot: Slot) -> None:
        try:
            margin_ms = margin_seconds(slot.interval_ms) * 1000
            self._answered_script(keys=(self._keys.slots,), args=(slot.key, margin_ms))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def _extend(self, key: str, value: str, seconds: float) -> None:
        try:
            self._extend_script(keys=(key,), args=(value, max(1, math.ceil(seconds * 1000))))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def _extend_cool_down(self, seconds: float) -> None:
        self._extend(self._keys.cool_down, "1", seconds)

    def _widen_headroom(self) -> None:
        step, cap = headroom_step(self._last_limit.interval_ms)
        ttl = round(HEADROOM_EXTRA_TTL_SECONDS * 1000)
        try:
            self._widen_script(keys=(self._keys.headroom,), args=(step, cap, ttl))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc

    def available(self) -> bool:
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def extra_headroom(self) -> float:
        try:
            raw = self._redis.get(self._keys.headroom)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return int(cast(bytes, raw)) / 1000 if raw else 0.0

    def _mark_daily_exhausted(self, resume_at: datetime) -> None:
        resume_ms = round(resume_at.timestamp() * 1000)
        self._extend(self._keys.exhausted, str(resume_ms), resume_ms / 1000 - time.time())

    def _adopt(self, adopted: Limit) -> None:
        now = time.monotonic()
        with self._adopt_lock:
            last = self._last_adopted
            if last is not None and last[0] == adopted and now - last[1] < ADOPTED_REFRESH_SECONDS:
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
                    self._keys.limit,
                    mapping={"max": adopted.max, "interval_ms": adopted.interval_ms},
                )
                pipe.pexpire(self._keys.limit, round(ADOPTED_LIMIT_TTL_SECONDS * 1000))
                pipe.execute()
        except redis.RedisError as exc:
            with self._adopt_lock:
                self._last_adopted = None
            raise self._unavailable(exc) from exc

    def current_limit(self) -> tuple[int, float]:
        try:
            # redis-py types its commands for both its sync and async clients.
            raw = cast(
                list[bytes | None], self._redis.hmget(self._keys.limit, ["max", "interval_ms"])
            )
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        adopted = None
        if raw[0] is not None and raw[1] is not None:
            adopted = Limit(max(1, int(raw[0])), int(raw[1]))
        limit = combine(self._configured, adopted)
        return limit.max, limit.interval_ms / 1000

    def reset(self) -> None:
        keys = self._keys
        try:
            daily = list(self._redis.scan_iter(match=f"{keys.daily}*", count=1000))
            self._redis.delete(
                keys.slots, keys.cool_down, keys.limit, keys.exhausted, keys.headroom, *daily
            )
            self._redis.set(keys.alive, "1")  # a reset starts afresh at once, not a lost state
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        with self._adopt_lock:
            self._last_adopted = None
        self._last_limit = self._configured
