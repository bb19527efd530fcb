"""The doctor's checks, in the order ``crmsync_doctor`` prints them (see ``base.Check``)."""

from __future__ import annotations

from ..conf import validate
from ..credentials import uses_oauth
from ..exceptions import AuthenticationError, HubSpotError, MissingScopesError
from ..tokeninfo import token_info
from .base import FAIL, OK, WARN, Check, CheckFunction, Context
from .local import (
    check_beat,
    check_daily_quota,
    check_oldest_due,
    check_pipeline,
    check_rate_limit,
    check_worker,
)
from .mapping import check_mapped_properties, check_unique_property

#: What crmsync needs of the token (HubSpot's granular scopes).
REQUIRED_SCOPES = ("crm.objects.contacts.read", "crm.objects.contacts.write")
SUNSET = "September 2027"


def check_settings(ctx: Context) -> Check:
    problems = validate(ctx.raw)
    errors = [p for p in problems if p.blocks_sending]
    warnings = [p for p in problems if not p.blocks_sending]
    if errors:
        text = " ".join(f"{p.id}: {p.message}" for p in errors)
        fix = " ".join(p.hint for p in errors if p.hint) or "Fix CRMSYNC in settings.py."
        return Check("settings", FAIL, text, fix)
    if warnings:
        text = " ".join(f"{p.id}: {p.message}" for p in warnings)
        return Check("settings", WARN, text, " ".join(p.hint for p in warnings if p.hint))
    return Check("settings", OK, "CRMSYNC is valid")


def check_token(ctx: Context) -> Check:
    """One cheap read (a page of one contact): is HubSpot there, is the token accepted?"""
    name = "token"
    oauth = uses_oauth(ctx.conf)
    if not ctx.conf.ACCESS_TOKEN and not oauth:
        ctx.hubspot_ok = False
        return Check(
            name,
            FAIL,
            "no token is set",
            "Set CRMSYNC['ACCESS_TOKEN'], or the OAuth app's OAUTH_CLIENT_ID, "
            "OAUTH_CLIENT_SECRET and OAUTH_REFRESH_TOKEN.",
        )
    try:
        ctx.client.probe(timeout=ctx.client.timeout)
    except AuthenticationError as exc:
        ctx.hubspot_ok = False
        what = "the OAuth app's grant" if oauth else "the token"
        fix = (
            "Install the app again in this account and set the new OAUTH_REFRESH_TOKEN."
            if oauth
            else "Set CRMSYNC['ACCESS_TOKEN'] to a current service key or private app token "
            "of this account."
        )
        return Check(
            name,
            FAIL,
            f"HubSpot refused {what} (HTTP {exc.status} {exc.category}: {exc.message})",
            fix,
        )
    except MissingScopesError:
        ctx.hubspot_ok = True  # accepted; the scope check says what is missing
        return Check(name, OK, f"HubSpot at {ctx.conf.API_BASE_URL} accepts the token")
    except HubSpotError as exc:
        ctx.hubspot_ok = False
        return Check(
            name,
            FAIL,
            f"cannot reach HubSpot at {ctx.conf.API_BASE_URL}: {exc.message}",
            "Check CRMSYNC['API_BASE_URL'], the network and HubSpot's status page.",
        )
    ctx.hubspot_ok = True
    how = "an OAuth access token (refreshed from OAUTH_REFRESH_TOKEN)" if oauth else "the token"
    return Check(name, OK, f"HubSpot at {ctx.conf.API_BASE_URL} accepts {how}")


def check_scopes(ctx: Context) -> Check:
    name = "scopes"
    if not ctx.hubspot_ok:
        return Check(name, FAIL, "not checked: HubSpot did not accept the token", "See above.")
    try:
        info = token_info(ctx.client, timeout=ctx.client.timeout)
    except HubSpotError as exc:
        return Check(
            name,
            WARN,
            f"HubSpot did not describe the token ({exc.message}); scopes unknown",
            f"Make sure the app has {' and '.join(REQUIRED_SCOPES)}.",
        )
    missing = [s for s in REQUIRED_SCOPES if s not in info["scopes"]]
    kind = "OAuth access token" if info["kind"] == "oauth" else "private app token / service key"
    if missing:
        return Check(
            name,
            FAIL,
            f"the {kind} lacks {', '.join(missing)} (it has {', '.join(info['scopes']) or 'none'})",
            f"Add {', '.join(missing)} to the app's scopes in HubSpot, then use its new token.",
        )
    return Check(name, OK, f"{kind} of account {info['hub_id']}: {', '.join(REQUIRED_SCOPES)}")


def check_api_version(ctx: Context) -> Check:
    version = ctx.conf.API_VERSION
    if version == "v3":
        return Check(
            "api version",
            WARN,
            "API_VERSION 'v3': the legacy /crm/v3/ and /crm/v4/ paths are called, unsupported "
            f"from {SUNSET}",
            "Set CRMSYNC['API_VERSION'] to a date version such as '2026-03' (same bodies, "
            "/crm/objects/2026-03/...).",
        )
    return Check("api version", OK, f"date-versioned paths ({version}); no legacy path is called")


CHECKS: tuple[CheckFunction, ...] = (
    check_settings,
    check_token,
    check_scopes,
    check_api_version,
    check_mapped_properties,
    check_unique_property,
    check_rate_limit,
    check_daily_quota,
    check_worker,
    check_beat,
    check_oldest_due,
    check_pipeline,
)
