"""Which limiter a process uses: one per rate-limit settings, made by this process."""

from __future__ import annotations

from crmsync.conf import CrmSyncSettings, get_settings

from .base import RateLimiter
from .local import LocalRateLimiter
from .perprocess import PerProcessCache
from .redis_limiter import RedisRateLimiter


def build_rate_limiter(settings: CrmSyncSettings) -> RateLimiter:
    """A new limiter for ``settings`` (uncached; most code wants :func:`get_rate_limiter`)."""
    if settings.REDIS_URL:
        return RedisRateLimiter(settings)
    return LocalRateLimiter(settings)


# Keyed by the limiter's own settings only: settings that differ elsewhere (batch size,
# token) share one limiter, so a test's reset or a 429's cool-down reaches every client.
_limiters: PerProcessCache[tuple[object, ...], RateLimiter] = PerProcessCache("rate limiters")


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

    Threads share it; a change to any rate-limit setting gets a new one, and so does a
    forked child (see ``perprocess``).
    """
    if settings is None:
        settings = get_settings()
    conf = settings
    return _limiters.get(_cache_key(conf), lambda: build_rate_limiter(conf))
