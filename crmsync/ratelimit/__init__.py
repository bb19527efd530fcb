"""The rate limiter every request to HubSpot goes through.

One limit is shared by every worker on every host: with ``REDIS_URL`` set, all state (the
rolling window, the cool-down, the limit adopted from HubSpot's headers, the daily count)
lives in Redis under ``<REDIS_KEY_PREFIX>:ratelimit:``. Without it, an in-process limiter
serves one process. If Redis is configured but unreachable, ``acquire`` raises rather than
letting workers send unmetered.

The modules, bottom up:

- ``errors``: why no request may be sent now;
- ``policy``: the headroom, the limit in force, the checked settings (pure);
- ``headers``: one response's ``X-HubSpot-RateLimit-*`` headers read into a report;
- ``base``: waiting for a slot and acting on reports, whatever the backend;
- ``local``: the in-process backend (a dict of the slots held, under a lock);
- ``lua``, ``redis_connection``, ``redis_limiter``: the shared backend on Redis;
- ``perprocess``: caches a forked child never inherits; ``factory``: which limiter to use.

``crmsync.runtime`` builds on this package; nothing here imports it.
"""

from __future__ import annotations

from .base import RateLimiter
from .errors import (
    DailyLimitExhaustedError,
    RateLimiterError,
    RateLimiterUnavailableError,
    RateLimitWaitTimeoutError,
)
from .factory import build_rate_limiter, get_rate_limiter
from .local import LocalRateLimiter

# Not in __all__ (as before the split), but imported by the tests and the benchmark.
from .policy import HEADROOM_FRACTION as HEADROOM_FRACTION
from .policy import HEADROOM_MIN_SECONDS as HEADROOM_MIN_SECONDS
from .redis_limiter import RedisRateLimiter

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
