"""HubSpot's token-info endpoints: which account, app and scopes a token carries.

- ``POST /oauth/v2/private-apps/get/access-token-info`` with ``{"tokenKey": "<token>"}``
  answers for a private app's access token (and a service key, sent the same way):
  ``{"userId", "hubId", "appId", "scopes": [...]}``.
- ``GET /oauth/v1/access-tokens/<token>`` answers for an OAuth access token:
  ``{"token", "user", "hub_domain", "scopes", "hub_id", "app_id", "expires_in", "user_id",
  "token_type"}``.

Neither takes the bearer header: the token is in the body or the path. A token of the other
kind, or one HubSpot does not know, is an error (what HubSpot answers exactly is not
documented; the sandbox answers 400 for the private-app form and 404 for the OAuth form).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .config import SandboxConfig
from .errors import OBJECT_NOT_FOUND, VALIDATION_ERROR, ApiError

PRIVATE_APP_PATH = "/oauth/v2/private-apps/get/access-token-info"
_OAUTH_RE = re.compile(r"/oauth/v1/access-tokens/([^/]+)/?")
HUB_ID = 12345678
APP_ID = 4242
USER_ID = 777


def endpoint_of(method: str, path: str) -> str | None:
    """ "token_info.private_app" / "token_info.oauth" for these paths, else None."""
    if method == "POST" and path.rstrip("/") == PRIVATE_APP_PATH:
        return "token_info.private_app"
    if method == "GET" and _OAUTH_RE.fullmatch(path):
        return "token_info.oauth"
    return None


def answer(
    endpoint: str,
    path: str,
    body: bytes,
    token: str,
    config: SandboxConfig,
    issued: Callable[[str], bool] = lambda _token: False,
) -> tuple[int, Any]:
    """(status, JSON body) for a token-info request; raises ApiError for a refused one.
    ``issued``: whether a token is a live access token of the sandbox's OAuth endpoint (an
    OAuth token, whatever ``app_kind`` says of the static one)."""
    scopes = sorted(config.scopes)
    if endpoint == "token_info.private_app":
        try:
            payload = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        key = payload.get("tokenKey") if isinstance(payload, dict) else None
        if not isinstance(key, str) or not key:
            raise ApiError(400, "tokenKey is required", VALIDATION_ERROR)
        if key != token or config.app_kind == "oauth":
            raise ApiError(400, "Invalid token key", VALIDATION_ERROR)
        return 200, {"userId": USER_ID, "hubId": HUB_ID, "appId": APP_ID, "scopes": scopes}
    match = _OAUTH_RE.fullmatch(path)
    given = match.group(1) if match else ""
    if not issued(given) and (given != token or config.app_kind != "oauth"):
        raise ApiError(404, "Token not found", OBJECT_NOT_FOUND)
    return 200, {
        "token": given,
        "user": "admin@example.com",
        "hub_domain": "sandbox.example.com",
        "scopes": scopes,
        "hub_id": HUB_ID,
        "app_id": APP_ID,
        "expires_in": 1800,
        "user_id": USER_ID,
        "token_type": "access",
    }
