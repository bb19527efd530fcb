"""System checks for the CRMSYNC settings (``manage.py check``): crmsync.conf.validate's
problems, shown as Django messages. The runtime refuses to send with the same problems."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import validate


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for problem in validate(getattr(settings, "CRMSYNC", None)):
        kind = Error if problem.is_error else Warning
        messages.append(kind(problem.message, hint=problem.hint or None, id=problem.id))
    return messages
