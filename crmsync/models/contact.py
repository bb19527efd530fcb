"""The outbound contact queue and its sync history.

Ownership of columns is split on purpose. The host project writes the contact's data (email,
names, properties...). Only the service layer writes the sync-state columns, always with
``QuerySet.update`` fenced by the claim token, so a ``save()`` from a stale instance never
clobbers a sync result (see ``Contact.save``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..mapping import PropertiesEncoder
from .keys import sync_key_field
from .tracking import SYNCED_FIELDS, ChangeTracking


class SyncStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    IN_FLIGHT = "in_flight", _("In flight")
    SYNCED = "synced", _("Synced")
    FAILED = "failed", _("Failed")
    #: The outcome of a create is unknown and the row has no email to look it up by: an
    #: operator must say whether HubSpot holds it (see README, "Held contacts").
    HELD = "held", _("Held: outcome unknown")
    #: Archived in HubSpot (its host row was deleted, or stopped qualifying); nothing more
    #: is sent for it.
    ARCHIVED = "archived", _("Archived in HubSpot")
    #: An operator said never to sync this row: no claim takes it and no save queues it
    #: again; only "queue again" (or "unskip") does.
    SKIPPED = "skipped", _("Skipped by an operator")


class SyncAction(models.TextChoices):
    """What the next send does with the contact."""

    UPSERT = "upsert", _("Create or update")
    ARCHIVE = "archive", _("Archive")


class ContactQuerySet(models.QuerySet["Contact"]):
    def lease_expired(self) -> ContactQuerySet:
        """In flight past the lease, by the database's clock (never a worker's)."""
        return self.filter(sync_status=SyncStatus.IN_FLIGHT, lease_expires_at__lt=Now())

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


class Contact(ChangeTracking, models.Model):
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

    #: For a row that mirrors a registered host model (``crmsync.register``): its label
    #: (``app_label.modelname``) and primary key. Empty for a contact of crmsync's own.
    source = models.CharField(max_length=100, blank=True, default="", db_default="", editable=False)
    source_pk = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )
    action = models.CharField(
        max_length=8,
        choices=SyncAction.choices,
        default=SyncAction.UPSERT,
        db_default=SyncAction.UPSERT,
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
    #: Due by the database's clock: a new row is due at its INSERT's now (no Python default,
    #: so a host whose clock runs ahead cannot create rows due in its future).
    next_attempt_at = models.DateTimeField(db_default=Now())
    #: Bumped whenever a synced field changes; a result for an older version never wins.
    version = models.PositiveIntegerField(default=1, db_default=1)
    synced_version = models.PositiveIntegerField(default=0, db_default=0)
    claimed_version = models.PositiveIntegerField(default=0, db_default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: HubSpot may hold this contact already (a lost answer or an expired lease): look it up
    #: by email before creating it again.
    needs_reconcile = models.BooleanField(default=False, db_default=False)
    #: The properties HubSpot last accepted from this row (name -> HubSpot string), so an
    #: update sends only what changed and clears what was emptied. None: not known (a row
    #: synced before crmsync kept it): the next update sends every property.
    synced_properties = models.JSONField(null=True, blank=True, default=None, editable=False)
    #: The associations HubSpot holds for this contact, as [company id, category, type id]
    #: lists; None: not known (the next change adds every association, removes none).
    synced_associations = models.JSONField(null=True, blank=True, default=None, editable=False)
    #: The emails this row had when it was claimed since it was last settled (lower case,
    #: space-separated): a lost create may have used any of them.
    reconcile_emails = models.TextField(default="", db_default="", blank=True, editable=False)

    sync_key = sync_key_field()  # upsert mode's key: README, "Write modes"
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
            # The dashboard's counts by state: an index-only scan (a low-cardinality btree,
            # deduplicated: a few MB at 1M rows) instead of reading the whole table.
            models.Index(fields=["sync_status"], name="crmsync_contact_status_idx"),
            # The dashboard's most frequent errors: failed and held rows only, so a claim or
            # write-back of any other row adds no entry.
            models.Index(
                fields=["sync_error_category"],
                condition=Q(sync_status__in=["failed", "held"]),
                name="crmsync_contact_error_idx",
            ),
        ]
        constraints: ClassVar = [
            # Partial: crmsync's own contacts (source "") have no entry, so their claims and
            # write-backs pay nothing for it.
            models.UniqueConstraint(
                fields=["source", "source_pk"],
                condition=~Q(source=""),
                name="crmsync_contact_source_uniq",
            ),
        ]
        permissions: ClassVar = [
            ("sync_contact", "Can queue contacts and sync them to HubSpot"),
            ("manage_pipeline", "Can pause and resume the HubSpot sync"),
            ("skip_contact", "Can skip contacts (never sync them) and unskip them"),
            (
                "settle_contact",
                "Can settle held contacts, release them, and forget HubSpot ids",
            ),
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
            # saying so stays until then. Skipped: an operator said never to sync it (as
            # crmsync.mirror._requeue does for mirrors).
            held = Q(sync_status__in=(SyncStatus.HELD, SyncStatus.SKIPPED))
            self.sync_status = Case(
                When(held | Q(sync_status=SyncStatus.IN_FLIGHT), then=F("sync_status")),
                default=Value(SyncStatus.PENDING),
                output_field=models.CharField(),
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
