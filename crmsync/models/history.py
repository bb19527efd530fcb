"""Sync history: one row per HubSpot request, one per contact and attempt. Append-only."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .contact import Contact


class SyncBatch(models.Model):
    """One HubSpot request and its answer. Append-only."""

    class Endpoint(models.TextChoices):
        CREATE = "create", "batch/create"
        UPDATE = "update", "batch/update"
        UPSERT = "upsert", "batch/upsert"
        READ = "read", "batch/read"
        ARCHIVE = "archive", "batch/archive"
        ASSOCIATE = "associate", "associations batch/create"
        UNASSOCIATE = "unassociate", "associations batch/archive"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    endpoint = models.CharField(max_length=16, choices=Endpoint.choices)
    path = models.CharField(max_length=200)
    input_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    #: None when no answer came back (timeout, dropped connection).
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    hubspot_status = models.CharField(max_length=32, blank=True)
    error_category = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    requested_at = models.CharField(max_length=40, blank=True)
    started_at = models.CharField(max_length=40, blank=True)
    completed_at = models.CharField(max_length=40, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    #: The JSON body sent (inputs with their trace ids); never holds the token.
    request_body = models.TextField(blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True)
    #: HubSpot's daily cap and what was left of it after this request, from the answer's
    #: X-HubSpot-RateLimit-Daily(-Remaining) headers; None when it carried none.
    daily_limit = models.PositiveIntegerField(null=True, blank=True)
    daily_remaining = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            # The dashboard's "last successful request": newest first, among few rows when
            # HubSpot has refused everything for a while (history is append-only: cheap).
            models.Index(
                fields=["-id"],
                condition=Q(success_count__gt=0, http_status__in=[200, 201, 207]),
                name="crmsync_batch_success_idx",
            ),
        ]
        verbose_name = _("sync batch")
        verbose_name_plural = _("sync batches")

    def __str__(self) -> str:
        return f"{self.get_endpoint_display()} #{self.pk} ({self.http_status or 'no answer'})"


class SyncAttempt(models.Model):
    """What happened to one contact in one attempt. Append-only."""

    class Outcome(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        LINKED = "linked", _("Linked to existing")
        FAILED = "failed", _("Failed")
        RETRY = "retry", _("Will retry")
        UNKNOWN = "unknown", _("Outcome unknown")
        HELD = "held", _("Held")
        UNCHANGED = "unchanged", _("Nothing changed: not sent")
        ARCHIVED = "archived", _("Archived")
        #: A note of an operator's action from the admin (skip, settle, forget an id...):
        #: ``error_message`` says what was done and by whom; ``batch`` is empty.
        OPERATOR = "operator", _("Operator's action")

    created_at = models.DateTimeField(default=timezone.now)
    batch = models.ForeignKey(
        SyncBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts"
    )
    contact = models.ForeignKey(
        Contact,
        null=True,
        on_delete=models.SET_NULL,
        related_name="sync_attempts_log",
        db_index=False,  # crmsync_attempt_contact_idx (contact, -id) serves it
    )
    email = models.CharField(max_length=254, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    hubspot_id = models.CharField(max_length=32, blank=True)
    error_category = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    version = models.PositiveIntegerField(default=0)
    #: batch/upsert's ``new``: True when the upsert created the HubSpot record, False when it
    #: updated one that held this row's key (a retry after a lost answer); None otherwise.
    upsert_new = models.BooleanField(_("new in HubSpot"), null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            models.Index(fields=["contact", "-id"], name="crmsync_attempt_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email or self.contact_id}: {self.get_outcome_display()}"
