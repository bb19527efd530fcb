"""What every settings rule is made of: check ids, ``Problem``, the list of rules and the
helpers the rule modules share (``core`` for the settings of the engine; each later topic adds
its own module beside it, registering its ids in ``IDS`` and its rules in ``RULES``).

Pure functions over plain values: ``crmsync.conf.validate`` runs them, and both the system
checks and the runtime use what it returns. Each rule sees only the values that passed their
type check, so a rule never meets a value of the wrong type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ERROR = "error"
WARNING = "warning"

#: Check ids, kept stable: an id always means what it first meant (README, "Settings").
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
    "admin_inline_max_rows": "crmsync.E032",
    "portal_id": "crmsync.E033",
    "app_url": "crmsync.E034",
    "status_max_backlog": "crmsync.E030",
    "heartbeat": "crmsync.E031",
    "retention_days": "crmsync.E035",
    "masked_properties": "crmsync.E036",
    "forget_on_delete": "crmsync.E037",
    "drain_horizon": "crmsync.E038",
    "redis_outage_wait": "crmsync.E039",
    "unknown_key": "crmsync.W001",
    "no_token": "crmsync.W002",
}
#: Settings whose wrong type is reported under their own id rather than crmsync.E007.
_TYPE_IDS = {
    "HISTORY_RETENTION_DAYS": "retention_days",
    "HISTORY_MASKED_PROPERTIES": "masked_properties",
    "HISTORY_FORGET_ON_DELETE": "forget_on_delete",
    "PREFLIGHT": "preflight",
}


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


# -- the rules, each on values that passed their type check ---------------------------------

Rule = Callable[[dict[str, Any]], list[Problem]]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    RULES.append(function)
    return function


def error(kind: str, key: str, message: str, hint: str = "") -> list[Problem]:
    return [Problem(IDS[kind], key, message, hint=hint)]


def at_least(kind: str, name: str, minimum: float, maximum: float = math.inf) -> Rule:
    def rule(values: dict[str, Any]) -> list[Problem]:
        value = values.get(name)
        if value is None or minimum <= value <= maximum:
            return []
        most = f" and at most {maximum}" if maximum < math.inf else ""
        return error(
            kind, name, f"CRMSYNC[{name!r}] must be at least {minimum}{most}, got {value!r}."
        )

    return rule


def positive(kind: str, name: str) -> Rule:
    def rule(values: dict[str, Any]) -> list[Problem]:
        value = values.get(name)
        if value is None or value > 0:
            return []
        return error(kind, name, f"CRMSYNC[{name!r}] must be greater than 0, got {value!r}.")

    return rule


def type_problem(name: str, kind: Any, value: Any) -> Problem | None:
    """Is ``value`` of the setting's type (``kind``, the dataclass annotation)?"""
    if kind in ("bool", bool):
        ok = isinstance(value, bool)
        wanted = "True or False"
    elif kind in ("int", int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        wanted = "an integer"
    elif kind in ("float", float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        wanted = "a finite number"
    elif str(kind).startswith("tuple[str"):
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        wanted = "a list of strings"
    else:
        ok = isinstance(value, str)
        wanted = "a string"
    if ok:
        return None
    secret = name in ("ACCESS_TOKEN", "OAUTH_CLIENT_SECRET", "OAUTH_REFRESH_TOKEN")
    got = "another type" if secret else _describe(value)  # never echo a token or secret
    check_id = IDS[_TYPE_IDS.get(name, "type")]
    return Problem(check_id, name, f"CRMSYNC[{name!r}] must be {wanted}, got {got}.")


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
