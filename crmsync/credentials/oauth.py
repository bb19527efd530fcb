"""An OAuth 2.0 app's access token, refreshed before it expires by one worker at a time.

``bearer()`` answers from this process's copy while it has more than the margin left; then
from the shared store; when the shared token too is near its end, the caller takes the
store's lock, looks once more and only then asks HubSpot. A worker that finds the lock taken
waits for the token the holder writes. ``renew(used)`` after a 401: a newer shared token is
taken as it is; otherwise one refresh, the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

import requests

from ..answers import http_error, parse_json, transport_error
from ..exceptions import ConnectionFailedError, ServerError
from .base import OAuthGrantError, Secret
from .stores import TokenStore

logger = logging.getLogger(__name__)

#: How often a worker waiting for another's refresh looks at the store.
WAIT_POLL_SECONDS = 0.05


class OAuthTokens:
    """``Credentials`` of an OAuth app. Secrets are held only here; repr shows none."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        store: TokenStore,
        margin_seconds: float = 300.0,
        timeout: float = 30.0,
    ) -> None:
        self._token_url = token_url
        self._client = (client_id, client_secret)
        self._refresh_token = refresh_token
        self._store = store
        self._margin = margin_seconds
        self._timeout = timeout
        self._lock = threading.Lock()
        self._local: tuple[str, float] | None = None  # access token, monotonic refresh time
        self._session = requests.Session()
        self._session.trust_env = False
        self._used_refresh = refresh_token
        #: Refreshes this process made (the chaos harness compares them with the expiries).
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<OAuthTokens {self._token_url} store={self._store!r}>"

    __str__ = __repr__

    def bearer(self) -> Secret:
        local = self._local
        if local is not None and time.monotonic() < local[1]:
            return Secret(local[0])
        with self._lock:
            return Secret(self._current(stale=None))

    def renew(self, used: Secret) -> bool:
        """A 401 answered ``used``: take a newer shared token, or refresh once. True: resend
        with ``bearer()``."""
        with self._lock:
            if self._local is not None and used.same(self._local[0]):
                self._local = None
            self._current(stale=used)
        return True

    def close(self) -> None:
        self._session.close()

    # -- the refresh, one worker at a time ----------------------------------------------------

    def _margin_for(self, lifetime: float) -> float:
        return min(self._margin, lifetime / 4)

    def _usable(self, found: tuple[str, float, float] | None, stale: Secret | None) -> str | None:
        if found is None:
            return None
        token, left, lifetime = found
        margin = self._margin_for(lifetime)
        if (stale is not None and stale.same(token)) or left <= margin:
            return None
        self._local = (token, time.monotonic() + left - margin)
        return token

    def _current(self, stale: Secret | None) -> str:
        token = self._usable(self._store.read(), stale)
        if token is not None:
            return token
        owner = uuid.uuid4().hex
        hold = self._timeout + 5.0
        deadline = time.monotonic() + 2 * hold
        while time.monotonic() < deadline:
            if self._store.try_lock(owner, hold):
                try:
                    # Another worker may have refreshed between our read and the lock.
                    token = self._usable(self._store.read(), stale)
                    return token if token is not None else self._refresh()
                finally:
                    self._store.unlock(owner)
            time.sleep(WAIT_POLL_SECONDS)
            token = self._usable(self._store.read(), stale)
            if token is not None:
                return token
        raise ConnectionFailedError("no OAuth access token: another worker's refresh never ended")

    def _refresh(self) -> str:
        # No secret in a local variable of these frames (a traceback's locals show them):
        # the form is built in the call and the refresh token used kept on self.
        self._used_refresh = self._store.refresh_token() or self._refresh_token
        answer = self._post()
        try:
            access = str(answer["access_token"])
            lifetime = float(answer["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise ServerError("HubSpot's token endpoint answered without a token") from None
        rotated = answer.get("refresh_token") not in (None, "", self._used_refresh)
        self._store.write(access, lifetime, str(answer["refresh_token"]) if rotated else "")
        self.refreshes += 1
        self._local = (access, time.monotonic() + lifetime - self._margin_for(lifetime))
        logger.info("crmsync: OAuth access token refreshed; it lasts %.0f s", lifetime)
        return access

    def _form(self) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "client_id": self._client[0],
            "client_secret": self._client[1],
            "refresh_token": self._used_refresh,
        }

    def _post(self) -> dict[str, Any]:
        path = "/" + self._token_url.partition("//")[2].partition("/")[2]
        try:
            response = self._session.post(
                self._token_url,
                data=self._form(),
                timeout=(min(self._timeout, 10.0), self._timeout),
            )
        except requests.RequestException as exc:
            raise transport_error(exc, "POST", path) from None
        body = parse_json(response) or {}
        if response.status_code in (400, 401):
            code = str(body.get("status") or body.get("error") or response.status_code)
            message = str(body.get("message") or body.get("error_description") or "")
            raise OAuthGrantError(
                f"HubSpot refused the OAuth refresh ({message or code}): "
                "CRMSYNC['OAUTH_REFRESH_TOKEN'] is revoked or invalid, or the client id or "
                "secret is wrong; install the app again for a new refresh token",
                status=response.status_code,
                category=code,
                method="POST",
                url=path,
            )
        if response.status_code >= 300:
            raise http_error(response, body, "", "POST", path)
        return body
