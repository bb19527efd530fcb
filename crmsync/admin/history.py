"""Sync history, read-only: one page per HubSpot request, one row per contact and attempt."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from ..models import SyncAttempt, SyncBatch
from .base import ReadOnlyAdminMixin
from .contacts import ContactAttemptInline


class BatchAttemptInline(ContactAttemptInline):
    fk_name = "batch"
    fields = ("contact", "email", "outcome", "hubspot_id", "error_category", "error_message")
    readonly_fields = fields
    verbose_name_plural = "per-contact outcomes"


@admin.register(SyncBatch)
class SyncBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "endpoint",
        "http_status",
        "hubspot_status",
        "input_count",
        "success_count",
        "error_count",
        "duration_ms",
        "error_category",
    )
    list_filter = ("endpoint", "http_status", "hubspot_status", "error_category")
    search_fields = ("correlation_id", "=claim_token")
    readonly_fields = (
        "created_at",
        "endpoint",
        "path",
        "http_status",
        "hubspot_status",
        "input_count",
        "success_count",
        "error_count",
        "error_category",
        "error_message",
        "requested_at",
        "started_at",
        "completed_at",
        "correlation_id",
        "duration_ms",
        "worker",
        "claim_token",
        "pretty_request",
    )
    exclude = ("request_body",)
    inlines = (BatchAttemptInline,)
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="request body")
    def pretty_request(self, obj: SyncBatch) -> str:
        try:
            text = json.dumps(json.loads(obj.request_body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.request_body
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", text)


@admin.register(SyncAttempt)
class SyncAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "contact",
        "email",
        "outcome",
        "hubspot_id",
        "error_category",
        "error_message",
        "batch",
    )
    list_filter = ("outcome", "error_category")
    search_fields = ("email", "hubspot_id", "trace_id")
    list_select_related = ("contact", "batch")
    raw_id_fields = ("contact", "batch")
    show_full_result_count = False
