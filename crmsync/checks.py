"""System checks for the CRMSYNC settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import NAMES, get_settings


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    raw = getattr(settings, "CRMSYNC", {}) or {}
    if not isinstance(raw, dict):
        return [Error("CRMSYNC must be a dict.", id="crmsync.E001")]
    for key in raw:
        if key not in NAMES:
            messages.append(
                Warning(
                    f"CRMSYNC[{key!r}] is not a crmsync setting.",
                    id="crmsync.W001",
                    hint=f"Known settings: {', '.join(NAMES)}.",
                )
            )
    try:
        conf = get_settings()
    except TypeError as exc:
        return [*messages, Error(f"CRMSYNC is malformed: {exc}", id="crmsync.E001")]
    if not 1 <= conf.BATCH_SIZE <= 100:
        messages.append(
            Error(
                "CRMSYNC['BATCH_SIZE'] must be between 1 and 100 (HubSpot's maximum).",
                id="crmsync.E002",
            )
        )
    parts = urlsplit(conf.API_BASE_URL)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        messages.append(
            Error(
                f"CRMSYNC['API_BASE_URL'] is not an http(s) URL: {conf.API_BASE_URL!r}.",
                id="crmsync.E003",
            )
        )
    if conf.RATE_LIMIT_MAX < 1 or conf.RATE_LIMIT_INTERVAL_SECONDS <= 0:
        messages.append(
            Error(
                "CRMSYNC rate limit must allow at least one request per positive interval.",
                id="crmsync.E004",
            )
        )
    if conf.LEASE_SECONDS < conf.HTTP_TIMEOUT_SECONDS * 2:
        messages.append(
            Error(
                "CRMSYNC['LEASE_SECONDS'] must be at least twice "
                "HTTP_TIMEOUT_SECONDS, or a slow request could outlive its "
                "claim.",
                id="crmsync.E005",
            )
        )
    if conf.MAX_ATTEMPTS < 1:
        messages.append(Error("CRMSYNC['MAX_ATTEMPTS'] must be at least 1.", id="crmsync.E006"))
    if not conf.ACCESS_TOKEN:
        messages.append(
            Warning("No HubSpot access token: set HUBSPOT_ACCESS_TOKEN.", id="crmsync.W002")
        )
    return messages
