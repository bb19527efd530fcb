"""HubSpot's rate limits: a rolling window, a daily cap, and search's own per-second limit."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one request's check: allowed, or the policy that refused it."""

    policy: str | None
    retry_after: int
    window_max: int
    window_remaining: int
    interval_ms: int
    daily_max: int
    daily_remaining: int

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-HubSpot-RateLimit-Max", str(self.window_max)),
            ("X-HubSpot-RateLimit-Remaining", str(self.window_remaining)),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(self.interval_ms)),
            ("X-HubSpot-RateLimit-Daily", str(self.daily_max)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(self.daily_remaining)),
        ]


class RateLimiter:
    """Counts every allowed request; refused ones (429) do not count, as at HubSpot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day = datetime.now(UTC).date()
        self._daily_used = 0
        #: The most requests seen inside one rolling window.
        self.max_in_window = 0

    def reset(self) -> None:
        with self._lock:
            self._window.clear()
            self._search.clear()
            self._daily_used = 0
            self.max_in_window = 0

    @property
    def daily_used(self) -> int:
        return self._daily_used

    def check(self, window_max: int, interval_ms: int, daily_max: int) -> Verdict:
        now = time.monotonic()
        interval = interval_ms / 1000.0
        with self._lock:
            today = datetime.now(UTC).date()
            if today != self._day:
                self._day, self._daily_used = today, 0
            window = self._window
            horizon = now - interval
            while window and window[0] <= horizon:
                window.popleft()
            policy: str | None = None
            retry_after = 0
            if self._daily_used >= daily_max:
                policy = DAILY
                midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
                retry_after = max(1, math.ceil((midnight - datetime.now(UTC)).total_seconds()))
            elif len(window) >= window_max:
                policy = TEN_SECONDLY
                retry_after = max(1, math.ceil(window[len(window) - window_max] - horizon))
            else:
                window.append(now)
                self._daily_used += 1
                if len(window) > self.max_in_window:
                    self.max_in_window = len(window)
            return Verdict(
                policy=policy,
                retry_after=retry_after,
                window_max=window_max,
                window_remaining=max(0, window_max - len(window)),
                interval_ms=interval_ms,
                daily_max=daily_max,
                daily_remaining=max(0, daily_max - self._daily_used),
            )

    def check_search(self, per_second: int) -> bool:
        """True when a search request may go ahead (its own limit, about 5 per second)."""
        now = time.monotonic()
        with self._lock:
            search = self._search
            while search and search[0] <= now - 1.0:
                search.popleft()
            if len(search) >= per_second:
                return False
            search.append(now)
            return True
