"""crmsync's errors, grouped by what the caller should do next.

- ``ConfigurationError``: fix the settings. It sits outside the HubSpot tree on purpose, so no
  retry loop that catches ``HubSpotError`` can swallow it. It is also Django's
  ``ImproperlyConfigured``, so a host project that catches that catches crmsync's too.
- ``RetryLaterError`` (rate limited, locked, 5xx, connection refused): nothing was written;
  try the same rows again later.
- ``OutcomeUnknownError`` (timeout or dropped connection after the body was sent): HubSpot may
  have written the records. Reconcile before creating again.
- ``RejectedError`` (400, 409, other 4xx): HubSpot refused the request; retrying it as it is
  will fail the same way.
- ``PipelineHaltError`` (401, 403): no request will succeed until an operator acts.

Every HubSpot error carries the HTTP status, HubSpot's category, message and correlation id.
None of them ever carries the access token: messages are built from HubSpot's answer only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .settings_rules import Problem

_EXISTING_ID_RE = re.compile(r"Existing ID:\s*(\d+)")


def existing_id(message: str) -> str | None:
    """HubSpot's 409 message "Contact already exists. Existing ID: 12345" -> "12345".
    Parsed from the message, not the category: both 409 shapes carry it there."""
    match = _EXISTING_ID_RE.search(message or "")
    return match.group(1) if match else None


class CrmSyncError(Exception):
    """Base of every crmsync error."""


class ConfigurationError(CrmSyncError, ImproperlyConfigured):
    """crmsync is not configured to talk to HubSpot (no token, bad URL, bad setting).

    ``problems`` holds what ``crmsync.conf.validate`` found, when the error came from it."""

    def __init__(self, message: str, *, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class HubSpotError(CrmSyncError):
    """An answer (or the lack of one) from HubSpot that the request did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str = "",
        sub_category: str = "",
        correlation_id: str = "",
        body: Any = None,
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category
        self.sub_category = sub_category
        self.correlation_id = correlation_id
        self.body = body
        self.method = method
        self.url = url
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else "no response"]
        if self.category:
            parts.append(self.category)
        text = f"{' '.join(parts)}: {self.message}"
        if self.correlation_id:
            text += f" (correlation id {self.correlation_id})"
        return text


class RetryLaterError(HubSpotError):
    """Nothing was written; the same request may succeed later."""


class RateLimitedError(RetryLaterError):
    """429. ``policy_name`` is TEN_SECONDLY_ROLLING, DAILY, or empty when HubSpot gave none."""

    def __init__(self, message: str, *, policy_name: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.policy_name = policy_name

    @property
    def is_daily(self) -> bool:
        return self.policy_name.upper() == "DAILY"


class LockedError(RetryLaterError):
    """423 Locked: HubSpot is busy with heavy writes; wait at least 2 seconds."""


class ServerError(RetryLaterError):
    """5xx, or 477 Migration in Progress: HubSpot failed before doing the work."""


class ConnectionFailedError(RetryLaterError):
    """The connection could not be made, so the request was never sent."""


class OutcomeUnknownError(HubSpotError):
    """The request was sent but no answer came back: HubSpot may have written the records."""


class RejectedError(HubSpotError):
    """HubSpot refused the request (400, 404, 409, other 4xx); retrying as is fails again."""


class ConflictError(RejectedError):
    """409: a contact with this email already exists. ``existing_id`` when HubSpot names it."""

    @property
    def existing_id(self) -> str | None:
        return existing_id(self.message)


class EndpointNotFoundError(HubSpotError, ConfigurationError):
    """404 for a batch request as a whole: HubSpot serves no such path, so CRMSYNC's
    API_VERSION or API_BASE_URL is wrong. No row's data is at fault and none is tried."""


class UniquePropertyError(EndpointNotFoundError):
    """400 for a whole batch/upsert because ``UNIQUE_PROPERTY`` does not exist in HubSpot or
    is not unique: no row is at fault and none would go through; the run stops as for a
    wrong path (``manage.py crmsync_unique_property --create`` makes the property)."""


class PipelineHaltError(HubSpotError):
    """401 or 403: every request will fail until an operator fixes the token or its scopes."""


class AuthenticationError(PipelineHaltError):
    """401 INVALID_AUTHENTICATION / EXPIRED_AUTHENTICATION."""

    #: The credentials' token the 401 answered (a redacted ``crmsync.credentials.Secret``),
    #: for the client to ask them for a newer one; None when no request was sent.
    bearer_used: Any = None


class MissingScopesError(PipelineHaltError):
    """403 MISSING_SCOPES: the token lacks crm.objects.contacts.write (or read)."""
