"""Sync history, read-only: one page per HubSpot request, one row per contact and attempt."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from ..models import SyncAttempt, SyncBatch
from . import pages
from .base import ReadOnlyAdminMixin
from .filters import AttemptCategoryFilter, BatchCategoryFilter, HttpStatusFilter, RecentFilter

Outcome = SyncAttempt.Outcome


def _count(outcome: str | None = None) -> Coalesce:
    """Attempts of the row's request (with this outcome): a subquery on the batch's index,
    for the 50 rows of a page only."""
    attempts = SyncAttempt.objects.filter(batch=OuterRef("pk")).order_by()
    if outcome:
        attempts = attempts.filter(outcome=outcome)
    counted = attempts.values("batch").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted), 0)


@admin.register(SyncBatch)
class SyncBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "when",
        "endpoint",
        "http_status",
        "input_count",
        "result",
        "duration_ms",
    )
    list_filter = ("endpoint", RecentFilter, HttpStatusFilter, BatchCategoryFilter)
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
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("created_at", "endpoint", "path"),
                    ("http_status", "hubspot_status", "duration_ms"),
                    ("input_count", "success_count", "error_count"),
                    "error_category",
                    "error_message",
                    "correlation_id",
                    ("worker", "claim_token"),
                    ("requested_at", "started_at", "completed_at"),
                )
            },
        ),
        ("Request body", {"fields": ("pretty_request",), "classes": ("collapse",)}),
    )
    show_full_result_count = False

    class Media:
        css = {"all": ("crmsync/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncBatch]:
        queryset = super().get_queryset(request).defer("request_body")
        match = request.resolver_match
        if match and (match.url_name or "").endswith("_changelist"):
            queryset = queryset.annotate(
                linked=_count(Outcome.LINKED), failed=_count(Outcome.FAILED)
            )
        return queryset

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        batch = self.get_object(request, object_id)
        if batch is not None:
            number = pages.page_number(request, "outcomes_page")
            counts = pages.outcome_counts(batch.pk)
            context["crmsync_summary"] = pages.batch_summary(
                counts, batch.http_status, batch.error_category
            )
            context["crmsync_outcomes"] = pages.history_page(
                batch.attempts.all(), number, "outcomes_page"
            )
            context["crmsync_outcomes_url"] = (
                reverse(f"{self.admin_site.name}:crmsync_syncattempt_changelist")
                + f"?batch__id__exact={batch.pk}"
            )
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: SyncBatch) -> str:
        return pages.short_date(obj.created_at)

    @admin.display(description="result")
    def result(self, obj: SyncBatch) -> str:
        """What HubSpot's answer meant: a CONFLICT crmsync linked is no error."""
        linked, failed = getattr(obj, "linked", 0), getattr(obj, "failed", None)
        if obj.http_status is None:
            return pages.clipped(f"no answer: {obj.error_message}")
        if failed is None or (obj.http_status >= 400 and not linked and not failed):
            text = f"{obj.success_count} ok, {obj.error_count} errors"
            if obj.error_category:
                text += f" [{obj.error_category}]"
            return pages.clipped(text)
        parts = [f"{obj.success_count} ok"]
        if linked:
            parts.append(f"{linked} linked")
        parts.append(f"{failed} errors")
        return pages.clipped(", ".join(parts))

    @admin.display(description="request body")
    def pretty_request(self, obj: SyncBatch) -> str:
        body = SyncBatch.objects.filter(pk=obj.pk).values_list("request_body", flat=True).first()
        try:
            text = json.dumps(json.loads(body or ""), indent=2, ensure_ascii=False)
        except ValueError:
            text = body or ""
        return format_html("<pre style='max-height:30em;overflow:auto'>{}</pre>", text)


@admin.register(SyncAttempt)
class SyncAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "when",
        "contact",
        "outcome",
        "upsert_new",
        "hubspot_id",
        "error_category",
        "short_error",
        "batch",
    )
    list_filter = ("outcome", "upsert_new", AttemptCategoryFilter)
    search_fields = ("email", "hubspot_id", "trace_id")
    list_select_related = ("contact", "batch")
    raw_id_fields = ("contact", "batch")
    show_full_result_count = False

    class Media:
        css = {"all": ("crmsync/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncAttempt]:
        # The request's body is not needed for "#12 (207)": kept out of the list's join.
        return super().get_queryset(request).defer("batch__request_body")

    @admin.display(description="when", ordering="created_at")
    def when(self, obj: SyncAttempt) -> str:
        return pages.short_date(obj.created_at)

    @admin.display(description="error")
    def short_error(self, obj: SyncAttempt) -> str:
        return pages.clipped(obj.error_message)
