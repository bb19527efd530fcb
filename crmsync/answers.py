"""HubSpot's HTTP answers read: a JSON body, a Retry-After, and every error status or transport
failure turned into the exceptions of ``crmsync.exceptions``. Plain functions of a
``requests`` response; nothing here knows a model or a setting."""

from __future__ import annotations

from typing import Any

import requests
import urllib3.exceptions

from .exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectionFailedError,
    EndpointNotFoundError,
    HubSpotError,
    LockedError,
    MissingScopesError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    ServerError,
)

LOCKED_MIN_WAIT_SECONDS = 2.0


def parse_json(response: requests.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        parsed = response.json()
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare here; fall back to our own backoff


def http_error(
    response: requests.Response,
    body: dict[str, Any] | None,
    correlation_id: str,
    method: str,
    path: str,
) -> HubSpotError:
    status = response.status_code
    body = body or {}
    message = str(body.get("message") or response.reason or f"HTTP {status}")
    category = str(body.get("category") or body.get("errorType") or "")
    kwargs: dict[str, Any] = {
        "status": status,
        "category": category,
        "sub_category": str(body.get("subCategory") or ""),
        "correlation_id": str(body.get("correlationId") or correlation_id),
        "body": body,
        "method": method,
        "url": path,
        "retry_after": _retry_after(response),
    }
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return MissingScopesError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, policy_name=str(body.get("policyName") or ""), **kwargs)
    if status == 423:
        kwargs["retry_after"] = max(kwargs["retry_after"] or 0.0, LOCKED_MIN_WAIT_SECONDS)
        return LockedError(message, **kwargs)
    if status == 477 or status >= 500:
        return ServerError(message, **kwargs)
    if status == 409:
        return ConflictError(message, **kwargs)
    if status == 404 and method == "POST":
        # Missing records come back as 207 OBJECT_NOT_FOUND; a 404 for the whole request
        # means the path itself does not exist (an API version HubSpot does not serve).
        return EndpointNotFoundError(
            f"HubSpot has no endpoint POST {path} ({message}): check CRMSYNC['API_VERSION'] "
            "and CRMSYNC['API_BASE_URL']",
            **kwargs,
        )
    return RejectedError(message, **kwargs)


def transport_error(exc: requests.RequestException, method: str, path: str) -> HubSpotError:
    """Was the request sent? If the connection never opened, nothing was written."""
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )
    kind = type(reason).__name__ if reason is not None else type(exc).__name__
    if never_sent:
        return ConnectionFailedError(
            f"could not connect to HubSpot ({kind})", method=method, url=path
        )
    if isinstance(exc, requests.ReadTimeout):
        message = "no answer before the timeout; HubSpot may have written the records"
    else:
        message = f"connection lost after the request was sent ({kind})"
    return OutcomeUnknownError(message, method=method, url=path)
