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
import math
import re
import threading
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings

from .exceptions import ConfigurationError

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
_DEFAULTS = CrmSyncSettings()

ERROR = "error"
WARNING = "warning"

#: Check ids, kept stable: E001..E006, W001 and W002 mean what they always meant.
IDS = {
    "not_a_dict": "crmsync.E001",
    "batch_size": "crmsync.E002",
    "base_url": "crmsync.E003",
    "rate_limit": "crmsync.E004",
    "lease": "crmsync.E005",
    "max_attempts": "crmsync.E006",
    "type": "crmsync.E007",
    "time_zone": "crmsync.E008",
    "redis_url": "crmsync.E009",
    "api_version": "crmsync.E010",
    "base_url_path": "crmsync.E011",
    "concurrency": "crmsync.E012",
    "max_batches": "crmsync.E013",
    "daily_limit": "crmsync.E014",
    "timeout": "crmsync.E015",
    "retry": "crmsync.E016",
    "key_prefix": "crmsync.E017",
    "unknown_key": "crmsync.W001",
    "no_token": "crmsync.W002",
}
_API_VERSION_RE = re.compile(r"v3|\d{4}-(0[1-9]|1[0-2])")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``CRMSYNC``: its check id, the key concerned, a one-line message."""

    id: str
    key: str
    message: str
    level: str = ERROR
    hint: str = ""
    #: Whether crmsync refuses to send because of it (every error, and a missing token).
    blocks_sending: bool = True

    @property
    def is_error(self) -> bool:
        return self.level == ERROR


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
        problem = _type_problem(name, value)
        if problem is None:
            values[name] = value
        else:
            problems.append(problem)
    for rule in _RULES:
        problems.extend(rule(values))
    return problems


# -- the rules, each on values that passed their type check ---------------------------------

Rule = Callable[[dict[str, Any]], list[Problem]]
_RULES: list[Rule] = []


def _rule(function: Rule) -> Rule:
    _RULES.append(function)
    return function


def _error(kind: str, key: str, message: str, hint: str = "") -> list[Problem]:
    return [Problem(IDS[kind], key, message, hint=hint)]


def _at_least(kind: str, name: str, minimum: float) -> Rule:
    def rule(values: dict[str, Any]) -> list[Problem]:
        value = values.get(name)
        if value is None or value >= minimum:
            return []
        return _error(kind, name, f"CRMSYNC[{name!r}] must be at least {minimum}, got {value!r}.")

    return rule


def _positive(kind: str, name: str) -> Rule:
    def rule(values: dict[str, Any]) -> list[Problem]:
        value = values.get(name)
        if value is None or value > 0:
            return []
        return _error(kind, name, f"CRMSYNC[{name!r}] must be greater than 0, got {value!r}.")

    return rule


@_rule
def _batch_size(values: dict[str, Any]) -> list[Problem]:
    size = values.get("BATCH_SIZE")
    if size is None or 1 <= size <= 100:
        return []
    return _error(
        "batch_size",
        "BATCH_SIZE",
        f"CRMSYNC['BATCH_SIZE'] must be between 1 and 100 (HubSpot's maximum), got {size!r}.",
    )


@_rule
def _base_url(values: dict[str, Any]) -> list[Problem]:
    url = values.get("API_BASE_URL")
    if url is None:
        return []
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return _error(
            "base_url",
            "API_BASE_URL",
            f"CRMSYNC['API_BASE_URL'] must be an http(s) URL with a host, got {redact_url(url)!r}.",
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        root = f"{parts.scheme}://{parts.netloc}"
        return _error(
            "base_url_path",
            "API_BASE_URL",
            f"CRMSYNC['API_BASE_URL'] must have no path, got {redact_url(url)!r}: use "
            f"{redact_url(root)!r} (crmsync adds /crm/... itself).",
        )
    return []


@_rule
def _api_version(values: dict[str, Any]) -> list[Problem]:
    version = values.get("API_VERSION")
    if version is None or _API_VERSION_RE.fullmatch(version):
        return []
    return _error(
        "api_version",
        "API_VERSION",
        f"CRMSYNC['API_VERSION'] must be 'v3' or a date version such as '2026-03', "
        f"got {version!r}.",
    )


@_rule
def _rate_limit(values: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    most = values.get("RATE_LIMIT_MAX")
    if most is not None and most < 1:
        problems += _error(
            "rate_limit",
            "RATE_LIMIT_MAX",
            f"CRMSYNC['RATE_LIMIT_MAX'] must be at least 1, got {most!r}.",
        )
    interval = values.get("RATE_LIMIT_INTERVAL_SECONDS")
    if interval is not None and interval <= 0:
        problems += _error(
            "rate_limit",
            "RATE_LIMIT_INTERVAL_SECONDS",
            f"CRMSYNC['RATE_LIMIT_INTERVAL_SECONDS'] must be greater than 0, got {interval!r}.",
        )
    return problems


@_rule
def _lease(values: dict[str, Any]) -> list[Problem]:
    lease, timeout = values.get("LEASE_SECONDS"), values.get("HTTP_TIMEOUT_SECONDS")
    if lease is None or timeout is None or timeout <= 0 or lease >= 2 * timeout:
        return []
    return _error(
        "lease",
        "LEASE_SECONDS",
        f"CRMSYNC['LEASE_SECONDS'] must be at least twice CRMSYNC['HTTP_TIMEOUT_SECONDS'] "
        f"({2 * timeout!r}), got {lease!r}: a slow request could outlive its claim.",
    )


@_rule
def _retry(values: dict[str, Any]) -> list[Problem]:
    base, most = values.get("RETRY_BASE_SECONDS"), values.get("RETRY_MAX_SECONDS")
    if base is not None and base <= 0:
        return _error(
            "retry",
            "RETRY_BASE_SECONDS",
            f"CRMSYNC['RETRY_BASE_SECONDS'] must be greater than 0, got {base!r}.",
        )
    if base is not None and most is not None and most < base:
        return _error(
            "retry",
            "RETRY_MAX_SECONDS",
            f"CRMSYNC['RETRY_MAX_SECONDS'] must be at least CRMSYNC['RETRY_BASE_SECONDS'] "
            f"({base!r}), got {most!r}.",
        )
    return []


@_rule
def _time_zone(values: dict[str, Any]) -> list[Problem]:
    zone = values.get("ACCOUNT_TIME_ZONE")
    if zone is None:
        return []
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return _error(
            "time_zone",
            "ACCOUNT_TIME_ZONE",
            f"CRMSYNC['ACCOUNT_TIME_ZONE'] is not a known time zone: {zone!r}.",
            hint="Use an IANA name such as 'UTC' or 'Europe/Berlin'.",
        )
    return []


@_rule
def _redis(values: dict[str, Any]) -> list[Problem]:
    url = values.get("REDIS_URL")
    if not url or urlsplit(url).scheme in _REDIS_SCHEMES:
        return []
    return _error(
        "redis_url",
        "REDIS_URL",
        f"CRMSYNC['REDIS_URL'] must be empty or a redis://, rediss:// or unix:// URL, got "
        f"{redact_url(url)!r}.",
    )


@_rule
def _key_prefix(values: dict[str, Any]) -> list[Problem]:
    prefix = values.get("REDIS_KEY_PREFIX")
    if prefix is None or prefix.strip():
        return []
    return _error(
        "key_prefix", "REDIS_KEY_PREFIX", "CRMSYNC['REDIS_KEY_PREFIX'] must not be empty."
    )


@_rule
def _token(values: dict[str, Any]) -> list[Problem]:
    if values.get("ACCESS_TOKEN", "x"):
        return []
    # Only a warning for `manage.py check` (the demo brings its own), but nothing is sent.
    return [
        Problem(
            IDS["no_token"],
            "ACCESS_TOKEN",
            "No HubSpot access token: CRMSYNC['ACCESS_TOKEN'] is empty.",
            level=WARNING,
        )
    ]


_RULES += [
    _at_least("max_attempts", "MAX_ATTEMPTS", 1),
    _at_least("concurrency", "CONCURRENCY", 1),
    _at_least("max_batches", "MAX_BATCHES_PER_RUN", 0),
    _at_least("daily_limit", "RATE_LIMIT_DAILY", 0),
    _positive("timeout", "HTTP_TIMEOUT_SECONDS"),
]


def _type_problem(name: str, value: Any) -> Problem | None:
    kind = _TYPES[name]
    if kind in ("int", int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        wanted = "an integer"
    elif kind in ("float", float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        wanted = "a finite number"
    else:
        ok = isinstance(value, str)
        wanted = "a string"
    if ok:
        return None
    got = "another type" if name == "ACCESS_TOKEN" else _describe(value)  # never echo a token
    return Problem(IDS["type"], name, f"CRMSYNC[{name!r}] must be {wanted}, got {got}.")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def redact_url(url: str) -> str:
    """``url`` without the password of its user part (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()


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
    return CrmSyncSettings(**{k: v for k, v in raw.items() if k in NAMES})


def coerce(name: str, text: str) -> Any:
    """Turn an environment variable's text into the setting's type (used by settings.py).

    Text that is not a number is kept as it is, so the checks name the setting and the value
    instead of the settings module failing to import with a traceback."""
    kind = _TYPES[name]
    try:
        if kind in ("int", int):
            return int(text)
        if kind in ("float", float):
            return float(text)
    except ValueError:
        return text
    return text


def from_environ(environ: dict[str, str] | Any) -> dict[str, Any]:
    """Every ``CRMSYNC_<NAME>`` variable present in ``environ``, typed."""
    return {
        name: coerce(name, environ[f"CRMSYNC_{name}"])
        for name in NAMES
        if f"CRMSYNC_{name}" in environ and name != "ACCESS_TOKEN"
    }
