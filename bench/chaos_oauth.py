"""The chaos harness's OAuth mode (``--oauth-token-seconds N``): the workers hold no static
token but the sandbox app's client id, secret and refresh token; the sandbox's access tokens
expire after N seconds and each refresh ends the previous token at once (the harder of the
two ways HubSpot may behave). The verdict adds: no row failed for it, and one refresh per
expiry, whoever made it (``oauth_early_refreshes``: a refresh while the latest token had
more than half its life left, i.e. a second refresh of one expiry)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CLIENT_ID = "chaos-client-id"
CLIENT_SECRET = "chaos-client-secret"
REFRESH_TOKEN = "chaos-refresh-token"


def sandbox_config(token_seconds: float) -> dict[str, Any]:
    return {
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "oauth_refresh_token": REFRESH_TOKEN,
        "oauth_token_seconds": token_seconds,
        "oauth_refresh_invalidates": True,
    }


def worker_env() -> dict[str, str]:
    """CRMSYNC_OAUTH_* for project.settings, and no static token."""
    return {
        "HUBSPOT_ACCESS_TOKEN": "",
        "CRMSYNC_OAUTH_CLIENT_ID": CLIENT_ID,
        "CRMSYNC_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "CRMSYNC_OAUTH_REFRESH_TOKEN": REFRESH_TOKEN,
    }


def expiries(window_seconds: float, token_seconds: float) -> int:
    """How many tokens a window needs: a new one each time the last reaches its margin (a
    quarter of its life, OAUTH_REFRESH_MARGIN_SECONDS being larger), the first at the start."""
    return math.floor(window_seconds / (token_seconds * 0.75)) + 1


def counts(stats: Mapping[str, Any]) -> dict[str, int]:
    names = ("oauth_refreshes", "oauth_early_refreshes", "oauth_expired_rejected")
    out = {name: int(stats.get(name, 0)) for name in names}
    out["oauth_milliseconds_in_use"] = int(float(stats.get("oauth_seconds_in_use", 0)) * 1000)
    return out


def report_line(oauth: Mapping[str, int], token_seconds: float) -> str:
    window = oauth.get("oauth_milliseconds_in_use", 0) / 1000
    expected = expiries(window, token_seconds)
    return (
        f"{oauth['oauth_refreshes']:,} refreshes for at most {expected:,} expiries "
        f"(a {token_seconds:g} s token, refreshed at 3/4 of its life, over {window:.1f} s "
        "of calls, fewer when no worker was calling); "
        f"{oauth['oauth_early_refreshes']:,} "
        f"second refreshes of one expiry; {oauth['oauth_expired_rejected']:,} calls refused "
        "as expired, each refreshed and sent again"
    )
