"""The rules of the credentials and the API version: a static token or OAuth (client id,
secret and refresh token, all three), and the legacy ``v3`` paths warned about."""

from __future__ import annotations

from typing import Any

from .base import IDS, RULES, WARNING, Problem, error
from .base import rule as _rule

IDS.update(
    {
        "oauth_incomplete": "crmsync.E050",
        "oauth_and_token": "crmsync.E051",
        "oauth_margin": "crmsync.E052",
        "legacy_api_version": "crmsync.W003",
    }
)
#: Settings whose values are never echoed in a message.
SECRET_NAMES = frozenset(("ACCESS_TOKEN", "OAUTH_CLIENT_SECRET", "OAUTH_REFRESH_TOKEN"))
_OAUTH = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_REFRESH_TOKEN")


def uses_oauth(values: dict[str, Any]) -> bool:
    return any(values.get(name) for name in _OAUTH)


@_rule
def _oauth(values: dict[str, Any]) -> list[Problem]:
    given = [name for name in _OAUTH if values.get(name)]
    if not given:
        return []
    missing = [name for name in _OAUTH if name not in given]
    if missing:
        return error(
            "oauth_incomplete",
            missing[0],
            f"OAuth needs CRMSYNC['OAUTH_CLIENT_ID'], ['OAUTH_CLIENT_SECRET'] and "
            f"['OAUTH_REFRESH_TOKEN']; {', '.join(missing)} is empty.",
            hint="Give all three (in this project: CRMSYNC_OAUTH_CLIENT_ID, ..._SECRET, "
            "..._REFRESH_TOKEN in the environment), or none and ACCESS_TOKEN.",
        )
    if values.get("ACCESS_TOKEN"):
        return error(
            "oauth_and_token",
            "ACCESS_TOKEN",
            "CRMSYNC['ACCESS_TOKEN'] and the OAuth settings are both set: use one of them.",
            hint="A service key or private app's token in ACCESS_TOKEN, or OAuth (client id, "
            "secret and refresh token) with ACCESS_TOKEN empty.",
        )
    return []


@_rule
def _legacy_version(values: dict[str, Any]) -> list[Problem]:
    if values.get("API_VERSION") != "v3":
        return []
    return [
        Problem(
            IDS["legacy_api_version"],
            "API_VERSION",
            "CRMSYNC['API_VERSION'] is the legacy 'v3' (/crm/v3/..., /oauth/v1/token): "
            "unsupported from September 2027.",
            level=WARNING,
            hint="Use a date version such as '2026-03' (the default): the same bodies at "
            "/crm/objects/2026-03/... .",
            blocks_sending=False,
        )
    ]


@_rule
def _margin(values: dict[str, Any]) -> list[Problem]:
    margin = values.get("OAUTH_REFRESH_MARGIN_SECONDS")
    if margin is None or 0 <= margin <= 1800:
        return []
    return error(
        "oauth_margin",
        "OAUTH_REFRESH_MARGIN_SECONDS",
        f"CRMSYNC['OAUTH_REFRESH_MARGIN_SECONDS'] must be between 0 and 1800 (an access "
        f"token's lifetime), got {margin!r}.",
    )


__all__ = ["RULES", "SECRET_NAMES", "uses_oauth"]
