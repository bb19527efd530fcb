"""Which limiter a process uses: one per rate-limit settings."""

from __future__ import annotations

import os
import threading

from crmsync.conf import CrmSyncSettings, get_settings

from . import redis_connection
from .base import RateLimiter
from .local import LocalRateLimiter
from .redis_limiter import RedisRateLimiter


def build_rate_limiter(settings: CrmSyncSettings) -> RateLimiter:
    """A new limiter for ``settings`` (uncached; most code wants :func:`get_rate_limiter`)."""
    if settings.REDIS_URL:
        return RedisRateLimiter(settings)
    return LocalRateLimiter(settings)


# Keyed by the limiter's own settings only: settings that differ elsewhere (batch size,
# token) share one limiter, so a test's reset or a 429's cool-down reaches every client.
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
    global _limiters_lock
    _limiters_lock = threading.Lock()
    _limiters.clear()
    redis_connection.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
