"""What crmsync's commands share: a bad setting is one line and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from crmsync.conf import CrmSyncSettings, ensure_valid, validated_settings

#: Exit statuses of crmsync_sync (and the other commands where they apply).
EXIT_CONFIGURATION = 1  # fix the settings, the token or its scopes
EXIT_NOT_SENT = 3  # nothing could be sent now (paused, rate limiter unavailable): try later
EXIT_STOPPED = 4  # stopped by SIGTERM/SIGINT: the request in flight written back, the rest queued
EXIT_UNREACHABLE = 5  # HubSpot could not be reached (no connection made): nothing more was sent

T = TypeVar("T")


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def or_command_error(function: Callable[[], T], returncode: int = EXIT_CONFIGURATION) -> T:
    """``function()``, with a configuration error (crmsync's or Django's
    ImproperlyConfigured, which the rate limiter raises) turned into a one-line CommandError:
    manage.py prints it without a traceback and exits with ``returncode``."""
    try:
        return function()
    except ImproperlyConfigured as exc:
        raise CommandError(one_line(exc), returncode=returncode) from None


def checked_settings(raw: Any = None) -> CrmSyncSettings:
    """The current (or the given) CRMSYNC settings, validated, or a one-line CommandError."""
    if raw is None:
        return or_command_error(validated_settings)
    return or_command_error(lambda: ensure_valid(raw))
