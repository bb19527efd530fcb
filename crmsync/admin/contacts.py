"""The contacts: their data, their sync state and history, and the operator's actions on them.

Actions only change rows or enqueue work: none calls HubSpot inside the request.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from .. import registry
from ..models import SYNCED_FIELDS, Contact, SyncAttempt
from .actions import ACTIONS, ContactActionsMixin
from .base import ReadOnlyAdminMixin


class ContactAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SyncAttempt
    fk_name = "contact"
    fields = ("created_at", "outcome", "hubspot_id", "error_category", "error_message", "batch")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    show_change_link = False
    verbose_name_plural = "sync attempts (newest first)"


class SourceFilter(admin.SimpleListFilter):
    """crmsync's own contacts, or the mirrors of one registered model."""

    title = "source"
    parameter_name = "source"
    OWN = "-"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # The registered models, not a DISTINCT over the table (millions of rows).
        labels = sorted(r.label for r in registry.registrations())
        return [(self.OWN, "crmsync's own contacts"), *((label, label) for label in labels)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(source="" if value == self.OWN else value)


@admin.register(Contact)
class ContactAdmin(ContactActionsMixin, admin.ModelAdmin):
    list_display = (
        "email",
        "full_name",
        "source_display",
        "sync_status",
        "hubspot_id",
        "sync_attempts",
        "short_error",
        "synced_at",
        "updated_at",
    )
    list_filter = ("sync_status", SourceFilter, "sync_error_category", "lifecyclestage")
    # "=hubspot_id": an exact match, so the index serves it.
    search_fields = ("email", "=hubspot_id", "firstname", "lastname")
    readonly_fields = (
        "sync_status",
        "hubspot_id",
        "sync_error",
        "sync_error_category",
        "hubspot_status",
        "hubspot_created_at",
        "hubspot_updated_at",
        "synced_at",
        "sync_attempts",
        "next_attempt_at",
        "version",
        "synced_version",
        "needs_reconcile",
        "lease_expires_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": SYNCED_FIELDS}),
        ("HubSpot sync", {"fields": readonly_fields}),
    )
    inlines = (ContactAttemptInline,)
    # crmsync.admin.actions: each behind a crmsync permission, confirmed when it could
    # duplicate or touches many rows, a task when the selection is large.
    actions = ACTIONS
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """A mirror's data comes from its host row (an edit here would be overwritten by the
        next save there): all of it is read-only, with a link to the host row instead."""
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.source:
            return ("source_display", *SYNCED_FIELDS, *fields)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.source:
            return fieldsets
        note = (
            "This contact mirrors a row of a registered model: edit that row, and crmsync "
            "sends the change."
        )
        return ((None, {"fields": ("source_display",), "description": note}), *fieldsets)

    @admin.display(description="source", ordering="source")
    def source_display(self, obj: Contact) -> str:
        """``hostapp.customer #12``, linked to its admin page when the admin has one."""
        if not obj.source:
            return "-"
        text = f"{obj.source} #{obj.source_pk}"
        url = self.host_url(obj)
        return format_html('<a href="{}">{}</a>', url, text) if url else text

    def host_url(self, obj: Contact) -> str | None:
        try:
            model = apps.get_model(obj.source)
        except (LookupError, ValueError):
            return None  # a model no longer installed
        if model not in self.admin_site._registry:
            return None
        opts = model._meta
        try:
            return reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=[obj.source_pk],
            )
        except NoReverseMatch:
            return None

    @admin.display(description="name", ordering="lastname")
    def full_name(self, obj: Contact) -> str:
        return f"{obj.firstname} {obj.lastname}".strip() or "-"

    @admin.display(description="last error")
    def short_error(self, obj: Contact) -> str:
        text = obj.sync_error or ""
        return text if len(text) <= 120 else text[:117] + "..."
