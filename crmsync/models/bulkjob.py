"""An operator's action over many contacts, recorded so a task does it in chunks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BulkJob(models.Model):
    """One admin action over a large selection (or "select all"), done by a task.

    The task's only argument is this row's id: the selection (a pickled ``Query``, which
    Django supports for the same Django version) and the user stay in the database, so no
    personal data or token ever travels through the broker. Progress (``last_pk``,
    ``rows_done``) is written in the same transaction as each chunk's UPDATE, so a redelivered
    task resumes after the last finished chunk instead of redoing it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    action = models.CharField(max_length=32)
    #: The admin's filtered queryset's ``query``, pickled (see crmsync.operations.bulk).
    selection = models.BinaryField(editable=False)
    #: How the operator described the selection ("all contacts matching ...", "120 rows").
    description = models.CharField(max_length=255, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    #: Rows of the selection gone through, and how many of them the action changed.
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_changed = models.PositiveBigIntegerField(default=0)
    #: The keyset cursor: the next chunk starts after this pk.
    last_pk = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        verbose_name = _("bulk job")

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} ({self.get_status_display()})"
