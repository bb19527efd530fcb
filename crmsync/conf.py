"""The one place crmsync reads and checks its settings.

Everything lives in the ``CRMSYNC`` dict of the host project's settings. Values are read at
call time (never frozen at import), so ``override_settings(CRMSYNC={...})`` works in tests and
a changed setting needs no restart of anything but the process that reads it.

One validator, :func:`validate`, knows every rule; the system checks (``manage.py check``)
show its problems, and the runtime refuses to send with them:

- :func:`validated_settings` is what the service layer calls before it sends (once per run,
  or per batch: the result is cached on the dict's contents). It returns the typed settings or
  raises :class:`~crmsync.exceptions.ConfigurationError` with every blocking problem on one
  line. A missing token is only a warning for ``manage.py check`` but blocks sending.
- :func:`get_settings` fills in defaults without checking anything (for code that only
  displays settings, or has validated them already).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

from . import hubspot
from .exceptions import ConfigurationError
from .settings_rules import IDS, RULES, WARNING, Problem, type_problem

HUBSPOT_API_BASE_URL = hubspot.API_BASE_URL


@dataclass(frozen=True)
class CrmSyncSettings:
    """Typed view of ``settings.CRMSYNC`` with the documented defaults."""

    #: Bearer token (private app access token or service key). Never logged.
    ACCESS_TOKEN: str = field(default="", repr=False)
    #: OAuth 2.0 instead of ACCESS_TOKEN: the app's client id and secret and the refresh
    #: token of the installation (README, "Credentials"). Never logged.
    OAUTH_CLIENT_ID: str = ""
    OAUTH_CLIENT_SECRET: str = field(default="", repr=False)
    OAUTH_REFRESH_TOKEN: str = field(default="", repr=False)
    #: An OAuth access token is refreshed this long before it expires (at most a quarter of
    #: its lifetime), by one worker at a time.
    OAUTH_REFRESH_MARGIN_SECONDS: float = 300.0
    #: Where the HubSpot API lives; the sandbox's URL in the demo and tests.
    API_BASE_URL: str = HUBSPOT_API_BASE_URL
    #: A date version such as "2026-03" for /crm/objects/2026-03/..., /oauth/2026-03/token
    #: (every endpoint crmsync calls), or the legacy "v3" (/crm/v3/..., /crm/v4/associations,
    #: /oauth/v1/token), unsupported from September 2027 (crmsync.W003).
    API_VERSION: str = "2026-03"
    #: Inputs per batch request; HubSpot's maximum is 100.
    BATCH_SIZE: int = hubspot.MAX_BATCH_INPUTS
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
    #: When the rate limiter's Redis cannot be reached, a drain stops sending and waits this
    #: long for it to come back (checking every quarter second) before it ends; 0: end at once.
    REDIS_OUTAGE_WAIT_SECONDS: float = 30.0
    #: Time zone of the HubSpot account, for the daily limit's midnight reset.
    ACCOUNT_TIME_ZONE: str = "UTC"
    #: Batch requests one worker keeps in flight at once.
    CONCURRENCY: int = 4
    #: Most batches one drain (task run or command) sends before it returns; 0 = until empty.
    MAX_BATCHES_PER_RUN: int = 0
    #: Whether saves, ``crmsync.queue()`` and ``crmsync_backfill`` of registered host models
    #: queue anything. False: they write no mirror rows (and say so); sending is unaffected.
    ENABLED: bool = True
    #: Rows an admin action changes inside the request; a larger selection (or "select
    #: all") is recorded as a BulkJob and done by a task, in chunks.
    ADMIN_INLINE_MAX_ROWS: int = 1000
    #: The HubSpot account's id (digits), for the admin's links to a contact's record in
    #: HubSpot; empty: the admin shows the id and how to get a link.
    PORTAL_ID: str = ""
    #: Where HubSpot's web app lives (the admin's record links; an EU account may differ).
    HUBSPOT_APP_URL: str = hubspot.APP_URL
    #: ``crmsync_status`` and the admin's dashboard call the sync unhealthy when the oldest
    #: due pending row has waited longer than this.
    STATUS_MAX_BACKLOG_SECONDS: float = 900.0
    #: How often each Celery worker writes its heartbeat; a worker unseen for three times
    #: this is shown as dead.
    HEARTBEAT_SECONDS: float = 30.0
    #: Days of sync history (SyncBatch, SyncAttempt) ``crmsync_prune`` keeps; 0 = for ever.
    HISTORY_RETENTION_DAYS: int = 90
    #: HubSpot properties whose values history keeps masked in stored request bodies (what
    #: is sent is unchanged). README, "Personal data in history", says why these.
    HISTORY_MASKED_PROPERTIES: tuple[str, ...] = (
        "phone",
        "mobilephone",
        "address",
        "date_of_birth",
    )
    #: Whether deleting a contact also removes its personal data from history.
    HISTORY_FORGET_ON_DELETE: bool = True
    #: A drain with nothing due now waits for rows falling due within this many seconds
    #: (``crmsync_sync``; the Celery task schedules a nudge instead); 0: it returns at once.
    DRAIN_HORIZON_SECONDS: float = 5.0
    #: How new contacts are written: "create" (batch/create; a lost answer is looked up by
    #: email, a contact without email held) or "upsert" (batch/upsert by UNIQUE_PROPERTY: a
    #: lost answer is sent again). README, "Write modes".
    WRITE_MODE: str = "create"
    #: The custom HubSpot contact property (``hasUniqueValue``) that holds each row's stable
    #: key (``Contact.sync_key``) in upsert mode; ``crmsync_unique_property --create`` makes it.
    UNIQUE_PROPERTY: str = ""
    #: How long each process keeps HubSpot's property schema (and the portal's validation
    #: rules) before reading it again; a "property does not exist" answer reads it sooner.
    SCHEMA_TTL_SECONDS: float = 600.0
    #: Check every row against that schema before sending it (README, "Before you send");
    #: False sends rows as they are and lets HubSpot refuse them.
    PREFLIGHT: bool = True

    def replace(self, **changes: Any) -> CrmSyncSettings:
        return dataclasses.replace(self, **changes)


NAMES = tuple(f.name for f in dataclasses.fields(CrmSyncSettings))
_TYPES = {f.name: f.type for f in dataclasses.fields(CrmSyncSettings)}
_DEFAULTS = CrmSyncSettings()


def queueing_enabled() -> bool:
    """``CRMSYNC["ENABLED"]``, read on every save of a registered model: a dict lookup, not
    a settings object. Only ``False`` switches queueing off; any other value is a check error
    (crmsync.E007) and queues as the default does."""
    raw = _raw()
    return not (isinstance(raw, Mapping) and raw.get("ENABLED", True) is False)


def get_settings() -> CrmSyncSettings:
    """Return the current settings, defaults filled in, unchecked (see validated_settings)."""
    return _build(_raw())


def validated_settings() -> CrmSyncSettings:
    """The current settings, checked: what the service layer calls before sending.

    Raises ConfigurationError (one line naming every blocking problem) for a bad or missing
    setting. Cheap to call per batch: the outcome is cached on the dict's contents, so
    ``override_settings`` and a changed setting are still seen at once.
    """
    return ensure_valid(_raw())


def ensure_valid(raw: Any) -> CrmSyncSettings:
    """:func:`validated_settings` for a given ``CRMSYNC`` dict (or CrmSyncSettings)."""
    if isinstance(raw, CrmSyncSettings):
        raw = dataclasses.asdict(raw)
    key = _cache_key(raw)
    cached = _validated.get(key)
    if cached is None:
        blocking = tuple(p for p in validate(raw) if p.blocks_sending)
        cached = (None if blocking else _build(raw), blocking)
        with _validated_lock:
            if len(_validated) >= _CACHE_SIZE:
                _validated.clear()
            _validated[key] = cached
    conf, blocking = cached
    if conf is None:
        raise ConfigurationError(" ".join(p.message for p in blocking), problems=blocking)
    return conf


def validate(raw: Any) -> list[Problem]:
    """Every problem with a ``CRMSYNC`` value, errors and warnings, in the order of NAMES."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return [
            Problem(
                IDS["not_a_dict"],
                "",
                f"CRMSYNC must be a dict, got {type(raw).__name__}.",
            )
        ]
    problems: list[Problem] = []
    for key in raw:
        if key not in NAMES:
            problems.append(
                Problem(
                    IDS["unknown_key"],
                    str(key),
                    f"CRMSYNC[{key!r}] is not a crmsync setting.",
                    level=WARNING,
                    hint=f"Known settings: {', '.join(NAMES)}.",
                    blocks_sending=False,
                )
            )
    values: dict[str, Any] = {}
    for name in NAMES:
        value = raw.get(name, getattr(_DEFAULTS, name))
        problem = type_problem(name, _TYPES[name], value)
        if problem is None:
            values[name] = value
        else:
            problems.append(problem)
    for rule in RULES:
        problems.extend(rule(values))
    return problems


# -- plumbing ------------------------------------------------------------------------------

_CACHE_SIZE = 64
_validated_lock = threading.Lock()
_validated: dict[str, tuple[CrmSyncSettings | None, tuple[Problem, ...]]] = {}


def _raw() -> Any:
    raw = getattr(django_settings, "CRMSYNC", None)
    return {} if raw is None else raw


def _cache_key(raw: Any) -> str:
    # repr, not hash: 1, 1.0 and True are equal as dict keys but not as settings.
    if isinstance(raw, Mapping):
        return repr(sorted(((repr(k), repr(v)) for k, v in raw.items())))
    return f"{type(raw).__name__}:{raw!r}"


def _build(raw: Any) -> CrmSyncSettings:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(validate(raw)[0].message)
    values = {k: v for k, v in raw.items() if k in NAMES}
    if isinstance(values.get("HISTORY_MASKED_PROPERTIES"), list):
        # A list in settings.py, a tuple here: the settings stay hashable and unchanging.
        values["HISTORY_MASKED_PROPERTIES"] = tuple(values["HISTORY_MASKED_PROPERTIES"])
    return CrmSyncSettings(**values)


def coerce(name: str, text: str) -> Any:
    """Turn an environment variable's text into the setting's type (used by settings.py).

    Text that is not a number is kept as it is, so the checks name the setting and the value
    instead of the settings module failing to import with a traceback."""
    kind = _TYPES[name]
    if str(kind).startswith("tuple[str"):  # CRMSYNC_HISTORY_MASKED_PROPERTIES=phone,address
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if kind in ("bool", bool):
        return _BOOL_TEXT.get(text.strip().lower(), text)
    try:
        if kind in ("int", int):
            return int(text)
        if kind in ("float", float):
            return float(text)
    except ValueError:
        return text
    return text


_BOOL_TEXT = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def from_environ(environ: dict[str, str] | Any) -> dict[str, Any]:
    """Every ``CRMSYNC_<NAME>`` variable present in ``environ``, typed."""
    return {
        name: coerce(name, environ[f"CRMSYNC_{name}"])
        for name in NAMES
        if f"CRMSYNC_{name}" in environ and name != "ACCESS_TOKEN"
    }
