"""The operator's bulk actions and their progress, read-only."""

from __future__ import annotations

from django.contrib import admin

from ..models import BulkJob
from .base import ReadOnlyAdminMixin


@admin.register(BulkJob)
class BulkJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "action",
        "status",
        "rows_done",
        "rows_changed",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "action")
    readonly_fields = (
        "action",
        "description",
        "status",
        "rows_done",
        "rows_changed",
        "last_pk",
        "requested_by",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    exclude = ("selection",)
    show_full_result_count = False
