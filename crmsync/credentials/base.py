"""What every kind of credentials is: the protocol the client uses, the static token, the
refused-grant error and the token endpoint's path.
"""

from __future__ import annotations

from typing import Protocol

from ..exceptions import AuthenticationError


class OAuthGrantError(AuthenticationError):
    """HubSpot refused the refresh token or the app's id and secret: nothing will be sent
    until an operator gives a new grant (the pipeline pauses, as for a rejected token)."""


class Secret:
    """A token that never shows itself: repr and str are redacted, so a traceback's frame
    locals (Django's debug page, error trackers) never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def header(self) -> str:
        """The Authorization header's value (built in this frame, never in the caller's)."""
        return f"Bearer {self._value}"

    def same(self, token: str) -> bool:
        return self._value == token


class Credentials(Protocol):
    def bearer(self) -> Secret:
        """The token for the next request."""

    def renew(self, used: Secret) -> bool:
        """A 401 answered ``used``: True if a newer token is there to resend with."""


def token_path(api_version: str) -> str:
    """The token endpoint's path: date-versioned, or v1 beside the legacy v3 paths."""
    return "/oauth/v1/token" if api_version == "v3" else f"/oauth/{api_version}/token"


class StaticToken:
    """A token that never changes and never shows itself (repr and str are redacted)."""

    __slots__ = ("_secret",)

    def __init__(self, value: str) -> None:
        self._secret = Secret(value)

    def bearer(self) -> Secret:
        return self._secret

    def renew(self, used: Secret) -> bool:
        return False  # a rejected static token stays rejected: the pipeline pauses

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__
