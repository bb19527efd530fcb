"""What each operator action does to a contact row, and the note it leaves in its history.

Every action runs in chunks over the selection in pk order (a keyset: ``pk > last``), each
chunk one short transaction: lock the chunk's eligible rows, one UPDATE, one INSERT of the
notes. So a million rows never sit in one long transaction, and a claim (``FOR UPDATE SKIP
LOCKED``) simply passes over a chunk being changed. Rows in flight are never touched: their
worker's write-back would overwrite the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Now

from ..models import Contact, SyncAttempt, SyncStatus

#: Rows per chunk: one UPDATE of this many rows takes milliseconds on PostgreSQL.
CHUNK_ROWS = 1000

_NOT_IN_FLIGHT = ~Q(sync_status=SyncStatus.IN_FLIGHT)
_QUEUED: dict[str, Any] = {
    "sync_status": SyncStatus.PENDING,
    "next_attempt_at": Now(),
    "sync_attempts": 0,
    "sync_error": "",
    "sync_error_category": "",
    "updated_at": Now(),
}


@dataclass(frozen=True)
class Operation:
    """One admin action on contacts."""

    name: str
    label: str
    #: The crmsync permission (codename) an operator needs for it.
    permission: str
    #: Which rows of a selection it changes; the others are left as they are.
    eligible: Q
    #: The columns it writes (values or expressions).
    values: dict[str, Any]
    #: The history note, before " (by <username>)".
    note: str
    #: It may create duplicates in HubSpot: always behind a confirmation page.
    may_duplicate: bool = False


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "queue_for_sync",
            "Queue again",
            "sync_contact",
            _NOT_IN_FLIGHT,
            _QUEUED,
            "queued again by an operator",
        ),
        Operation(
            "sync_now",
            "Sync now",
            "sync_contact",
            _NOT_IN_FLIGHT,
            _QUEUED,
            "queued to sync now by an operator",
        ),
        Operation(
            "skip",
            "Skip: never sync these rows",
            "skip_contact",
            _NOT_IN_FLIGHT & ~Q(sync_status=SyncStatus.SKIPPED),
            {
                "sync_status": SyncStatus.SKIPPED,
                "sync_error": "Skipped by an operator: never synced until queued again.",
                "sync_error_category": "",
                "updated_at": Now(),
            },
            "skipped by an operator (never synced until queued again)",
        ),
        Operation(
            "unskip",
            "Unskip: sync these rows again",
            "skip_contact",
            Q(sync_status=SyncStatus.SKIPPED),
            _QUEUED,
            "unskipped by an operator",
        ),
        Operation(
            "release_held",
            "Release held contacts: create them again",
            "settle_contact",
            Q(sync_status=SyncStatus.HELD),
            {**_QUEUED, "needs_reconcile": False, "reconcile_emails": ""},
            "released by an operator to be created again",
            may_duplicate=True,
        ),
        Operation(
            "forget_hubspot_id",
            "Forget the HubSpot id: create them again",
            "settle_contact",
            _NOT_IN_FLIGHT & ~Q(hubspot_id=""),
            {
                **_QUEUED,
                "hubspot_id": "",
                "synced_properties": None,
                "synced_associations": None,
                "needs_reconcile": False,
                "reconcile_emails": "",
            },
            "HubSpot id forgotten by an operator, to be created again",
            may_duplicate=True,
        ),
    )
}


def apply_operation(name: str, queryset: models.QuerySet[Contact], username: str) -> int:
    """Do operation ``name`` to every row of ``queryset``, a chunk (one transaction) at a
    time; how many rows changed."""
    operation = OPERATIONS[name]
    changed = 0
    last = 0
    while True:
        with transaction.atomic(using=queryset.db):
            ids = chunk_ids(queryset, last)
            if not ids:
                return changed
            changed += apply_chunk(operation, ids, username, using=queryset.db)
        last = ids[-1]


def chunk_ids(queryset: models.QuerySet[Contact], after: int) -> list[int]:
    """The next chunk's pks of ``queryset``: the first CHUNK_ROWS after pk ``after``."""
    keys = queryset.order_by("pk").values_list("pk", flat=True)
    return list(keys.filter(pk__gt=after)[:CHUNK_ROWS])


def apply_chunk(operation: Operation, ids: list[int], username: str, using: str) -> int:
    """One chunk, in the caller's transaction: lock the eligible rows, change them, note it."""
    rows = Contact.objects.using(using).filter(operation.eligible, pk__in=ids)
    locked = list(
        rows.select_for_update().order_by("pk").values_list("pk", "email", "hubspot_id", "version")
    )
    if not locked:
        return 0
    changing = Contact.objects.using(using).filter(operation.eligible)
    changing.filter(pk__in=[r[0] for r in locked]).update(**operation.values)
    note = f"{operation.note} (by {username or 'unknown'})"
    SyncAttempt.objects.using(using).bulk_create(
        SyncAttempt(
            contact_id=pk,
            email=email,
            hubspot_id=hubspot_id,
            version=version,
            outcome=SyncAttempt.Outcome.OPERATOR,
            error_message=note,
            created_at=Now(),  # the database's clock, as every other history row
        )
        for pk, email, hubspot_id, version in locked
    )
    return len(locked)


def write_note(contact: Contact, note: str, username: str, hubspot_id: str = "") -> None:
    """One history note for an action on one row (settle)."""
    SyncAttempt.objects.create(
        contact=contact,
        email=contact.email,
        hubspot_id=hubspot_id or contact.hubspot_id,
        version=contact.version,
        outcome=SyncAttempt.Outcome.OPERATOR,
        error_message=f"{note} (by {username or 'unknown'})",
        created_at=Now(),  # the database's clock, not the web host's
    )
