"""Whether sending is paused: one row every worker reads."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PipelineState(models.Model):
    """One row: whether sending is paused, until when, and why (shown in the admin)."""

    class Reason(models.TextChoices):
        NONE = "", _("Running")
        AUTH = "auth", _("Authentication or scopes")
        DAILY_LIMIT = "daily_limit", _("Daily API limit reached")
        MANUAL = "manual", _("Paused by an operator")

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True)
    message = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    #: For a daily limit: sending resumes by itself at this time.
    paused_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("pipeline state")
        verbose_name_plural = _("pipeline state")

    def __str__(self) -> str:
        return f"paused: {self.get_reason_display()}" if self.paused else "running"
