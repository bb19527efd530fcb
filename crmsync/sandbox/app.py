"""Routing and the per-request pipeline, independent of the HTTP server that carries it.

Order of checks on HubSpot's paths: bearer token (401), rate limits (429; search has its own
limit and no headers), scopes (403), faults that answer before any work (5xx, 423, 477), the
work itself, then faults after the commit (dropped connection, late answer). Latency is added
to every answer on HubSpot's paths.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .associations import AssociationsApi
from .config import ConfigError, SandboxConfig
from .contacts import ContactsApi
from .errors import CONFLICT, OBJECT_NOT_FOUND, VALIDATION_ERROR, ApiError
from .faults import NO_FAULTS, FaultInjector, FaultPlan
from .oauth import TOKEN_PATH_RE, OAuthServer
from .properties import (
    PropertyDefinitionError,
    group_from_api,
    normalize_email,
    property_from_api,
)
from .ratelimit import DAILY, SECONDLY, TEN_SECONDLY, RateLimiter
from .stats import Stats
from .store import Store, now_iso
from .tokens import answer as token_info
from .tokens import endpoint_of as token_endpoint
from .validations import ENFORCING_VERSIONS, RuleError, parse_rules, rules_answer

JSON_TYPE = "application/json;charset=utf-8"
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

#: The date versions HubSpot serves (generally available in 2026); any other date in a path
#: is answered 404, as HubSpot answers a path it does not have.
API_VERSIONS = ("2026-03", "2026-09")
_VERSIONS = "|".join(re.escape(v) for v in API_VERSIONS)
_OBJECTS_RE = re.compile(
    rf"/crm/(?:v3/objects|objects/({_VERSIONS}))/(contacts|companies)"
    r"(?:/([^/]+)(?:/([^/]+))?)?/?"
)
_GROUPS_RE = re.compile(rf"/crm/(?:v3/properties|properties/(?:{_VERSIONS}))/contacts/groups/?")
#: The property validations API exists at the date versions only (no v3 path here).
_VALIDATIONS_RE = re.compile(rf"/crm/property-validations/(?:{_VERSIONS})/(0-1|contacts)/?")
_PROPERTIES_RE = re.compile(
    rf"/crm/(?:v3/properties|properties/(?:{_VERSIONS}))/contacts(?:/([^/]+))?/?"
)
#: Associations v4 (also date-versioned): the sandbox holds contacts -> companies only.
_ASSOCIATIONS_RE = re.compile(
    rf"/crm/(?:v4/associations|associations/(?:{_VERSIONS}))/([^/]+)/([^/]+)"
    r"/(batch/create|batch/associate/default|batch/archive|batch/read|labels)/?"
)
_FROM_CONTACTS = frozenset(("contacts", "contact", "0-1"))
_TO_COMPANIES = frozenset(("companies", "company", "0-2"))
#: (method, action of the path) -> endpoint name, for stats and fault_endpoints.
_ASSOCIATION_ENDPOINTS = {
    ("POST", "batch/create"): "assoc_create",
    ("POST", "batch/associate/default"): "assoc_default",
    ("POST", "batch/archive"): "assoc_archive",
    ("POST", "batch/read"): "assoc_read",
    ("GET", "labels"): "assoc_labels",
}
_CONTROL_PREFIX = "/_sandbox/"

_WRITE_SCOPE = "crm.objects.contacts.write"
_READ_SCOPE = "crm.objects.contacts.read"
_BATCH_ENDPOINTS = frozenset(("create", "update", "upsert", "read", "archive"))
_WRITE_ENDPOINTS = frozenset(
    (
        "merge",
        "create",
        "update",
        "upsert",
        "archive",
        "properties.create",
        "groups.create",
        "assoc_create",
        "assoc_default",
        "assoc_archive",
    )
)

_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_RATE_MESSAGES = {
    TEN_SECONDLY: "You have reached your ten_secondly_rolling limit.",
    DAILY: "You have reached your daily limit.",
    SECONDLY: "You have reached your secondly limit.",
}
#: Faults answered before any work: status -> (message, category), in HubSpot's error shape.
_FAULT_ERRORS = {
    502: ("Bad Gateway. Retry later.", "BAD_GATEWAY"),
    503: ("Service Unavailable", "SERVICE_UNAVAILABLE"),
    504: ("Gateway Timeout. Retry later.", "GATEWAY_TIMEOUT"),
    423: (
        "The resource is locked by a concurrent write. Retry after at least 2 seconds.",
        "LOCKED",
    ),
    477: ("Migration in progress. Retry later.", "MIGRATION_IN_PROGRESS"),
}


Handler = Callable[[Any, SandboxConfig], tuple[int, Any]]


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON_TYPE
    #: Seconds to wait before answering (latency_ms).
    delay: float = 0.0
    #: After the commit: "drop" the connection, or answer "slow"ly.
    after: str | None = None
    slow_seconds: float = 0.0


class SandboxApp:
    """HubSpot's contacts API over an in-memory store, plus the ``/_sandbox/`` control API."""

    def __init__(self, token: str, config: SandboxConfig) -> None:
        self.token = token
        self._bearer = f"Bearer {token}"
        self.initial_config = config
        self.config = config
        self._config_lock = threading.Lock()
        self.store = Store()
        self.limiter = RateLimiter()
        self.faults = FaultInjector(config.seed)
        self.stats = Stats()
        self.oauth = OAuthServer(config)
        self.contacts_api = ContactsApi(self.store, self.stats, self.faults.shuffle)
        self.associations_api = AssociationsApi(self.store, self.stats, self.faults.shuffle)
        self.store.reset(config.custom_properties, config.companies)

    # --- configuration and inspection -----------------------------------------------------

    def configure(self, **options: Any) -> SandboxConfig:
        with self._config_lock:
            config = self.config.replace(**options)
            # Custom properties and companies are checked before anything changes.
            new_properties = [property_from_api(p) for p in options.get("custom_properties", ())]
            try:
                parse_rules(config.validation_rules)
            except RuleError as exc:
                raise ConfigError(f"validation_rules: {exc}") from exc
            self.config = config
        if "seed" in options:
            self.faults.reseed(config.seed)
        if "oauth_refresh_token" in options:
            self.oauth.grant(config.oauth_refresh_token)
        for prop in new_properties:
            self.store.add_property(prop, replace=True)
        if "companies" in options:
            for company_id, name in config.companies:
                if company_id not in self.store.companies:
                    self.store.add_company(company_id, name)
        return config

    def reset(self, *, restore_config: bool) -> None:
        with self._config_lock:
            if restore_config:
                self.config = self.initial_config
            config = self.config
        self.store.reset(config.custom_properties, config.companies)
        self.limiter.reset()
        self.stats.reset()
        self.oauth.reset(config)
        self.faults.reseed(config.seed)

    def contacts(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [c.to_record() for c in self.store.contacts.values()]

    def archived_contacts(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [c.to_record() for c in self.store.contacts.values() if c.archived]

    def association_types(self, contact_id: str) -> dict[str, list[int]]:
        with self.store.lock:
            contact = self.store.contacts.get(str(contact_id))
            if contact is None:
                raise KeyError(f"no contact {contact_id}")
            return {company: sorted(types) for company, types in contact.associations.items()}

    def associate(self, contact_id: str, company_id: str, type_ids: Iterable[int]) -> None:
        with self.store.lock:
            contact = self.store.contacts.get(str(contact_id))
            if contact is None:
                raise KeyError(f"no contact {contact_id}")
            if str(company_id) not in self.store.companies:
                raise KeyError(f"no company {company_id}")
            contact.associate(str(company_id), type_ids)

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.store.lock:
            contact = self.store.find(email, "email")
            return contact.to_record() if contact is not None else None

    def add_contact(self, properties: Mapping[str, Any]) -> str:
        """Store a contact as given (no validation, no rate limit); email must be free."""
        props = {str(k): str(v) for k, v in properties.items() if v is not None and v != ""}
        if "email" in props:
            props["email"] = normalize_email(props["email"])
        with self.store.lock:
            email = props.get("email")
            existing = self.store.owner_of_email(email) if email else None
            if existing:
                raise ValueError(f"Contact already exists. Existing ID: {existing}")
            stamp = now_iso()
            contact = self.store.insert(self.store.allocate_id(), props, stamp)
            if "createdate" in properties:
                contact.created_at = str(properties["createdate"])
            return contact.id

    def merge(self, primary_id: str, merged_id: str) -> dict[str, Any]:
        """Merge two contacts as HubSpot does (``Store.merge``); the survivor's record."""
        with self.store.lock:
            contact = self.store.merge(primary_id, merged_id, now_iso())
            self.store.mark_visible(contact, self.config.search_lag_ms)
            record = contact.to_record()
        self.stats.records("merged", 1)
        return record

    def archive_contact(self, contact_id: str) -> dict[str, Any]:
        """Archive (delete) one contact as a HubSpot user would; KeyError if not active."""
        with self.store.lock:
            contact = self.store.find(contact_id, None)
            if contact is None:
                raise KeyError(f"no active contact {contact_id}")
            self.store.archive(contact, now_iso())
            record = contact.to_record()
        self.stats.records("archived", 1)
        return record

    def stats_snapshot(self) -> dict[str, Any]:
        snapshot = self.stats.snapshot(self.limiter.max_in_window, self.limiter.daily_used)
        # CPU of the whole process: meaningful when the sandbox runs alone (CLI, benchmarks).
        snapshot.update(self.oauth.snapshot())
        snapshot["process_cpu_seconds"] = round(time.process_time(), 3)
        return snapshot

    # --- the pipeline ---------------------------------------------------------------------

    def handle(
        self, method: str, target: str, header: Callable[[str], str | None], body: bytes
    ) -> Response:
        """Answer one request; ``header`` looks up a request header by its lower-case name."""
        path, _, query = target.partition("?")
        correlation_id = str(uuid.uuid4())
        if path.startswith(_CONTROL_PREFIX):
            response = self._control(method, path[len(_CONTROL_PREFIX) :], query, body)
        elif token_endpoint(method, path):
            response = self._token_info(method, path, body, correlation_id)
        elif method == "POST" and TOKEN_PATH_RE.fullmatch(path):
            status, answer = self.oauth.token(body, self.config)
            self.stats.request("oauth.token", status)
            response = Response(status, _encode(answer).encode())
        else:
            response = self._hubspot(method, path, query, header, body, correlation_id)
        response.headers.append(("X-HubSpot-Correlation-Id", correlation_id))
        return response

    def _hubspot(
        self,
        method: str,
        path: str,
        query: str,
        header: Callable[[str], str | None],
        body: bytes,
        correlation_id: str,
    ) -> Response:
        config = self.config
        endpoint, handler = self._route(method, path, query)
        delay = config.latency_ms / 1000.0
        refused = self._refused(header("authorization"))
        if refused is not None:
            self.stats.request(endpoint, 401)
            category = (
                "INVALID_AUTHENTICATION" if refused == _AUTH_MESSAGE else "EXPIRED_AUTHENTICATION"
            )
            return _error(401, refused, category, correlation_id, delay)
        headers: list[tuple[str, str]] = []
        if endpoint == "search":
            if not self.limiter.check_search(config.search_rate_limit):
                return self._rate_limited(SECONDLY, 1, [], correlation_id, config, endpoint)
        else:
            verdict = self.limiter.check(
                config.rate_limit_max, config.rate_limit_interval_ms, config.daily_limit
            )
            headers = verdict.headers()
            if verdict.policy is not None:
                return self._rate_limited(
                    verdict.policy, verdict.retry_after, headers, correlation_id, config, endpoint
                )
        scope = _WRITE_SCOPE if endpoint in _WRITE_ENDPOINTS else _READ_SCOPE
        if endpoint in _SCOPED_ENDPOINTS and (config.missing_scopes or scope not in config.scopes):
            self.stats.request(endpoint, 403)
            response = _error(
                403,
                "This app hasn't been granted all required scopes to make this call.",
                "MISSING_SCOPES",
                correlation_id,
                delay,
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
            )
            response.headers.extend(headers)
            return response
        plan: FaultPlan = NO_FAULTS
        if endpoint in config.fault_endpoints:
            plan = self.faults.plan(config)
            if plan.before_work is not None:
                response = self._fault_before_work(plan.before_work, correlation_id, config)
                response.headers.extend(headers)
                response.delay = delay
                self.stats.request(endpoint, response.status)
                return response
        try:
            payload: Any = None
            if method == "POST":
                payload = _decode(body)
            status, answer = handler(payload, config)
        except ApiError as exc:
            status, answer = exc.status, exc.body(correlation_id)
        response = Response(status, b"" if answer is None else _encode(answer).encode(), headers)
        response.delay = delay
        if plan.after_commit is not None and status < 300:
            self.stats.fault(f"{plan.after_commit}_after_commit")
            response.after = plan.after_commit
            response.slow_seconds = config.slow_after_commit_seconds
        self.stats.request(endpoint, "dropped" if response.after == "drop" else status)
        return response

    def _token_info(self, method: str, path: str, body: bytes, correlation_id: str) -> Response:
        """The token-info endpoints (``tokens``): no bearer header, no rate limit."""
        endpoint = token_endpoint(method, path) or "unknown"
        config = self.config
        try:
            issued = self.oauth.is_live
            status, answer = token_info(endpoint, path, body, self.token, config, issued)
        except ApiError as exc:
            status, answer = exc.status, exc.body(correlation_id)
        self.stats.request(endpoint, status)
        response = Response(status, _encode(answer).encode())
        response.delay = config.latency_ms / 1000.0
        return response

    def _refused(self, authorization: str | None) -> str | None:
        """None for the static token or a live OAuth token; else the 401's message."""
        if authorization == self._bearer:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        verdict = self.oauth.check(token) if scheme == "Bearer" and token else "unknown"
        return _AUTH_MESSAGE if verdict == "unknown" else verdict

    def _rate_limited(
        self,
        policy: str,
        retry_after: int,
        headers: list[tuple[str, str]],
        correlation_id: str,
        config: SandboxConfig,
        endpoint: str,
    ) -> Response:
        self.stats.rate_limited(policy)
        self.stats.request(endpoint, 429)
        body = {
            "status": "error",
            "message": _RATE_MESSAGES[policy],
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id,
            "policyName": policy,
        }
        response = Response(429, _encode(body).encode(), headers, delay=config.latency_ms / 1000)
        if config.retry_after_on_429:
            response.headers.append(("Retry-After", str(retry_after)))
        return response

    def _fault_before_work(
        self, status: int, correlation_id: str, config: SandboxConfig
    ) -> Response:
        self.stats.fault(str(status))
        message, category = _FAULT_ERRORS[status]
        response = _error(status, message, category, correlation_id, 0.0)
        if status == 477:
            response.headers.append(("Retry-After", str(config.fault_477_retry_after_seconds)))
        return response

    # --- routing ----------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: str) -> tuple[str, Handler]:
        api = self.contacts_api
        match = _OBJECTS_RE.fullmatch(path)
        if match:
            version, kind, first, second = match.groups()
            if kind == "contacts":
                if method == "POST" and first == "batch" and second in ("create", "update"):
                    return second, self._checked_write(second, version)
                if method == "POST" and first == "batch" and second in _BATCH_ENDPOINTS:
                    return second, getattr(api, second)
                if method == "POST" and first == "search" and second is None:
                    return "search", api.search
                if method == "POST" and first == "merge" and second is None:
                    return "merge", api.merge
                if method == "GET" and first and second is None and first != "batch":
                    return "get", lambda _p, c: api.get(first, parse_qs(query), c)
                if method == "GET" and first is None:
                    return "list", lambda _p, _c: api.list_page(parse_qs(query))
            elif method == "GET" and first and second is None:
                return "companies.get", lambda _p, _c: self._get_company(first)
            return "unknown", _not_found(method, path)
        match = _ASSOCIATIONS_RE.fullmatch(path)
        if match:
            from_type, to_type, action = match.groups()
            endpoint = _ASSOCIATION_ENDPOINTS.get((method, action))
            if endpoint is None or from_type not in _FROM_CONTACTS or to_type not in _TO_COMPANIES:
                return "unknown", _not_found(method, path)
            assoc = self.associations_api
            if endpoint == "assoc_labels":
                return endpoint, lambda _p, _c: assoc.labels()
            handlers: dict[str, Handler] = {
                "assoc_create": assoc.create,
                "assoc_default": assoc.associate_default,
                "assoc_archive": assoc.archive,
                "assoc_read": assoc.read,
            }
            return endpoint, handlers[endpoint]
        if _GROUPS_RE.fullmatch(path):
            if method == "GET":
                return "groups.list", lambda _p, _c: self._list_groups()
            if method == "POST":
                return "groups.create", lambda p, _c: self._create_group(p)
            return "unknown", _not_found(method, path)
        if _VALIDATIONS_RE.fullmatch(path) and method == "GET":
            return "validations", lambda _p, c: (200, rules_answer(parse_rules(c.validation_rules)))
        match = _PROPERTIES_RE.fullmatch(path)
        if match:
            name = match.group(1)
            if name is None and method == "GET":
                return "properties.list", lambda _p, _c: self._list_properties()
            if name is None and method == "POST":
                return "properties.create", lambda p, _c: self._create_property(p)
            if name is not None and method == "GET":
                return "properties.get", lambda _p, _c: self._get_property(name)
        return "unknown", _not_found(method, path)

    def _checked_write(self, endpoint: str, version: str | None) -> Handler:
        """batch/create or batch/update; at an enforcing version (2026-09) with the portal's
        validation rules checked on every input."""
        write = getattr(self.contacts_api, endpoint)
        if version not in ENFORCING_VERSIONS:
            return write

        def handler(payload: Any, config: SandboxConfig) -> tuple[int, Any]:
            rules = parse_rules(config.validation_rules)  # checked when configured
            return write(payload, config, rules=rules)

        return handler

    def _list_groups(self) -> tuple[int, Any]:
        return 200, {"results": [g.to_api() for g in self.store.groups.values()]}

    def _create_group(self, payload: Any) -> tuple[int, Any]:
        try:
            group = group_from_api(payload)
        except PropertyDefinitionError as exc:
            raise ApiError(400, str(exc), VALIDATION_ERROR) from exc
        if not self.store.add_group(group):
            raise ApiError(409, f"Property group named '{group.name}' already exists.", CONFLICT)
        return 201, group.to_api()

    def _list_properties(self) -> tuple[int, Any]:
        return 200, {"results": [p.to_api() for p in self.store.properties.values()]}

    def _get_property(self, name: str) -> tuple[int, Any]:
        prop = self.store.properties.get(name)
        if prop is None:
            raise ApiError(
                404, f"Unable to find property {name} for object type 0-1", OBJECT_NOT_FOUND
            )
        return 200, prop.to_api()

    def _create_property(self, payload: Any) -> tuple[int, Any]:
        try:
            prop = property_from_api(payload)
        except PropertyDefinitionError as exc:
            raise ApiError(400, str(exc), VALIDATION_ERROR) from exc
        if prop.group_name not in self.store.groups:
            raise ApiError(
                400, f"Property group {prop.group_name} does not exist.", VALIDATION_ERROR
            )
        if not self.store.add_property(prop):
            raise ApiError(409, f"Property named '{prop.name}' already exists.", CONFLICT)
        return 201, prop.to_api()

    def _get_company(self, company_id: str) -> tuple[int, Any]:
        company = self.store.companies.get(company_id)
        if company is None:
            raise ApiError(404, "resource not found", OBJECT_NOT_FOUND)
        return 200, company

    # --- /_sandbox/ control API -------------------------------------------------------------

    def _control(self, method: str, name: str, query: str, body: bytes) -> Response:
        try:
            payload = _decode(body) if body else None
            status, answer = self._control_answer(method, name.rstrip("/"), query, payload)
        except ApiError as exc:
            status, answer = exc.status, {"status": "error", "message": exc.message}
        except (ConfigError, PropertyDefinitionError, ValueError) as exc:
            status, answer = 400, {"status": "error", "message": str(exc)}
        return Response(status, _encode(answer).encode())

    def _control_answer(self, method: str, name: str, query: str, payload: Any) -> tuple[int, Any]:
        if (method, name) == ("GET", "contacts"):
            emails = parse_qs(query).get("email")
            if emails:
                email = emails[0]
                found = self.contact_by_email(email)
                return 200, {"results": [found] if found else []}
            return 200, {"results": self.contacts()}
        if (method, name) == ("POST", "contacts"):
            items = payload.get("contacts") if isinstance(payload, dict) else payload
            if not isinstance(items, list):
                raise ApiError(400, 'body must be {"contacts": [{property: value}, ...]}')
            ids = []
            for item in items:
                props = item.get("properties", item) if isinstance(item, dict) else None
                if not isinstance(props, dict):
                    raise ApiError(400, "each contact must be an object of properties")
                try:
                    ids.append(self.add_contact(props))
                except ValueError as exc:
                    raise ApiError(409, str(exc)) from exc
            return 201, {"ids": ids}
        if (method, name) == ("POST", "merge"):
            if not isinstance(payload, dict):
                raise ApiError(400, 'body must be {"primary": id, "merged": id}')
            try:
                return 200, self.merge(str(payload.get("primary")), str(payload.get("merged")))
            except KeyError as exc:
                raise ApiError(404, str(exc.args[0])) from None
        if (method, name) == ("POST", "archive"):
            if not isinstance(payload, dict) or "id" not in payload:
                raise ApiError(400, 'body must be {"id": id}')
            try:
                return 200, self.archive_contact(str(payload["id"]))
            except KeyError as exc:
                raise ApiError(404, str(exc.args[0])) from None
        if (method, name) == ("GET", "companies"):
            return 200, {"results": list(self.store.companies.values())}
        if (method, name) == ("POST", "companies"):
            if not isinstance(payload, dict):
                raise ApiError(400, 'body must be {"id"?: str, "name": str}')
            raw_id = payload.get("id")
            company_id = self.store.add_company(
                None if raw_id is None else str(raw_id), str(payload.get("name", ""))
            )
            return 201, {"id": company_id}
        if (method, name) == ("GET", "stats"):
            return 200, self.stats_snapshot()
        if (method, name) == ("GET", "config"):
            return 200, self.config.to_dict()
        if (method, name) == ("POST", "config"):
            if not isinstance(payload, dict):
                raise ApiError(400, "body must be an object of options")
            return 200, self.configure(**payload).to_dict()
        if (method, name) == ("POST", "reset"):
            restore = bool(payload.get("restore_config")) if isinstance(payload, dict) else False
            self.reset(restore_config=restore)
            return 200, {"status": "ok", "config": self.config.to_dict()}
        if (method, name) == ("POST", "oauth/revoke"):
            token = payload.get("refresh_token") if isinstance(payload, dict) else None
            return 200, {"revoked": self.oauth.revoke(None if token is None else str(token))}
        if (method, name) == ("GET", "health"):
            return 200, {"status": "ok"}
        raise ApiError(404, f"no sandbox control endpoint {method} /_sandbox/{name}")


_SCOPED_ENDPOINTS = frozenset(
    (
        "merge",
        "create",
        "update",
        "upsert",
        "read",
        "archive",
        "get",
        "list",
        "search",
        "properties.list",
        "properties.get",
        "properties.create",
        "groups.list",
        "groups.create",
        "validations",
        "assoc_create",
        "assoc_default",
        "assoc_archive",
        "assoc_read",
        "assoc_labels",
    )
)


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"Invalid input JSON: {exc}") from exc


def _not_found(method: str, path: str) -> Handler:
    def handler(_payload: Any, _config: SandboxConfig) -> tuple[int, Any]:
        raise ApiError(404, f"No such endpoint: {method} {path}", OBJECT_NOT_FOUND)

    return handler


def _error(
    status: int,
    message: str,
    category: str,
    correlation_id: str,
    delay: float,
    **extra: Any,
) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id,
        "category": category,
    }
    body.update(extra)
    return Response(status, _encode(body).encode(), delay=delay)
