"""Which Celery workers (and beat) are alive: a row each, refreshed by the process itself."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .pipeline import PipelineState


class WorkerHeartbeat(models.Model):
    """One Celery worker or beat process, as it last said it was alive (the database's
    clock, never the worker's: hosts' clocks differ)."""

    class Kind(models.TextChoices):
        WORKER = "worker", _("Celery worker")
        BEAT = "beat", _("Celery beat")

    #: ``hostname:pid`` (``crmsync.runtime.worker_name``).
    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WORKER)
    started_at = models.DateTimeField(db_default=Now())
    seen_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ("kind", "name")
        verbose_name = _("worker heartbeat")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class Dashboard(PipelineState):
    """No table of its own: the admin's entry for the dashboard (``admin:crmsync_dashboard``)."""

    class Meta:
        proxy = True
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboard")
