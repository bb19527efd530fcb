"""List filters whose choices are fixed lists, not a DISTINCT over millions of rows.

Django's default filter for a CharField (``list_filter = ("sync_error_category",)``) reads
its choices with ``SELECT DISTINCT`` over the whole table on every page of the list: at 1M
contacts that is a full scan per page view. The choices here are HubSpot's known values
(``crmsync.hubspot``); the filter itself is one equality the list's query already pays for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .. import errorgroups, hubspot

OTHER = "-other"


class FixedChoicesFilter(admin.SimpleListFilter):
    """Exact values from a fixed list, plus "other" (a value not in it) and "none"."""

    choices_list: tuple[str, ...] = ()
    field = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*((value, value) for value in self.choices_list), (OTHER, "other"), ("-", "none")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if value == OTHER:
            return queryset.exclude(**{f"{self.field}__in": [*self.choices_list, ""]})
        return queryset.filter(**{self.field: "" if value == "-" else value})


class ErrorCategoryFilter(FixedChoicesFilter):
    title = "error category"
    parameter_name = "sync_error_category"
    field = "sync_error_category"
    choices_list = hubspot.ERROR_CATEGORIES


class LifecycleStageFilter(FixedChoicesFilter):
    title = "lifecycle stage"
    parameter_name = "lifecyclestage"
    field = "lifecyclestage"
    choices_list = hubspot.LIFECYCLE_STAGES


class AttemptCategoryFilter(FixedChoicesFilter):
    """The same choices for the history's per-row errors (millions of rows there too)."""

    title = "error category"
    parameter_name = "error_category"
    field = "error_category"
    choices_list = hubspot.ERROR_CATEGORIES


__all__ = [
    "AttemptCategoryFilter",
    "ErrorCategoryFilter",
    "ErrorShapeFilter",
    "LifecycleStageFilter",
]


class BatchCategoryFilter(AttemptCategoryFilter):
    """A request's error category (its first error's, or the whole request's)."""


class HttpStatusFilter(admin.SimpleListFilter):
    """HubSpot's answer by kind, not a DISTINCT over every request ever made."""

    title = "HTTP status"
    parameter_name = "http"
    KINDS: dict[str, dict[str, Any]] = {
        "2xx": {"http_status__gte": 200, "http_status__lt": 300},
        "207": {"http_status": 207},
        "4xx": {"http_status__gte": 400, "http_status__lt": 500},
        "409": {"http_status": 409},
        "429": {"http_status": 429},
        "5xx": {"http_status__gte": 500},
        "none": {"http_status__isnull": True},
    }
    LABELS = {"207": "207 multi-status", "409": "409 conflict", "429": "429 rate limited"}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(k, self.LABELS.get(k, "no answer" if k == "none" else k)) for k in self.KINDS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        lookup = self.KINDS.get(self.value() or "")
        return queryset if lookup is None else queryset.filter(**lookup)


class RecentFilter(admin.SimpleListFilter):
    """Requests of the last hour, day or week: a range on the created_at index. (The admin's
    date_hierarchy reads its years with a DISTINCT over every request ever made.)"""

    title = "when"
    parameter_name = "within"
    SPANS = {"1h": ("last hour", 1), "24h": ("last 24 hours", 24), "7d": ("last 7 days", 168)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.SPANS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        span = self.SPANS.get(self.value() or "")
        if span is None:
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - dt.timedelta(hours=span[1]))


class ErrorShapeFilter(admin.SimpleListFilter):
    """Contacts whose last error has a shape (``errorgroups.pattern``): the dashboard's "most
    frequent errors" link here. Shown only while in use (there is no list of shapes to pick
    from; reading one would group the whole table)."""

    title = "error like"
    parameter_name = "error_like"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        shape = self.value()
        if not shape:
            return []
        return [(shape, shape if len(shape) <= 80 else shape[:77] + "...")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        shape = (self.value() or "").replace("\x00", "")
        if not shape:
            return queryset
        return queryset.filter(sync_error__regex=errorgroups.regex(shape))
