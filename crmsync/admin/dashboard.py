"""The operator's dashboard (``admin:crmsync_dashboard``): is the sync working?

Reads ``crmsync.health.snapshot()`` (no HubSpot call); its buttons POST with CSRF, each
behind a permission: Pause and Resume (``crmsync.manage_pipeline``; Resume checks that the
pause's cause is gone, the only HubSpot call here: one short read for an auth pause) and
"queue these again" (``crmsync.sync_contact``). Staff with ``crmsync.view_contact`` see it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from .. import health, services
from ..conf import get_settings
from ..models import BulkJob, Dashboard, PipelineState, SyncStatus
from ..tasks import enqueue_sync, start_bulk_job
from .base import MESSAGE_LEVELS
from .chart import per_minute_svg

VIEW_PERMISSION = "crmsync.view_contact"
#: The longest operator's note kept with a pause.
MAX_MESSAGE = 500


def contacts_url(**params: str) -> str:
    url = reverse("admin:crmsync_contact_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _batch_url(info: health.BatchInfo | None) -> str:
    return reverse("admin:crmsync_syncbatch_change", args=[info.id]) if info else ""


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """Not a list of rows: the admin index's "Dashboard" entry opens the dashboard."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.has_perm(VIEW_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.dashboard_view), name="crmsync_dashboard"),
            path("", wrap(self.dashboard_view), name="crmsync_dashboard_changelist"),
            path("pause/", wrap(self.pause_view), name="crmsync_dashboard_pause"),
            path("resume/", wrap(self.resume_view), name="crmsync_dashboard_resume"),
            path("queue-again/", wrap(self.queue_again_view), name="crmsync_dashboard_queue"),
        ]

    def _require(self, request: HttpRequest, permission: str) -> None:
        if not (request.user.has_perm(VIEW_PERMISSION) and request.user.has_perm(permission)):
            raise PermissionDenied

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        self._require(request, VIEW_PERMISSION)
        snap = health.snapshot()
        context = {
            **self.admin_site.each_context(request),
            "title": "HubSpot sync dashboard",
            "opts": self.model._meta,
            "snap": snap,
            "healthy": snap.healthy,
            "states": [
                (label, snap.counts.get(value, 0), contacts_url(sync_status=value))
                for value, label in SyncStatus.choices
            ],
            "oldest_due": None
            if snap.oldest_due_seconds is None
            else health.duration(snap.oldest_due_seconds),
            "max_backlog": health.duration(snap.max_backlog_seconds),
            "last_success_url": _batch_url(snap.last_success),
            "last_batch_url": _batch_url(snap.last_batch),
            "workers": [(w, health.duration(w.seen_seconds_ago)) for w in snap.workers],
            "chart": per_minute_svg(snap.per_minute, snap.chart_start),
            "synced_24h": sum(snap.per_minute),
            "synced_last_hour": sum(snap.per_minute[-60:]),
            "quota_percent": round(snap.quota.fraction * 100, 1) if snap.quota else None,
            "errors": [(e, _error_url(e)) for e in snap.top_errors],
            "can_manage": request.user.has_perm("crmsync.manage_pipeline"),
            "can_queue": request.user.has_perm("crmsync.sync_contact"),
            "max_message": MAX_MESSAGE,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/crmsync/dashboard.html", context)

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:crmsync_dashboard"))

    @staticmethod
    def _bounded(request: HttpRequest, name: str) -> str:
        value = request.POST.get(name, "")
        return value.replace("\x00", "").strip()

    def pause_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._pause)(request)

    def _pause(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "crmsync.manage_pipeline")
        note = self._bounded(request, "message")[:MAX_MESSAGE]
        if not note:
            self.message_user(request, "Say why you pause sending.", messages.ERROR)
            return self._back()
        who = request.user.get_username()
        services.pause_pipeline(PipelineState.Reason.MANUAL, f"{note} ({who})")
        self.message_user(request, "Sending paused on every worker; rows stay pending.")
        return self._back()

    def resume_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._resume)(request)

    def _resume(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "crmsync.manage_pipeline")
        verdict = services.resume_checked()
        text = verdict.message
        if verdict.resumed:
            text += (
                " A sync task is enqueued."
                if enqueue_sync()
                else " No Celery broker: run manage.py crmsync_sync to send."
            )
        self.message_user(request, text, MESSAGE_LEVELS[verdict.level])
        return self._back()

    def queue_again_view(self, request: HttpRequest) -> HttpResponse:
        return require_POST(self._queue_again)(request)

    def _queue_again(self, request: HttpRequest) -> HttpResponse:
        self._require(request, "crmsync.sync_contact")
        category = self._bounded(request, "category")
        message = request.POST.get("message")
        message = None if message is None else message.replace("\x00", "")
        username = request.user.get_username()
        rows = services.errors_like(category, message)
        limit = get_settings().ADMIN_INLINE_MAX_ROWS
        if rows[: limit + 1].count() > limit:
            # Very many rows: a bulk job done by a task in chunks, never inside the request.
            job = services.record_bulk_job(
                "queue_for_sync", rows, username, f"contacts failed with {category}"
            )
            if start_bulk_job(job.pk):
                self.message_user(request, f"Bulk job #{job.pk} queues them again, in chunks.")
                return self._back()
            count = BulkJob.objects.get(pk=job.pk).rows_changed
        else:
            count = services.queue_again(category, message, username)
        enqueued = enqueue_sync() if count else False
        self.message_user(
            request,
            f"{count} contacts queued again" + ("; a sync task is enqueued." if enqueued else "."),
            messages.SUCCESS if count else messages.WARNING,
        )
        return self._back()


def _error_url(group: health.ErrorGroup) -> str:
    params = {"sync_status__in": "failed,held", "sync_error_category": group.category}
    if group.message:
        params["error_like"] = group.message
    return contacts_url(**params)
