"""The contacts: their data, their sync state and history, and the operator's actions on them.

Actions only change rows or enqueue work: none calls HubSpot inside the request.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from .. import conf, registry
from ..models import SYNCED_FIELDS, Contact, SyncStatus
from . import pages
from .actions import ACTIONS, ContactActionsMixin
from .filters import ErrorCategoryFilter, ErrorShapeFilter, LifecycleStageFilter
from .forms import ContactForm


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


#: Shown open: what HubSpot holds and how the last sends went.
SYNC_FIELDS = (
    "sync_status",
    "hubspot_record",
    "sync_error",
    "sync_error_category",
    "synced_at",
    "sync_attempts",
    "next_attempt_at",
    "hubspot_status",
    "hubspot_created_at",
    "hubspot_updated_at",
)
#: Collapsed: the machinery (versions, leases, claims), for whoever debugs crmsync itself.
INTERNAL_FIELDS = (
    "action",
    "version",
    "claimed_version",
    "synced_version",
    "needs_reconcile",
    "reconcile_emails",
    "claim_token",
    "lease_expires_at",
    "synced_properties",
    "synced_associations",
    "created_at",
    "updated_at",
)


@admin.register(Contact)
class ContactAdmin(ContactActionsMixin, admin.ModelAdmin):
    form = ContactForm
    list_display = (
        "email",
        "full_name",
        "source_display",
        "status",
        "hubspot_id",
        "short_error",
        "synced",
    )
    list_filter = (
        "sync_status",
        SourceFilter,
        ErrorCategoryFilter,
        LifecycleStageFilter,
        ErrorShapeFilter,
    )
    # "=hubspot_id": an exact match, so the index serves it.
    search_fields = ("email", "=hubspot_id", "firstname", "lastname")
    readonly_fields = ("hubspot_id", *SYNC_FIELDS, *INTERNAL_FIELDS)
    fieldsets = (
        (None, {"fields": SYNCED_FIELDS}),
        ("HubSpot sync", {"fields": SYNC_FIELDS}),
        ("Internals", {"fields": INTERNAL_FIELDS, "classes": ("collapse",)}),
    )
    # crmsync.admin.actions: each behind a crmsync permission, confirmed when it could
    # duplicate or touches many rows, a task when the selection is large.
    actions = ACTIONS
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow

    class Media:
        css = {"all": ("crmsync/admin.css",)}

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The state sentence on top and one page of attempts below, read per request (the
        admin object is shared by every thread: nothing of a request is kept on it)."""
        context = dict(extra_context or {})
        contact = self.get_object(request, object_id)
        if contact is not None:
            number = pages.page_number(request, "attempts_page")
            attempts = contact.sync_attempts_log.all()
            context["crmsync_state"] = pages.state_sentence(contact, conf.get_settings())
            context["crmsync_attempts"] = pages.history_page(attempts, number, "attempts_page")
            context["crmsync_attempts_url"] = (
                reverse(f"{self.admin_site.name}:crmsync_syncattempt_changelist")
                + f"?contact__id__exact={contact.pk}"
            )
            if contact.sync_status == SyncStatus.HELD and request.user.has_perm(
                "crmsync.settle_contact"
            ):
                context["crmsync_settle_url"] = reverse(
                    f"{self.admin_site.name}:crmsync_contact_settle", args=[contact.pk]
                )
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="HubSpot record")
    def hubspot_record(self, obj: Contact) -> str:
        return pages.hubspot_record(obj, conf.get_settings())

    @admin.display(description="status", ordering="sync_status")
    def status(self, obj: Contact) -> str:
        """ "Failed, 8 tries": the attempts in the status's column (one column less)."""
        tries = obj.sync_attempts
        label = obj.get_sync_status_display()
        return f"{label}, {tries} {'try' if tries == 1 else 'tries'}" if tries else label

    @admin.display(description="synced", ordering="synced_at")
    def synced(self, obj: Contact) -> str:
        return pages.short_date(obj.synced_at)

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
        return pages.clipped(obj.sync_error)
