"""A small HubSpot CRM client: plain data in, plain data out, no Django models.

One ``requests.Session`` per client (and one client per process, see ``services``) so
connections are kept alive; a timeout on every call; every error translated in ``_send`` into
the exceptions of ``crmsync.exceptions``. POSTs are never retried here: batch/create is not
idempotent, and deciding whether to resend is the service layer's job.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from . import __version__
from .answers import http_error, parse_json, transport_error
from .credentials import Credentials, StaticToken
from .exceptions import (
    AuthenticationError,
    RateLimitedError,
)
from .hubspot import daily_quota
from .propertiesapi import PropertiesApi

logger = logging.getLogger(__name__)

USER_AGENT = f"crmsync/{__version__} (+https://github.com/crmsync/crmsync) python-requests"


Hook = Callable[[], None]


class Limiter(Protocol):
    def acquire(self, deadline: float | None = None) -> Any: ...
    def answered(self, slot: Any) -> None: ...
    def observe(self, headers: Mapping[str, str]) -> None: ...
    def cool_down(self, seconds: float) -> None: ...


@dataclass
class BatchResponse:
    """HubSpot's answer to a batch request, as plain data."""

    http_status: int
    status: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    requested_at: str = ""
    started_at: str = ""
    completed_at: str = ""
    correlation_id: str = ""
    duration_ms: int = 0
    #: HubSpot's daily cap and what is left of it (X-HubSpot-RateLimit-Daily and
    #: -Daily-Remaining), when the answer carried them (OAuth apps get none).
    daily_limit: int | None = None
    daily_remaining: int | None = None


def objects_path(api_version: str, object_type: str = "contacts") -> str:
    """``/crm/v3/objects/contacts`` (legacy "v3") or ``/crm/objects/2026-03/contacts``."""
    if api_version == "v3":
        return f"/crm/v3/objects/{object_type}"
    return f"/crm/objects/{api_version}/{object_type}"


def associations_path(api_version: str) -> str:
    """Contact -> company associations: legacy v4, or the date-versioned path."""
    if api_version == "v3":
        return "/crm/v4/associations/contacts/companies"
    return f"/crm/associations/{api_version}/contacts/companies"


def _inputs_endpoint(action: str) -> Callable[..., BatchResponse]:
    """A ``batch/<action>`` of contacts taking ``inputs``, as ``batch_create`` is."""

    def send(
        self: HubSpotClient,
        inputs: Sequence[Mapping[str, Any]],
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        path = f"{self.objects_path()}/batch/{action}"
        return self._batch(path, encoded or encode({"inputs": list(inputs)}), before_send)

    return send


class ApiPaths:
    """The paths of every endpoint at ``api_version``: a date version such as "2026-03"
    (/crm/objects/2026-03/...), or the legacy "v3" (/crm/v3/..., /crm/v4/associations)."""

    api_version: str

    def objects_path(self, object_type: str = "contacts") -> str:
        return objects_path(self.api_version, object_type)

    def associations_path(self) -> str:
        return associations_path(self.api_version)


class HubSpotClient(ApiPaths, PropertiesApi):
    """Talks to the CRM contacts API. Thread-safe enough to share across a worker's threads:
    the session holds no cookies and urllib3's pool is thread-safe."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str = "",
        timeout: float = 30.0,
        api_version: str = "2026-03",
        limiter: Limiter | None = None,
        pool_size: int = 10,
        credentials: Credentials | None = None,
    ) -> None:
        # From here on the token sits in this frame only inside a StaticToken, whose repr is
        # redacted: a traceback's frame locals (Django's debug page, error trackers) never
        # show it, whatever raises below. The settings are checked before a client is built
        # (crmsync.conf.validated_settings), so the client checks nothing itself.
        # ``credentials`` (an OAuth app's, crmsync.credentials) give the bearer of each
        # request instead.
        token: Credentials = credentials or StaticToken(access_token)
        del access_token
        self.credentials = token
        self._static = isinstance(self.credentials, StaticToken)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.api_version = api_version
        self.limiter = limiter
        self.session = _new_session(self.base_url, pool_size)
        if self._static:  # the same on every request
            self.session.headers["Authorization"] = token.bearer().header()

    def __repr__(self) -> str:  # never show the token; safe on a half-built client too
        base_url = getattr(self, "base_url", "?")
        return f"<HubSpotClient {base_url} api={getattr(self, 'api_version', '?')}>"

    def close(self) -> None:
        self.session.close()

    # -- endpoints -------------------------------------------------------------------------

    # ``before_send`` runs after the rate limiter let the request through and just before it
    # is sent (the service checks its lease there); it may raise to cancel the request.
    # ``encoded`` is the body already serialized by ``encode`` (the service keeps that text
    # as history, so the body is serialized once).

    def batch_create(
        self,
        inputs: Sequence[Mapping[str, Any]],
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        path = f"{self.objects_path()}/batch/create"
        return self._batch(path, encoded or encode({"inputs": list(inputs)}), before_send)

    batch_update = _inputs_endpoint("update")  # by record id
    batch_upsert = _inputs_endpoint("upsert")  # by a unique property; results carry "new"

    def batch_archive(
        self,
        inputs: Sequence[Mapping[str, Any]],
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        """Archive contacts by id: 204 and no body, even for an id HubSpot does not know."""
        path = f"{self.objects_path()}/batch/archive"
        return self._batch(path, encoded or encode({"inputs": list(inputs)}), before_send)

    def associations_create(
        self,
        inputs: Sequence[Mapping[str, Any]],
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        """v4 contact -> company associations: 201, or 207 naming the pairs that failed."""
        path = f"{self.associations_path()}/batch/create"
        return self._batch(path, encoded or encode({"inputs": list(inputs)}), before_send)

    def associations_archive(
        self,
        inputs: Sequence[Mapping[str, Any]],
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        """Remove every association between each pair: 204, no body."""
        path = f"{self.associations_path()}/batch/archive"
        return self._batch(path, encoded or encode({"inputs": list(inputs)}), before_send)

    def batch_read_by_email(
        self,
        emails: Sequence[str],
        properties: Sequence[str] = ("email",),
        before_send: Hook | None = None,
        encoded: bytes | None = None,
    ) -> BatchResponse:
        path = f"{self.objects_path()}/batch/read"
        return self._batch(
            path, encoded or encode(read_by_email_body(emails, properties)), before_send
        )

    def probe(self, timeout: float = 5.0) -> None:
        """One cheap read with a short timeout; raises AuthenticationError... if refused."""
        self._send("GET", f"{self.objects_path()}?limit=1", None, timeout=timeout)

    # -- transport -------------------------------------------------------------------------

    def _batch(self, path: str, data: bytes, before_send: Hook | None) -> BatchResponse:
        started = time.monotonic()
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        answer, status, correlation_id = self._send("POST", path, data, before_send, headers)
        answer, (daily_limit, daily_remaining) = answer or {}, daily_quota(headers)
        return BatchResponse(
            http_status=status,
            status=str(answer.get("status", "")),
            results=list(answer.get("results") or []),
            errors=list(answer.get("errors") or []),
            requested_at=str(answer.get("requestedAt", "") or ""),
            started_at=str(answer.get("startedAt", "") or ""),
            completed_at=str(answer.get("completedAt", "") or ""),
            correlation_id=correlation_id,
            duration_ms=int((time.monotonic() - started) * 1000),
            daily_limit=daily_limit,
            daily_remaining=daily_remaining,
        )

    def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        before_send: Hook | None = None,
        headers_out: CaseInsensitiveDict[str] | None = None,
        timeout: float | None = None,
        cool_down_on_429: bool = True,
    ) -> tuple[dict[str, Any] | None, int, str]:
        """Send one request; return (body, status, correlation id), headers to headers_out.

        A 401 that the credentials can answer with a newer token (an OAuth token expired or
        superseded) is sent once more with it: the same request, no attempt of its rows."""
        args = (method, path, data, before_send, headers_out, timeout, cool_down_on_429)
        try:
            return self._send_once(*args)
        except AuthenticationError as exc:
            if exc.bearer_used is None or not self.credentials.renew(exc.bearer_used):
                raise
        return self._send_once(*args)

    def _send_once(self, method: str, path: str, data: bytes | None, before_send: Hook | None,
                   headers_out: CaseInsensitiveDict[str] | None, timeout: float | None,
                   cool_down_on_429: bool) -> tuple[dict[str, Any] | None, int, str]:  # fmt: skip
        wait = self.timeout if timeout is None else min(timeout, self.timeout)
        slot = None
        if self.limiter is not None:
            slot = self.limiter.acquire(None if timeout is None else time.monotonic() + wait)
        # The token first (it may wait for another worker's refresh), then the lease check:
        # nothing is sent on a lease that ran out meanwhile.
        used = self.credentials.bearer()  # a Secret: redacted in any traceback
        if before_send is not None:
            before_send()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                data=data,
                headers=None if self._static else {"Authorization": used.header()},
                timeout=(min(wait, 10.0), wait),
            )
        except requests.RequestException as exc:
            raise transport_error(exc, method, path) from None
        if self.limiter is not None:
            self.limiter.answered(slot)  # HubSpot has counted it: no margin needed now
        if self.limiter is not None and (cool_down_on_429 or response.status_code != 429):
            # A side read (search, the schema) refused for the rate limit teaches the shared
            # limiter nothing: the batch senders' own requests meet the limit if it holds.
            self.limiter.observe(response.headers)
        correlation_id = response.headers.get("X-HubSpot-Correlation-Id", "")
        if headers_out is not None:
            headers_out.update(response.headers)
        parsed = parse_json(response)
        if response.status_code >= 400:
            error = http_error(response, parsed, correlation_id, method, path)
            limited = isinstance(error, RateLimitedError) and not error.is_daily
            if self.limiter is not None and limited and cool_down_on_429:
                self.limiter.cool_down(error.retry_after or 1.0)
            if isinstance(error, AuthenticationError):
                error.bearer_used = used  # for renew(); a Secret, never shown
            raise error
        return parsed, response.status_code, correlation_id


def _new_session(base_url: str, pool_size: int) -> requests.Session:
    session = requests.Session()
    # Resolve proxies from the environment once, not on every call (requests otherwise
    # re-reads the environment and ~/.netrc per request, about 0.5 ms each).
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.trust_env = False
    # No cookie ever matters to this API; refusing them keeps the shared session stateless.
    session.cookies.set_policy(_RejectAllCookies())
    # max_retries=0: never resend a POST at the transport level (it may duplicate records).
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(
        {"User-Agent": USER_AGENT, "Accept": "application/json", "Content-Type": "application/json"}
    )
    return session


def search_contacts(
    client: HubSpotClient,
    filter_groups: Sequence[Mapping[str, Any]],
    properties: Sequence[str],
    *,
    limit: int = 10,
    timeout: float = 5.0,
) -> list[dict[str, Any]]:
    """``POST .../contacts/search``, bounded for an operator's page: a short timeout (also on
    the limiter's wait), and a 429 (search has its own per-second limit) does not cool the
    shared limiter down for the batch senders."""
    body = {"filterGroups": list(filter_groups), "properties": list(properties), "limit": limit}
    path = f"{client.objects_path()}/search"
    answer, _, _ = client._send("POST", path, encode(body), timeout=timeout, cool_down_on_429=False)
    return list((answer or {}).get("results") or [])


def encode(body: Mapping[str, Any]) -> bytes:
    """A request body as HubSpot gets it: compact JSON in UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def read_by_email_body(
    emails: Sequence[str], properties: Sequence[str] = ("email",)
) -> dict[str, Any]:
    return {
        "idProperty": "email",
        "properties": list(properties),
        "propertiesWithHistory": [],  # required by the spec's BatchReadInputSimplePublicObjectId
        "inputs": [{"id": e} for e in emails],
    }


def batch_read(
    client: HubSpotClient,
    body: Mapping[str, Any],
    before_send: Hook | None = None,
    encoded: bytes | None = None,
) -> BatchResponse:
    """batch/read with a body from ``read_body`` (by id, email or a unique property)."""
    path = f"{client.objects_path()}/batch/read"
    return client._batch(path, encoded or encode(body), before_send)


def read_body(
    keys: Sequence[str], id_property: str = "", properties: Sequence[str] = ("email",)
) -> dict[str, Any]:
    """A batch/read body: by record id (``id_property`` empty), else by that property."""
    body: dict[str, Any] = {
        "properties": list(properties),
        "propertiesWithHistory": [],
        "inputs": [{"id": k} for k in keys],
    }
    if id_property:
        body["idProperty"] = id_property
    return body


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False
