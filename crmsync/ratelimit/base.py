"""What every limiter does, whatever holds its state: wait for a slot, learn from headers.

A backend provides the state operations (take a slot, extend the cool-down, adopt a
limit, ...); this base class turns them into the public calls the client makes.
"""

from __future__ import annotations

import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime

from crmsync.conf import CrmSyncSettings

from .errors import RateLimiterUnavailableError, RateLimitWaitTimeoutError
from .headers import HeaderReport
from .policy import Limit, Slot, Wait, configured, next_midnight

logger = logging.getLogger(__name__)

# Waiting never sleeps longer than this at a stretch, so a waiter notices a reset or an
# expired adoption; the small random wake-up offset spreads waiters that all target the
# same freed slot.
_MAX_SLEEP_SECONDS = 1.0
_MIN_SLEEP_SECONDS = 0.001
_WAKE_JITTER_SECONDS = 0.002


class RateLimiter(ABC):
    """Paces requests to HubSpot. One object per process and settings; thread-safe.

    Use :func:`get_rate_limiter` rather than building one.
    """

    def __init__(self, settings: CrmSyncSettings) -> None:
        checked = configured(settings)
        self._zone = checked.zone
        self._configured = checked.limit
        self._daily_cap = checked.daily_cap
        # (date key, next local midnight, its epoch seconds); swapped whole, so thread-safe.
        self._day: tuple[str, datetime, float] | None = None
        # Last limit seen in force; only to size the Remaining slowdown without a round trip.
        self._last_limit = self._configured

    # -- what the backends provide ---------------------------------------------------------

    @abstractmethod
    def _attempt(self) -> Wait | Slot:
        """Take a slot or say how long to wait; raise DailyLimitExhaustedError."""

    @abstractmethod
    def _release_early(self, slot: Slot) -> None:
        """Let ``slot`` free one interval from now if that is sooner (see ``answered``)."""

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
    def _adopt(self, adopted: Limit) -> None: ...

    @abstractmethod
    def current_limit(self) -> tuple[int, float]:
        """``(max, interval_seconds)`` in force now (before the pacing headroom)."""

    @abstractmethod
    def reset(self) -> None:
        """Forget this limiter's shared state: window, cool-down, adoption, daily count."""

    def available(self) -> bool:
        """Whether the backend answers now (the in-process one always does)."""
        return True

    # -- public API ------------------------------------------------------------------------

    def wait_until_available(self, seconds: float, poll: float = 0.25) -> bool:
        """Wait up to ``seconds`` for the backend to answer again; whether it does."""
        deadline = time.monotonic() + seconds
        while not self.available():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll, left))
        return True

    def acquire(self, deadline: float | None = None) -> Slot:
        """Block until a request may be sent; the slot taken, for :meth:`answered`.

        ``deadline`` is a ``time.monotonic()`` value; if the next slot lies beyond it,
        :class:`RateLimitWaitTimeoutError` is raised at once rather than after waiting.
        Raises :class:`DailyLimitExhaustedError` without waiting when the day's allowance
        is used up, and :class:`RateLimiterUnavailableError` when Redis cannot be reached.
        """
        while True:
            wait = self._attempt()
            if isinstance(wait, Slot):
                return wait
            now = time.monotonic()
            if deadline is not None and now + wait.seconds > deadline:
                raise RateLimitWaitTimeoutError(wait.seconds, wait.reason)
            pause = min(wait.seconds, _MAX_SLEEP_SECONDS) + random.uniform(0, _WAKE_JITTER_SECONDS)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - now))
            time.sleep(max(pause, _MIN_SLEEP_SECONDS))

    def answered(self, slot: Slot) -> None:
        """HubSpot answered the request sent in ``slot``: it was counted before now, so the
        slot frees one interval from now unless its headroom frees it sooner. (The headroom
        covers the unknown delay between taking a slot and HubSpot counting the request;
        once the answer is in, that delay is bounded.) Call it as soon as the answer is
        read; a request without an answer (timeout, dropped connection) keeps the headroom.
        Never raises for a backend failure."""
        try:
            self._release_early(slot)
        except RateLimiterUnavailableError as exc:
            logger.debug("could not free the slot early: %s", exc)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Tune the limiter from one HubSpot response's ``X-HubSpot-RateLimit-*`` headers.

        Missing or malformed headers are ignored. Never raises for a backend failure
        (the next ``acquire`` will).
        """
        report = HeaderReport.parse(headers)
        if report is None:
            return
        try:
            self._apply(report)
        except RateLimiterUnavailableError as exc:
            logger.warning("could not record HubSpot's rate-limit headers: %s", exc)

    def _apply(self, report: HeaderReport) -> None:
        adopted = report.limit(self._configured)
        if adopted is not None:
            self._adopt(adopted)
        pause = report.low_remaining_pause(self._last_limit)
        if pause is not None:
            logger.debug(
                "HubSpot reports %d of %d requests left; pausing %.3f s",
                report.remaining,
                report.max or self._last_limit.max,
                pause,
            )
            self._extend_cool_down(pause)
        if report.daily_exhausted:
            resume_at = self._next_reset()
            logger.warning(
                "HubSpot reports the daily request limit used up; pausing until %s",
                resume_at.isoformat(),
            )
            self._mark_daily_exhausted(resume_at)

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
        """(account-local date key, next local midnight); recomputed once a day. The day is
        read from the shared clock (:meth:`_shared_now`) and counted down on this process's
        monotonic clock, so a host whose clock is off neither keys its requests to another
        day nor pauses a day too long for a limit hit just before midnight."""
        day = self._day
        if day is None or time.monotonic() >= day[2]:
            try:
                now, shared = self._shared_now().astimezone(self._zone), True
            except RateLimiterUnavailableError:  # this process's clock, this once
                now, shared = datetime.now(self._zone), False
            reset = next_midnight(now)
            day = (now.date().isoformat(), reset, time.monotonic() + (reset - now).total_seconds())
            if not shared:
                return day[0], day[1]
            self._day = day
        return day[0], day[1]

    def _shared_now(self) -> datetime:
        """Now by the clock every worker shares; this process's own for a local limiter."""
        return datetime.now(UTC)

    def _next_reset(self) -> datetime:
        return self._today()[1]

    def _note_limit(self, limit: Limit) -> None:
        if limit != self._last_limit:
            logger.info(
                "rate limit in force: %d requests per %.3f s", limit.max, limit.interval_ms / 1000
            )
            self._last_limit = limit
