"""The one place crmsync reads its settings.

Everything lives in the ``CRMSYNC`` dict of the host project's settings. Values are read at
call time (never frozen at import), so ``override_settings(CRMSYNC={...})`` works in tests and
a changed setting needs no restart of anything but the process that reads it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

HUBSPOT_API_BASE_URL = "https://api.hubapi.com"
#: HubSpot takes at most this many inputs in one batch request.
HUBSPOT_MAX_BATCH_INPUTS = 100


@dataclass(frozen=True)
class CrmSyncSettings:
    """Typed view of ``settings.CRMSYNC`` with the documented defaults."""

    #: Bearer token (private app access token or service key). Never logged.
    ACCESS_TOKEN: str = field(default="", repr=False)
    #: Where the HubSpot API lives; the sandbox's URL in the demo and tests.
    API_BASE_URL: str = HUBSPOT_API_BASE_URL
    #: "v3" for /crm/v3/objects/..., or a date version such as "2026-03" for
    #: /crm/objects/2026-03/... (the v3 paths lose support in September 2027).
    API_VERSION: str = "v3"
    #: Inputs per batch request; HubSpot's maximum is 100.
    BATCH_SIZE: int = 100
    #: Connect and read timeout of every HTTP call.
    HTTP_TIMEOUT_SECONDS: float = 30.0
    #: Failed attempts (5xx, 423, connection errors...) before a row is failed for good.
    MAX_ATTEMPTS: int = 8
    #: Exponential backoff: base * 2**(attempt-1), with full jitter, capped at RETRY_MAX_SECONDS.
    RETRY_BASE_SECONDS: float = 5.0
    RETRY_MAX_SECONDS: float = 3600.0
    #: How long a claim on a row lasts before another worker may reclaim (and reconcile) it.
    LEASE_SECONDS: float = 300.0
    #: Requests allowed per interval, shared by every worker (HubSpot Free/Starter: 100 / 10 s).
    RATE_LIMIT_MAX: int = 100
    RATE_LIMIT_INTERVAL_SECONDS: float = 10.0
    #: Requests allowed per day (HubSpot Free/Starter: 250,000). 0 disables the local daily cap.
    RATE_LIMIT_DAILY: int = 250_000
    #: Redis for the shared rate limiter. Empty: an in-process limiter (one process only).
    REDIS_URL: str = ""
    #: Prefix of every Redis key crmsync writes.
    REDIS_KEY_PREFIX: str = "crmsync"
    #: Time zone of the HubSpot account, for the daily limit's midnight reset.
    ACCOUNT_TIME_ZONE: str = "UTC"
    #: Batch requests one worker keeps in flight at once.
    CONCURRENCY: int = 4
    #: Most batches one drain (task run or command) sends before it returns; 0 = until empty.
    MAX_BATCHES_PER_RUN: int = 0

    def replace(self, **changes: Any) -> CrmSyncSettings:
        return dataclasses.replace(self, **changes)


NAMES = tuple(f.name for f in dataclasses.fields(CrmSyncSettings))
_TYPES = {f.name: f.type for f in dataclasses.fields(CrmSyncSettings)}


def get_settings() -> CrmSyncSettings:
    """Return the current settings, defaults filled in. Unknown keys are reported by checks."""
    raw = getattr(django_settings, "CRMSYNC", None) or {}
    known = {k: v for k, v in raw.items() if k in NAMES}
    return CrmSyncSettings(**known)


def coerce(name: str, text: str) -> Any:
    """Turn an environment variable's text into the setting's type (used by settings.py)."""
    kind = _TYPES[name]
    if kind in ("int", int):
        return int(text)
    if kind in ("float", float):
        return float(text)
    return text


def from_environ(environ: dict[str, str] | Any) -> dict[str, Any]:
    """Every ``CRMSYNC_<NAME>`` variable present in ``environ``, typed."""
    return {
        name: coerce(name, environ[f"CRMSYNC_{name}"])
        for name in NAMES
        if f"CRMSYNC_{name}" in environ and name != "ACCESS_TOKEN"
    }
