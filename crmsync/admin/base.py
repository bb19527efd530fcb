"""What every crmsync admin page shares."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """History is append-only: nobody adds, edits or deletes it from the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: A service verdict's level ("success", "warning", "error") as the admin's message level.
MESSAGE_LEVELS = {
    "success": messages.SUCCESS,
    "warning": messages.WARNING,
    "error": messages.ERROR,
}
