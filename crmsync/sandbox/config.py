"""Every switch of the sandbox, in one dataclass that can be changed while it runs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFLICT_MODES = ("per_input", "batch")
#: batch/update of a merged-away id: 207 OBJECT_NOT_FOUND, or left out of the answer (both
#: reported of HubSpot).
MERGED_UPDATE_MODES = ("not_found", "omit")
#: batch/read and GET of a merged-away id: the surviving record, or nothing (both reported).
MERGED_READ_MODES = ("survivor", "none")
APP_KINDS = ("private_app", "oauth")
DEFAULT_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
)
#: Endpoint names that faults can apply to (see ``SandboxConfig.fault_endpoints``).
FAULTABLE_ENDPOINTS = (
    "create",
    "update",
    "upsert",
    "read",
    "archive",
    "get",
    "search",
    "assoc_create",
    "assoc_default",
    "assoc_archive",
    "assoc_read",
    "assoc_labels",
)

DEFAULT_COMPANIES: tuple[tuple[str, str], ...] = (
    ("9001", "Acme Corporation"),
    ("9002", "Globex"),
    ("9003", "Initech"),
    ("9004", "Umbrella"),
    ("9005", "Hooli"),
)


class ConfigError(ValueError):
    """An unknown option or a value of the wrong kind."""


@dataclass(frozen=True)
class SandboxConfig:
    """Options of a running sandbox. Frozen: change it with ``SandboxServer.configure``."""

    #: Rolling window of the "ten secondly" limit: at most this many requests ...
    rate_limit_max: int = 190
    #: ... in any window of this many milliseconds.
    rate_limit_interval_ms: int = 10_000
    #: Requests per UTC day before 429 with policy ``DAILY``.
    daily_limit: int = 1_000_000
    #: Send ``Retry-After`` (seconds) on 429 answers; HubSpot's behaviour here is unknown.
    retry_after_on_429: bool = True
    #: Search's own limit, per rolling second (HubSpot: about 5).
    search_rate_limit: int = 5
    #: Milliseconds before a write becomes visible to search (search lags the writes).
    search_lag_ms: int = 0
    #: Shuffle batch results, as HubSpot does not keep input order.
    shuffle_results: bool = True
    #: Put each input's ``objectWriteTraceId`` on its result (HubSpot's example does not).
    echo_trace_ids: bool = False
    #: Answer 207 multi-status when every input has a unique trace id. False plays a HubSpot
    #: that ignores trace ids: one bad input fails the whole batch whatever the trace ids.
    multi_status: bool = True
    #: With trace ids, an existing email is a per-input 207 error ("per_input") or fails the
    #: whole batch with 409 ("batch"). Without trace ids it always fails the whole batch.
    conflict_mode: str = "per_input"
    #: What batch/update answers for a merged-away id (see MERGED_UPDATE_MODES).
    merged_update: str = "not_found"
    #: What batch/read and GET answer for a merged-away id (see MERGED_READ_MODES).
    merged_read: str = "survivor"
    #: Answer 403 MISSING_SCOPES to every contacts, properties and associations call.
    missing_scopes: bool = False
    #: The scopes the token was granted: a call needing one not listed answers 403
    #: MISSING_SCOPES, and the token-info endpoints list these (``crmsync_doctor``).
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    #: What the token is: "private_app" (a legacy private app's token or a service key,
    #: described by the private-app token-info endpoint) or "oauth" (an OAuth access token,
    #: described by ``GET /oauth/v1/access-tokens/<token>``).
    app_kind: str = "private_app"
    #: Fault rates, each 0..1, drawn from its own seeded generator.
    fault_5xx_rate: float = 0.0
    fault_423_rate: float = 0.0
    fault_477_rate: float = 0.0
    #: ``Retry-After`` of a 477 Migration in Progress.
    fault_477_retry_after_seconds: int = 1
    #: Write the records, then close the connection without an answer.
    drop_after_commit_rate: float = 0.0
    #: Write the records, then answer only after ``slow_after_commit_seconds``.
    slow_after_commit_rate: float = 0.0
    slow_after_commit_seconds: float = 35.0
    #: Added to every answer on HubSpot's paths.
    latency_ms: float = 0.0
    #: Which endpoints the faults apply to.
    fault_endpoints: tuple[str, ...] = ("create", "update", "upsert")
    #: Seed of the fault and shuffle generators, so runs repeat.
    seed: int = 0
    #: Custom contact property definitions, as ``POST /crm/v3/properties/contacts`` bodies.
    custom_properties: tuple[Mapping[str, Any], ...] = ()
    #: Companies present at start and after a reset: (id, name) pairs.
    companies: tuple[tuple[str, str], ...] = DEFAULT_COMPANIES
    #: OAuth (``POST /oauth/2026-03/token``): the app's client id and secret, and the refresh
    #: token valid at start and after a reset. The static bearer token keeps working beside.
    oauth_client_id: str = "sandbox-client-id"
    oauth_client_secret: str = "sandbox-client-secret"  # noqa: S105 - the sandbox's own
    oauth_refresh_token: str = "sandbox-refresh-token"  # noqa: S105 - the sandbox's own
    #: Lifetime of an issued access token (HubSpot: 1,800 s).
    oauth_token_seconds: float = 1800.0
    #: A refresh ends the previous access token at once (answered 401 as expired).
    oauth_refresh_invalidates: bool = False
    #: Each refresh hands out a new refresh token and revokes the one used.
    oauth_rotate_refresh_token: bool = False
    #: The portal's property validation rules for contacts, as ``results`` entries of
    #: ``GET /crm/property-validations/2026-03/0-1`` (``propertyName``,
    #: ``propertyValidationRules``); enforced on writes at API version 2026-09 only.
    validation_rules: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.conflict_mode not in CONFLICT_MODES:
            raise ConfigError(f"conflict_mode must be one of {CONFLICT_MODES}")
        if self.merged_update not in MERGED_UPDATE_MODES:
            raise ConfigError(f"merged_update must be one of {MERGED_UPDATE_MODES}")
        if self.merged_read not in MERGED_READ_MODES:
            raise ConfigError(f"merged_read must be one of {MERGED_READ_MODES}")
        if self.app_kind not in APP_KINDS:
            raise ConfigError(f"app_kind must be one of {APP_KINDS}")
        for name in (
            "fault_5xx_rate",
            "fault_423_rate",
            "fault_477_rate",
            "drop_after_commit_rate",
            "slow_after_commit_rate",
        ):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, not {rate}")
        for name in (
            "rate_limit_max",
            "rate_limit_interval_ms",
            "daily_limit",
            "search_rate_limit",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not self.oauth_token_seconds > 0:
            raise ConfigError("oauth_token_seconds must be greater than 0")
        unknown = set(self.fault_endpoints) - set(FAULTABLE_ENDPOINTS)
        if unknown:
            raise ConfigError(
                f"fault_endpoints: unknown {sorted(unknown)}; use {FAULTABLE_ENDPOINTS}"
            )

    def replace(self, **options: Any) -> SandboxConfig:
        """A copy with ``options`` changed, values coerced from JSON-ish input."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = set(options) - set(fields)
        if unknown:
            raise ConfigError(f"unknown sandbox option(s): {', '.join(sorted(unknown))}")
        coerced = {
            name: _coerce(name, fields[name].default, value) for name, value in options.items()
        }
        return dataclasses.replace(self, **coerced)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["custom_properties"] = [dict(p) for p in self.custom_properties]
        out["validation_rules"] = [dict(r) for r in self.validation_rules]
        out["companies"] = [list(c) for c in self.companies]
        out["fault_endpoints"] = list(self.fault_endpoints)
        out["scopes"] = list(self.scopes)
        return out


def _coerce(name: str, default: Any, value: Any) -> Any:
    if name in ("custom_properties", "validation_rules"):
        if not isinstance(value, list | tuple) or not all(isinstance(p, Mapping) for p in value):
            raise ConfigError(f"{name} must be a list of objects")
        return tuple(value)
    if name == "companies":
        try:
            return tuple((str(c[0]), str(c[1])) for c in value)
        except (TypeError, IndexError) as exc:
            raise ConfigError("companies must be a list of [id, name] pairs") from exc
    if name in ("fault_endpoints", "scopes"):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return tuple(str(v) for v in value)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {value!r} is not a valid {type(default).__name__}") from exc
    return value


def load_custom_properties(path: str | Path) -> tuple[Mapping[str, Any], ...]:
    """Read a JSON file holding a list of property definitions (or ``{"results": [...]}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, Mapping):
        data = data.get("results", [])
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of property definitions")
    return tuple(data)
