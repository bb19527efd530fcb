"""The outbound contact queue and its sync history.

Ownership of columns is split on purpose. The host project writes the contact's data (email,
names, properties...). Only the service layer writes the sync-state columns, always with
``QuerySet.update`` fenced by the claim token, so a ``save()`` from a stale instance never
clobbers a sync result (see ``Contact.save``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, ClassVar

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .mapping import PropertiesEncoder, stored_properties


class SyncStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_FLIGHT = "in_flight", _("In flight")
    SYNCED = "synced", _("Synced")
    FAILED = "failed", _("Failed")
    #: The outcome of a create is unknown and the row has no email to look it up by: an
    #: operator must say whether HubSpot holds it (see README, "Held contacts").
    HELD = "held", _("Held: outcome unknown")


#: Columns whose change means HubSpot must hear about it.
SYNCED_FIELDS = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "lifecyclestage",
    "properties",
    "associations",
)


class ContactQuerySet(models.QuerySet["Contact"]):
    def lease_expired(self, now: Any = None) -> ContactQuerySet:
        return self.filter(
            sync_status=SyncStatus.IN_FLIGHT, lease_expires_at__lt=now or timezone.now()
        )

    def queue_for_sync(self) -> int:
        """Mark these rows pending and due now (rows in flight are left to their worker)."""
        return self.exclude(sync_status=SyncStatus.IN_FLIGHT).update(
            sync_status=SyncStatus.PENDING,
            next_attempt_at=Now(),
            sync_attempts=0,
            sync_error="",
            sync_error_category="",
            updated_at=Now(),
        )


class Contact(models.Model):
    """A contact that should exist in HubSpot."""

    email = models.CharField(max_length=254, blank=True)
    firstname = models.CharField(max_length=255, blank=True)
    lastname = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    company = models.CharField(max_length=255, blank=True)
    lifecyclestage = models.CharField(
        max_length=64, blank=True, help_text=_("HubSpot internal name, e.g. lead, customer.")
    )
    #: Dates, Decimals, sets... are stored as the strings HubSpot takes (PropertiesEncoder).
    properties = models.JSONField(
        default=dict,
        blank=True,
        encoder=PropertiesEncoder,
        help_text=_("Any other HubSpot property, by internal name."),
    )
    associations = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'HubSpot associations, e.g. [{"to": {"id": "9001"}, "types": '
            '[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]'
        ),
    )

    # -- sync state: written by crmsync.services only ---------------------------------------
    sync_status = models.CharField(
        max_length=16,
        choices=SyncStatus.choices,
        default=SyncStatus.PENDING,
        db_default=SyncStatus.PENDING,
    )
    hubspot_id = models.CharField(_("HubSpot id"), max_length=32, blank=True)
    sync_error = models.TextField(blank=True)
    #: HubSpot's own category (VALIDATION_ERROR, CONFLICT, RATE_LIMIT...) as free text.
    sync_error_category = models.CharField(max_length=64, blank=True)
    #: HubSpot's status for the last batch this row was in (e.g. COMPLETE).
    hubspot_status = models.CharField(max_length=32, blank=True)
    hubspot_created_at = models.DateTimeField(null=True, blank=True)
    hubspot_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    sync_attempts = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_default=Now())
    #: Bumped whenever a synced field changes; a result for an older version never wins.
    version = models.PositiveIntegerField(default=1, db_default=1)
    synced_version = models.PositiveIntegerField(default=0, db_default=0)
    claimed_version = models.PositiveIntegerField(default=0, db_default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: HubSpot may hold this contact already (a lost answer or an expired lease): look it up
    #: by email before creating it again.
    needs_reconcile = models.BooleanField(default=False, db_default=False)
    #: The emails this row had when it was claimed since it was last settled (lower case,
    #: space-separated): a lost create may have used any of them.
    reconcile_emails = models.TextField(default="", db_default="", blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now(), editable=False)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(sync_status="pending"),
                name="crmsync_contact_due_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(sync_status="in_flight"),
                name="crmsync_contact_lease_idx",
            ),
            # Every claim and write-back adds an entry to every index of this table (they
            # change indexed columns, so no update is HOT): keep only the ones crmsync's
            # queries and the admin's exact HubSpot-id search use. A plain btree, since
            # db_index=True would add a "_like" twin on PostgreSQL.
            models.Index(fields=["hubspot_id"], name="crmsync_contact_hubspot_id_idx"),
        ]
        permissions: ClassVar = [
            ("sync_contact", "Can queue contacts and sync them to HubSpot"),
            ("manage_pipeline", "Can pause and resume the HubSpot sync"),
        ]

    def __str__(self) -> str:
        name = f"{self.firstname} {self.lastname}".strip()
        return self.email or name or f"contact #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the contact's data; never the sync state of a stale instance.

        On an update, a plain ``save()`` writes only the data columns this instance loaded
        (and ``updated_at``); ``save(update_fields=[...])`` writes the columns named. When a
        synced field written changed, the row's version is bumped and it is marked pending
        in the same statement (unless it is in flight or held, see below).
        """
        if self._state.adding or self.pk is None or kwargs.get("force_insert"):
            super().save(*args, **kwargs)
            self._loaded_data = self._synced_data()
            return
        update_fields = kwargs.get("update_fields")
        if update_fields is None:
            # A field this instance never loaded is not written, as Django's own save() of a
            # deferred instance does: loading it now only to write it back could undo an edit
            # made meanwhile, and costs a query per field.
            deferred = self.get_deferred_fields()
            written = [name for name in SYNCED_FIELDS if name not in deferred]
            fields = [*written, "updated_at"]
            self.updated_at = timezone.now()
        else:
            fields = list(update_fields)
            written = [name for name in SYNCED_FIELDS if name in fields]
        changed = self.changed_synced_fields(written)
        if changed:
            self.version = F("version") + 1
            # In flight: its worker sees the new version and sends it again. Held: an earlier
            # create may exist in HubSpot, so only an operator may release it, and the note
            # saying so stays until then.
            held = Q(sync_status=SyncStatus.HELD)
            self.sync_status = Case(
                When(sync_status=SyncStatus.IN_FLIGHT, then=Value(SyncStatus.IN_FLIGHT)),
                When(held, then=Value(SyncStatus.HELD)),
                default=Value(SyncStatus.PENDING),
            )
            self.sync_error = Case(
                When(held, then=F("sync_error")),
                default=Value(""),
                output_field=models.TextField(),
            )
            self.sync_error_category = Case(
                When(held, then=F("sync_error_category")),
                default=Value(""),
                output_field=models.CharField(),
            )
            self.next_attempt_at = Now()
            self.sync_attempts = 0
            self.updated_at = timezone.now()
            fields += [name for name in _BUMPED_FIELDS if name not in fields]
        kwargs["update_fields"] = fields
        self._crmsync_changed = bool(changed)  # read by crmsync.receivers.contact_saved
        super().save(*args, **kwargs)
        # Only what was written is now what the database holds: a field changed but not
        # written is still a change for the next save.
        self._loaded_data = {**self._loaded_synced_data(), **self._synced_data(written)}
        if changed:
            # The expressions above are not values; read back what the database decided.
            self.refresh_from_db(fields=_READ_BACK_FIELDS)

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Contact:
        instance = super().from_db(db, field_names, values)
        instance._loaded_data = instance._synced_data()
        return instance

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: models.QuerySet[Contact] | None = None,
    ) -> None:
        fields = None if fields is None else list(fields)
        super().refresh_from_db(using, fields, from_queryset)
        # What was just read is what a later save compares against. This is also how a
        # deferred field is loaded when first read: then it is loaded, not changed.
        names = SYNCED_FIELDS if fields is None else [n for n in SYNCED_FIELDS if n in fields]
        self._loaded_data = {**self._loaded_synced_data(), **self._synced_data(names)}

    def _loaded_synced_data(self) -> dict[str, Any]:
        return getattr(self, "_loaded_data", {})

    def _synced_data(self, names: Iterable[str] = SYNCED_FIELDS) -> dict[str, Any]:
        """The synced fields' values, leaving out (and never loading) deferred ones. Copies:
        ``properties`` and ``associations`` are often edited in place."""
        deferred = self.get_deferred_fields()
        return {name: copy.deepcopy(getattr(self, name)) for name in names if name not in deferred}

    def changed_synced_fields(self, names: Iterable[str] = SYNCED_FIELDS) -> list[str]:
        """The synced fields among ``names`` that differ from what was loaded or last saved.
        A field set on an instance that never loaded it counts as changed; a field still
        deferred does not (nobody set it)."""
        loaded = self._loaded_synced_data()
        current = self._synced_data(names)
        return [
            name
            for name in current
            if name not in loaded or _stored(name, loaded[name]) != _stored(name, current[name])
        ]


def _stored(name: str, value: Any) -> Any:
    # A date saved is read back as its HubSpot string: setting the same date again (a host
    # copying its data in on every save) is no change, and is not sent again.
    return stored_properties(value) if name == "properties" else value


#: Written with the synced fields whenever one of them changed (see ``Contact.save``).
_BUMPED_FIELDS = (
    "version",
    "sync_status",
    "sync_error",
    "sync_error_category",
    "next_attempt_at",
    "sync_attempts",
    "updated_at",
)
#: The bumped fields that ``Contact.save`` sets to expressions.
_READ_BACK_FIELDS = (
    "version",
    "sync_status",
    "sync_error",
    "sync_error_category",
    "next_attempt_at",
)


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


class SyncBatch(models.Model):
    """One HubSpot request and its answer. Append-only."""

    class Endpoint(models.TextChoices):
        CREATE = "create", "batch/create"
        UPDATE = "update", "batch/update"
        READ = "read", "batch/read"

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

    class Meta:
        ordering = ("-id",)
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

    class Meta:
        ordering = ("-id",)
        indexes: ClassVar = [
            models.Index(fields=["contact", "-id"], name="crmsync_attempt_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email or self.contact_id}: {self.get_outcome_display()}"
