"""What HubSpot says of the configured token: its kind, its scopes, its account.

HubSpot has one endpoint per kind of token: ``POST /oauth/v2/private-apps/get/access-token-info``
with ``{"tokenKey": ...}`` for a private app's token (a service key is sent the same way), and
``GET /oauth/v1/access-tokens/<token>`` for an OAuth access token. :func:`token_info` asks the
first, then the second if the first refuses the token. The token is never shown: an error names
the OAuth path as ``.../<token>``, and of HubSpot's answer (which may echo the token) only the
kind, the scopes and the account id are kept. ``crmsync_doctor`` uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import requests

from .answers import http_error, parse_json, transport_error
from .client import HubSpotClient, encode
from .exceptions import EndpointNotFoundError, RejectedError

PRIVATE_APP_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
OAUTH_INFO_PATH = "/oauth/v1/access-tokens"


def token_info(client: HubSpotClient, timeout: float = 5.0) -> dict[str, Any]:
    """``{"kind": "private_app" | "oauth", "scopes": [...], "hub_id": ...}``; raises
    crmsync's HubSpotError subclasses when HubSpot refuses or cannot be reached."""
    secret = client.credentials.bearer().header().removeprefix("Bearer ")
    data = encode({"tokenKey": secret})
    try:
        answer = _request(client, "POST", PRIVATE_APP_INFO_PATH, data, timeout)
        kind, hub_id = "private_app", answer.get("hubId")
    except (RejectedError, EndpointNotFoundError):  # not a private app's token
        path = f"{OAUTH_INFO_PATH}/{quote(secret, safe='')}"
        with _redacted(quote(secret, safe="")):  # urllib3's debug log names the URL
            answer = _request(client, "GET", path, None, timeout)
        kind, hub_id = "oauth", answer.get("hub_id")
    scopes = answer.get("scopes")
    if not isinstance(scopes, list):
        raise RejectedError("HubSpot's token info carried no list of scopes", status=200)
    return {"kind": kind, "scopes": sorted(str(s) for s in scopes), "hub_id": hub_id}


def _request(
    client: HubSpotClient, method: str, path: str, data: bytes | None, timeout: float
) -> dict[str, Any]:
    shown = path if path == PRIVATE_APP_INFO_PATH else f"{OAUTH_INFO_PATH}/<token>"
    wait = min(timeout, client.timeout)
    try:
        response = client.session.request(
            method, client.base_url + path, data=data, timeout=(min(wait, 10.0), wait)
        )
    except requests.RequestException as exc:
        raise transport_error(exc, method, shown) from None
    parsed = parse_json(response)
    correlation_id = response.headers.get("X-HubSpot-Correlation-Id", "")
    if response.status_code >= 400:
        raise http_error(response, parsed, correlation_id, method, shown)
    return parsed or {}


class _Redact(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.secret in text:
            record.msg, record.args = text.replace(self.secret, "<token>"), None
        return True


@contextmanager
def _redacted(secret: str) -> Iterator[None]:
    """While a request carries the token in its path, urllib3's log lines show ``<token>``."""
    target = logging.getLogger("urllib3.connectionpool")
    redact = _Redact(secret)
    target.addFilter(redact)
    try:
        yield
    finally:
        target.removeFilter(redact)
