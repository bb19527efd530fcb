"""The in-process limiter (no ``REDIS_URL``): the threads of one process share one limit.

Its window is a dict of the slots held (key -> when it frees, on the monotonic clock), so a
slot whose request was answered can free early (``answered``); ``limits``' memory storage,
used before, keeps each entry's expiry fixed. The rest of the state is one small structure,
replaced whole on reset.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from crmsync.conf import CrmSyncSettings

from .base import RateLimiter
from .errors import DailyLimitExhaustedError
from .policy import (
    ADOPTED_LIMIT_TTL_SECONDS,
    HEADROOM_EXTRA_TTL_SECONDS,
    Limit,
    Slot,
    Wait,
    answered_stamp,
    combine,
    headroom_step,
    window_seconds,
)


@dataclass
class _State:
    """Everything one local limiter remembers; times are ``time.monotonic()`` values."""

    #: The slots taken lately: key -> monotonic time taken (earlier once answered: the
    #: window counts from this stamp).
    slots: dict[str, float] = field(default_factory=dict)
    cool_down_until: float = 0.0
    adopted: tuple[Limit, float] | None = None  # (limit, expiry)
    exhausted_until: datetime | None = None
    count_day: str = ""
    count: int = 0
    extra_headroom: tuple[float, float] = (0.0, 0.0)  # (seconds, expiry)


class LocalRateLimiter(RateLimiter):
    """In-process limiter (no ``REDIS_URL``): serves the threads of one process only."""

    def __init__(self, settings: CrmSyncSettings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()
        self._state = _State()
        self._serials = itertools.count(1)

    def _in_force(self, now: float) -> Limit:
        adopted = self._state.adopted
        if adopted is not None and adopted[1] <= now:
            self._state.adopted = adopted = None
        return combine(self._configured, adopted[0] if adopted else None)

    def _attempt(self) -> Wait | Slot:
        with self._lock:
            state = self._state
            now = time.monotonic()
            limit = self._in_force(now)
            self._note_limit(limit)
            if state.cool_down_until > now:
                return Wait(state.cool_down_until - now, "cool-down")
            exhausted = state.exhausted_until
            if exhausted is not None:
                if exhausted.timestamp() > time.time():
                    raise DailyLimitExhaustedError(exhausted)
                state.exhausted_until = None
            day, reset_at = self._today()
            if day != state.count_day:
                state.count_day, state.count = day, 0
            if self._daily_cap and state.count >= self._daily_cap:
                raise DailyLimitExhaustedError(reset_at)
            return self._take(state, limit, window_seconds(limit.interval_ms, self._extra(now)))

    def _take(self, state: _State, limit: Limit, window: float) -> Wait | Slot:
        now = time.monotonic()
        slots = state.slots
        # Kept for two windows, so a headroom widened meanwhile still sees them.
        for key in [key for key, stamp in slots.items() if stamp <= now - 2 * window]:
            del slots[key]
        held = [stamp for stamp in slots.values() if stamp > now - window]
        if len(held) >= limit.max:
            # Just after the max was lowered more than max slots are held: the wait is for
            # the one whose freeing brings the count under the new max.
            held.sort()
            return Wait(held[len(held) - limit.max] + window - now, "window")
        key = str(next(self._serials))  # never reused, not even after a reset
        slots[key] = now
        state.count += 1
        return Slot(key, limit.interval_ms)

    def _release_early(self, slot: Slot) -> None:
        with self._lock:
            stamp = self._state.slots.get(slot.key)
            if stamp is not None:
                early = answered_stamp(time.monotonic(), slot.interval_ms)
                self._state.slots[slot.key] = min(stamp, early)

    def _extend_cool_down(self, seconds: float) -> None:
        with self._lock:
            state = self._state
            state.cool_down_until = max(state.cool_down_until, time.monotonic() + seconds)

    def _extra(self, now: float) -> float:
        """The extra headroom in force at ``now``; call with the lock held."""
        extra, expires = self._state.extra_headroom
        return extra if expires > now else 0.0

    def _widen_headroom(self) -> None:
        with self._lock:
            now = time.monotonic()
            step, cap = headroom_step(self._in_force(now).interval_ms)
            extra = min(self._extra(now) + step / 1000, cap / 1000)
            self._state.extra_headroom = (extra, now + HEADROOM_EXTRA_TTL_SECONDS)

    def extra_headroom(self) -> float:
        with self._lock:
            return self._extra(time.monotonic())

    def _mark_daily_exhausted(self, resume_at: datetime) -> None:
        resume_at = resume_at.astimezone(self._zone)
        with self._lock:
            state = self._state
            if state.exhausted_until is None or resume_at > state.exhausted_until:
                state.exhausted_until = resume_at

    def _adopt(self, adopted: Limit) -> None:
        with self._lock:
            self._state.adopted = (adopted, time.monotonic() + ADOPTED_LIMIT_TTL_SECONDS)

    def current_limit(self) -> tuple[int, float]:
        with self._lock:
            limit = self._in_force(time.monotonic())
        return limit.max, limit.interval_ms / 1000

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self._last_limit = self._configured
