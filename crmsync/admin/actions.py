"""The operator's actions on contacts: each behind a crmsync permission, POST with CSRF
(the admin's action form), a confirmation page for anything that could create duplicates
in HubSpot or touches many rows, and a task for large selections.

What an action does to the rows lives in ``crmsync.operations`` (through ``services``);
this module only asks, checks and reports. None calls HubSpot.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from .. import services, tasks
from ..conf import get_settings
from ..models import Contact, SyncStatus
from .preview import preview as preview_action
from .settle import settle_view

#: A selection larger than this (or "select all") is confirmed before anything changes.
CONFIRM_ABOVE_ROWS = 100
#: The confirmation page lists at most this many rows, and counts at most _COUNT_CAP.
_LISTED_ROWS = 100
_COUNT_CAP = 100_000
#: The admin's action names not in services.OPERATIONS, with their permission.
_OTHER_ACTIONS = {"settle_held": "settle_contact"}
#: ContactAdmin.actions, in the order the menu shows them.
ACTIONS = (
    "queue_for_sync",
    "sync_now",
    "skip",
    "unskip",
    "settle_held",
    "release_held",
    "forget_hubspot_id",
    "preview",
)


def _action(name: str) -> Any:
    """The admin action for operation ``name``, offered only to users with its permission."""
    operation = services.OPERATIONS[name]

    def run(model_admin: Any, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
        return perform(model_admin, request, queryset, name)

    run.__name__ = name
    return admin.action(description=operation.label, permissions=[operation.permission])(run)


class ContactActionsMixin:
    """Mixed into ``ContactAdmin``: the actions, their permissions and the settle page."""

    queue_for_sync = _action("queue_for_sync")
    sync_now = _action("sync_now")
    skip = _action("skip")
    unskip = _action("unskip")
    release_held = _action("release_held")
    forget_hubspot_id = _action("forget_hubspot_id")
    preview = preview_action  # a dry run: the view permission is enough

    def has_sync_contact_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crmsync.sync_contact")

    def has_skip_contact_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crmsync.skip_contact")

    def has_settle_contact_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crmsync.settle_contact")

    @admin.action(description="Settle a held contact (look it up in HubSpot or enter its id)")
    def settle_held(self, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
        held = list(queryset.filter(sync_status=SyncStatus.HELD).values_list("pk", flat=True)[:2])
        if len(held) != 1:
            message = "Select exactly one held contact to settle."
            self.message_user(request, message, messages.WARNING)  # type: ignore[attr-defined]
            return None
        return HttpResponseRedirect(reverse("admin:crmsync_contact_settle", args=[held[0]]))

    settle_held.allowed_permissions = ("settle_contact",)  # type: ignore[attr-defined]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """Refuse (403) an action the user may not do, rather than the admin's "No action
        selected." redirect (or, with no action offered at all, the list): a POST naming it
        is an attempt, not a slip."""
        if request.method == "POST":
            permission = _permission_of(_posted_action(request))
            if permission and not request.user.has_perm(f"crmsync.{permission}"):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)  # type: ignore[misc]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(partial(settle_view, self))  # type: ignore[attr-defined]
        settle = path("<path:object_id>/settle/", view, name="crmsync_contact_settle")
        return [settle, *super().get_urls()]  # type: ignore[misc]


def perform(
    model_admin: Any, request: HttpRequest, queryset: QuerySet[Contact], name: str
) -> HttpResponse | None:
    """Check, confirm if needed, then do operation ``name`` here or as a bulk job."""
    operation = services.OPERATIONS[name]
    if not request.user.has_perm(f"crmsync.{operation.permission}"):
        raise PermissionDenied
    select_across = request.POST.get("select_across") == "1"
    selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
    bulk = select_across or len(selected) > get_settings().ADMIN_INLINE_MAX_ROWS
    large = select_across or len(selected) > CONFIRM_ABOVE_ROWS
    if (operation.may_duplicate or large) and request.POST.get("confirm") != "yes":
        return _confirmation(model_admin, request, queryset, operation, bulk)
    username = request.user.get_username()
    if bulk:
        _start_job(model_admin, request, queryset, operation, username, select_across)
        return None
    count = services.apply_operation(name, queryset, username)
    text = f"{operation.label}: {count} contact(s) changed (rows in flight are left alone)."
    if name == "sync_now":
        _nudge(model_admin, request, text)
    else:
        model_admin.message_user(request, text, messages.SUCCESS if count else messages.WARNING)
    return None


def _start_job(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet[Contact],
    operation: services.Operation,
    username: str,
    select_across: bool,
) -> None:
    what = "every contact matching the list's filters" if select_across else "the selection"
    job = services.record_bulk_job(operation.name, queryset, username, what)
    queued = tasks.start_bulk_job(job.pk)
    url = reverse("admin:crmsync_bulkjob_change", args=[job.pk])
    if queued:
        text = format_html(
            '{}: <a href="{}">bulk job #{}</a> queued for {}; a worker does it in chunks.',
            operation.label,
            url,
            job.pk,
            what,
        )
    else:
        job.refresh_from_db()
        text = format_html(
            '{}: <a href="{}">bulk job #{}</a> done here (no Celery broker): {} row(s) changed.',
            operation.label,
            url,
            job.pk,
            job.rows_changed,
        )
    model_admin.message_user(request, text, messages.SUCCESS)


def _nudge(model_admin: Any, request: HttpRequest, text: str) -> None:
    if tasks.enqueue_sync():
        model_admin.message_user(request, f"{text} A sync task was enqueued.")
        return
    model_admin.message_user(
        request,
        f"{text} No Celery broker is configured (REDIS_URL): run manage.py crmsync_sync to "
        "send them.",
        messages.WARNING,
    )


def _confirmation(
    model_admin: Any,
    request: HttpRequest,
    queryset: QuerySet[Contact],
    operation: services.Operation,
    bulk: bool,
) -> TemplateResponse:
    total = queryset.order_by().values("pk")[: _COUNT_CAP + 1].count()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"{operation.label}: are you sure?",
        "operation": operation,
        "rows": list(queryset.order_by("pk")[:_LISTED_ROWS]),
        "total": total,
        "total_capped": total > _COUNT_CAP,
        "bulk": bulk,
        "action": request.POST.getlist("action")[_index(request)],
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/crmsync/contact/confirm_action.html", context)


def _index(request: HttpRequest) -> int:
    try:
        index = int(request.POST.get("index", 0))
    except ValueError:
        return 0
    return index if 0 <= index < len(request.POST.getlist("action")) else 0


def _posted_action(request: HttpRequest) -> str:
    actions = request.POST.getlist("action")
    return actions[_index(request)] if actions else ""


def _permission_of(name: str) -> str:
    operation = services.OPERATIONS.get(name)
    return operation.permission if operation else _OTHER_ACTIONS.get(name, "")
