"""HubSpot's OAuth 2.0 token endpoint and the access tokens it issues.

``POST /oauth/2026-03/token`` (and the v1 path ``/oauth/v1/token``), form-encoded
``grant_type=refresh_token``, ``client_id``, ``client_secret``, ``refresh_token``; the answer is
``{"access_token", "refresh_token", "expires_in", "token_type": "bearer"}``. An access token
lives ``oauth_token_seconds`` (HubSpot: 1,800) and is checked on every API call: an expired
one answers 401 ``EXPIRED_AUTHENTICATION`` "The OAuth token used to make this call expired N
second(s) ago". A revoked or unknown refresh token answers 400 ``BAD_REFRESH_TOKEN`` with the
OAuth error ``invalid_grant``. ``oauth_refresh_invalidates`` plays a HubSpot where a refresh
ends the previous access token (answered like an expired one), ``oauth_rotate_refresh_token``
one that hands out a new refresh token with each refresh (the old one then is revoked).
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from .config import SandboxConfig

TOKEN_PATH_RE = re.compile(r"/oauth/(?:v1|\d{4}-\d{2})/token/?")


class OAuthServer:
    """Refresh tokens, issued access tokens and the refresh count, behind one lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.Lock()
        self.reset(config)

    def reset(self, config: SandboxConfig) -> None:
        with self._lock:
            self._refresh_tokens = {config.oauth_refresh_token}
            #: access token -> monotonic time it expires (or was superseded).
            self._access: dict[str, float] = {}
            self._latest = ""
            self._latest_issued = -math.inf
            self._first_issued: float | None = None
            self._last_used: float | None = None
            self.refreshes = 0
            #: Refreshes made while the latest token had more than half its life left: a
            #: second refresh of one expiry (two workers refreshing at once).
            self.early_refreshes = 0
            #: Refreshes made once the latest token had expired (not renewed in time).
            self.late_refreshes = 0
            self.expired_rejected = 0
            self.bad_grants = 0

    def grant(self, refresh_token: str) -> None:
        """Make ``refresh_token`` valid (a new installation of the app)."""
        with self._lock:
            self._refresh_tokens.add(refresh_token)

    def revoke(self, refresh_token: str | None = None) -> int:
        """Revoke one refresh token, or all of them (``None``); returns how many."""
        with self._lock:
            gone = (
                set(self._refresh_tokens)
                if refresh_token is None
                else ({refresh_token} & self._refresh_tokens)
            )
            self._refresh_tokens -= gone
            return len(gone)

    def token(self, body: bytes, config: SandboxConfig) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return 400, _oauth_error(
                "BAD_GRANT_TYPE", "unsupported_grant_type", "grant_type must be refresh_token"
            )
        if (form.get("client_id"), form.get("client_secret")) != (
            config.oauth_client_id,
            config.oauth_client_secret,
        ):
            return 400, _oauth_error(
                "BAD_CLIENT_ID", "invalid_client", "missing or unknown client id or secret"
            )
        with self._lock:
            refresh_token = form.get("refresh_token", "")
            if refresh_token not in self._refresh_tokens:
                self.bad_grants += 1
                return 400, _oauth_error(
                    "BAD_REFRESH_TOKEN", "invalid_grant", "missing or unknown refresh token"
                )
            if config.oauth_rotate_refresh_token:
                self._refresh_tokens.discard(refresh_token)
                refresh_token = f"sandbox-refresh-{secrets.token_hex(8)}"
                self._refresh_tokens.add(refresh_token)
            now = time.monotonic()
            if now - self._latest_issued < config.oauth_token_seconds / 2:
                self.early_refreshes += 1
            if now >= self._access.get(self._latest, math.inf):
                self.late_refreshes += 1
            self._latest_issued = now
            if self._first_issued is None:
                self._first_issued = now
            if config.oauth_refresh_invalidates and self._latest in self._access:
                self._access[self._latest] = min(self._access[self._latest], now)
            access = f"sandbox-oauth-{secrets.token_hex(16)}"
            self._access[access] = now + config.oauth_token_seconds
            self._latest = access
            self.refreshes += 1
        return 200, {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh_token,
            "expires_in": config.oauth_token_seconds,
        }

    def is_live(self, access_token: str) -> bool:
        """Whether ``access_token`` is one this endpoint issued and is not expired."""
        with self._lock:
            expires = self._access.get(access_token)
        return expires is not None and time.monotonic() < expires

    def check(self, access_token: str) -> str | None:
        """None if the token is good now; else the 401's message (expired N seconds ago)."""
        with self._lock:
            expires = self._access.get(access_token)
            if expires is None:
                return "unknown"
            now = time.monotonic()
            ago = now - expires
            if ago < 0:
                self._last_used = now
                return None
            self.expired_rejected += 1
        seconds = max(math.ceil(ago), 1)
        return f"The OAuth token used to make this call expired {seconds} second(s) ago."

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "oauth_refreshes": self.refreshes,
                "oauth_early_refreshes": self.early_refreshes,
                "oauth_late_refreshes": self.late_refreshes,
                "oauth_expired_rejected": self.expired_rejected,
                "oauth_bad_grants": self.bad_grants,
                # From the first token issued to the last call a token was good for.
                "oauth_seconds_in_use": round(
                    (self._last_used or 0.0) - (self._first_issued or 0.0), 3
                )
                if self._first_issued is not None and self._last_used is not None
                else 0,
            }


def _oauth_error(status: str, error: str, message: str) -> dict[str, Any]:
    """HubSpot's token-endpoint error: its own ``status`` and the OAuth ``error`` code."""
    return {
        "status": status,
        "message": message,
        "error": error,
        "error_description": message,
    }
