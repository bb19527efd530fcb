"""The pipeline's one row: running or paused, and why."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import services
from ..models import PipelineState
from ..tasks import enqueue_sync
from .base import MESSAGE_LEVELS


@admin.register(PipelineState)
class PipelineStateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "reason", "message", "paused_at", "paused_until")
    readonly_fields = ("paused", "reason", "message", "paused_at", "paused_until")
    actions = ("resume",)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # The one row exists from the first read on, so the page shows "running" before
        # the first pause instead of an empty list.
        PipelineState.objects.get_or_create(pk=1)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_pipeline_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("crmsync.manage_pipeline")

    @admin.action(description="Resume sending", permissions=["manage_pipeline"])
    def resume(self, request: HttpRequest, queryset: QuerySet[PipelineState]) -> None:
        """As the dashboard's Resume: only once the pause's cause is gone, and it says so."""
        verdict = services.resume_checked()
        if verdict.resumed:
            enqueue_sync()
        self.message_user(request, verdict.message, MESSAGE_LEVELS[verdict.level])
