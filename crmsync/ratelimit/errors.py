"""The rate limiter's exceptions: each says why no request may be sent now.

They pickle with their details, so a Celery result or a log record carries them whole.
"""

from __future__ import annotations

from datetime import datetime


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
