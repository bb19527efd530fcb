"""The rules of the engine's ``CRMSYNC`` settings (HubSpot, the rate limit, leases, retries,
Redis, the admin, history), as problems with check ids."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from ..hubspot import MAX_BATCH_INPUTS
from .base import IDS, RULES, WARNING, Problem, at_least, error, positive, redact_url
from .base import rule as _rule

_API_VERSION_RE = re.compile(r"v3|\d{4}-(0[1-9]|1[0-2])")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


@_rule
def _batch_size(values: dict[str, Any]) -> list[Problem]:
    size = values.get("BATCH_SIZE")
    if size is None or 1 <= size <= MAX_BATCH_INPUTS:
        return []
    return error(
        "batch_size",
        "BATCH_SIZE",
        f"CRMSYNC['BATCH_SIZE'] must be between 1 and {MAX_BATCH_INPUTS} (HubSpot's maximum), "
        f"got {size!r}.",
    )


@_rule
def _base_url(values: dict[str, Any]) -> list[Problem]:
    url = values.get("API_BASE_URL")
    if url is None:
        return []
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return error(
            "base_url",
            "API_BASE_URL",
            f"CRMSYNC['API_BASE_URL'] must be an http(s) URL with a host, got {redact_url(url)!r}.",
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        root = f"{parts.scheme}://{parts.netloc}"
        return error(
            "base_url_path",
            "API_BASE_URL",
            f"CRMSYNC['API_BASE_URL'] must have no path, got {redact_url(url)!r}: use "
            f"{redact_url(root)!r} (crmsync adds /crm/... itself).",
        )
    return []


@_rule
def _api_version(values: dict[str, Any]) -> list[Problem]:
    version = values.get("API_VERSION")
    if version is None or _API_VERSION_RE.fullmatch(version):
        return []
    return error(
        "api_version",
        "API_VERSION",
        f"CRMSYNC['API_VERSION'] must be 'v3' or a date version such as '2026-03', "
        f"got {version!r}.",
    )


@_rule
def _rate_limit(values: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    most = values.get("RATE_LIMIT_MAX")
    if most is not None and most < 1:
        problems += error(
            "rate_limit",
            "RATE_LIMIT_MAX",
            f"CRMSYNC['RATE_LIMIT_MAX'] must be at least 1, got {most!r}.",
        )
    interval = values.get("RATE_LIMIT_INTERVAL_SECONDS")
    if interval is not None and interval <= 0:
        problems += error(
            "rate_limit",
            "RATE_LIMIT_INTERVAL_SECONDS",
            f"CRMSYNC['RATE_LIMIT_INTERVAL_SECONDS'] must be greater than 0, got {interval!r}.",
        )
    return problems


@_rule
def _lease(values: dict[str, Any]) -> list[Problem]:
    lease, timeout = values.get("LEASE_SECONDS"), values.get("HTTP_TIMEOUT_SECONDS")
    if lease is None or timeout is None or timeout <= 0 or lease >= 2 * timeout:
        return []
    return error(
        "lease",
        "LEASE_SECONDS",
        f"CRMSYNC['LEASE_SECONDS'] must be at least twice CRMSYNC['HTTP_TIMEOUT_SECONDS'] "
        f"({2 * timeout!r}), got {lease!r}: a slow request could outlive its claim.",
    )


@_rule
def _retry(values: dict[str, Any]) -> list[Problem]:
    base, most = values.get("RETRY_BASE_SECONDS"), values.get("RETRY_MAX_SECONDS")
    if base is not None and base <= 0:
        return error(
            "retry",
            "RETRY_BASE_SECONDS",
            f"CRMSYNC['RETRY_BASE_SECONDS'] must be greater than 0, got {base!r}.",
        )
    if base is not None and most is not None and most < base:
        return error(
            "retry",
            "RETRY_MAX_SECONDS",
            f"CRMSYNC['RETRY_MAX_SECONDS'] must be at least CRMSYNC['RETRY_BASE_SECONDS'] "
            f"({base!r}), got {most!r}.",
        )
    return []


@_rule
def _time_zone(values: dict[str, Any]) -> list[Problem]:
    zone = values.get("ACCOUNT_TIME_ZONE")
    if zone is None:
        return []
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return error(
            "time_zone",
            "ACCOUNT_TIME_ZONE",
            f"CRMSYNC['ACCOUNT_TIME_ZONE'] is not a known time zone: {zone!r}.",
            hint="Use an IANA name such as 'UTC' or 'Europe/Berlin'.",
        )
    return []


@_rule
def _redis(values: dict[str, Any]) -> list[Problem]:
    url = values.get("REDIS_URL")
    if not url or urlsplit(url).scheme in _REDIS_SCHEMES:
        return []
    return error(
        "redis_url",
        "REDIS_URL",
        f"CRMSYNC['REDIS_URL'] must be empty or a redis://, rediss:// or unix:// URL, got "
        f"{redact_url(url)!r}.",
    )


@_rule
def _key_prefix(values: dict[str, Any]) -> list[Problem]:
    prefix = values.get("REDIS_KEY_PREFIX")
    if prefix is None or prefix.strip():
        return []
    return error("key_prefix", "REDIS_KEY_PREFIX", "CRMSYNC['REDIS_KEY_PREFIX'] must not be empty.")


@_rule
def _portal(values: dict[str, Any]) -> list[Problem]:
    """Display only (the admin's links to HubSpot): a bad value never stops sending."""
    problems: list[Problem] = []
    portal = values.get("PORTAL_ID")
    if portal and not (portal.isascii() and portal.isdigit()):
        problems.append(
            Problem(
                IDS["portal_id"],
                "PORTAL_ID",
                f"CRMSYNC['PORTAL_ID'] must be the HubSpot account id (digits), got {portal!r}.",
                hint="HubSpot shows it under your account menu, or in any record's URL.",
                blocks_sending=False,
            )
        )
    url = values.get("HUBSPOT_APP_URL")
    parts = urlsplit(url) if url is not None and _is_splittable(url) else None
    if url is not None and (
        parts is None or parts.scheme != "https" or not parts.hostname or parts.query
    ):
        problems.append(
            Problem(
                IDS["app_url"],
                "HUBSPOT_APP_URL",
                f"CRMSYNC['HUBSPOT_APP_URL'] must be an https URL with a host, got "
                f"{redact_url(url)!r}.",
                hint="The default is https://app.hubspot.com (EU accounts: https://app-eu1.hubspot.com).",
                blocks_sending=False,
            )
        )
    return problems


def _is_splittable(url: str) -> bool:
    try:
        urlsplit(url).port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    return True


@_rule
def _token(values: dict[str, Any]) -> list[Problem]:
    if values.get("ACCESS_TOKEN", "x") or values.get("OAUTH_REFRESH_TOKEN"):
        return []  # OAuth's own rules are in settings_rules.credentials
    # Only a warning for `manage.py check` (the demo brings its own), but nothing is sent.
    return [
        Problem(
            IDS["no_token"],
            "ACCESS_TOKEN",
            "No HubSpot access token: CRMSYNC['ACCESS_TOKEN'] is empty.",
            level=WARNING,
            hint="Set CRMSYNC['ACCESS_TOKEN'] to a service key or private-app token with the "
            "crm.objects.contacts.read and .write scopes; nothing is sent without one.",
        )
    ]


@_rule
def _masked_properties(values: dict[str, Any]) -> list[Problem]:
    names = values.get("HISTORY_MASKED_PROPERTIES")
    bad = [n for n in names or () if not n.strip() or n != n.strip()]
    if not bad:
        return []
    return error(
        "masked_properties",
        "HISTORY_MASKED_PROPERTIES",
        f"CRMSYNC['HISTORY_MASKED_PROPERTIES'] must name HubSpot properties, got {bad[0]!r}.",
        hint="Internal names such as 'phone' or 'date_of_birth'; [] masks nothing.",
    )


RULES += [
    at_least("retention_days", "HISTORY_RETENTION_DAYS", 0),
    at_least("max_attempts", "MAX_ATTEMPTS", 1),
    at_least("concurrency", "CONCURRENCY", 1),
    at_least("max_batches", "MAX_BATCHES_PER_RUN", 0),
    at_least("daily_limit", "RATE_LIMIT_DAILY", 0),
    positive("timeout", "HTTP_TIMEOUT_SECONDS"),
    at_least("admin_inline_max_rows", "ADMIN_INLINE_MAX_ROWS", 1),
    positive("status_max_backlog", "STATUS_MAX_BACKLOG_SECONDS"),
    positive("heartbeat", "HEARTBEAT_SECONDS"),
    at_least("drain_horizon", "DRAIN_HORIZON_SECONDS", 0, 60),
    at_least("redis_outage_wait", "REDIS_OUTAGE_WAIT_SECONDS", 0),
]
