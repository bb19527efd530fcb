"""Stage 4, deciding: each row's new sync state, as a value.

Pure functions: a claimed row and what happened to it in, a ``Decision`` out (the state to
write back, and the history entry to keep). Nothing here talks to HubSpot or the database,
nor reads a clock: a due time is an interval ("retry in N seconds") that the write-back's
statement adds to the database's now (``crmsync.dbclock``). The dice are arguments.

=========  ===============================  ================================================
outcome    sync status written              when
=========  ===============================  ================================================
synced     synced (HubSpot id, timestamps)  created, updated, or linked to an existing one
unchanged  synced                           an update with nothing changed: no request
archived   archived                         batch/archive answered, or nothing to archive
failed     failed (error kept)              HubSpot rejected the input, or attempts ran out
retry      pending, due after a backoff     5xx, 423, 477, a rolling 429 (not counted)
unknown    pending, looked up by email      the answer was lost after the request was sent
held       held, for an operator            as unknown, but no email to look it up by
untouched  pending, due now                 never sent (paused, limiter down, lease lost)
=========  ===============================  ================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import db
from ..models import SyncAttempt, SyncStatus

Outcome = SyncAttempt.Outcome
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
HELD_NOTE = (
    "HubSpot may already hold this contact (an earlier create got no answer) and it has no "
    "email to look it up by. Check HubSpot, then either set its HubSpot id or release it to "
    "be created again (admin actions)."
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class Decision:
    """A row's new state, and the history entry for it (``outcome`` empty: none)."""

    write: db.WriteBack
    outcome: str = ""
    hubspot_id: str = ""
    error_category: str = ""
    error_message: str = ""
    #: the row goes back to the queue because of an error (a retry, not an untouched row)
    retried: bool = False
    #: batch/upsert's ``new`` for this row (None: not an upsert's answer)
    upsert_new: bool | None = None


def backoff(attempt: int, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: half fixed, half random, capped."""
    ceiling = min(policy.max_seconds, policy.base_seconds * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + rand() * ceiling / 2


def parse_time(value: Any) -> dt.datetime | None:
    """HubSpot's ISO 8601 timestamps (``...Z``, which fromisoformat reads since Python 3.11);
    None for anything else."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def synced(
    row: db.ClaimedRow,
    hubspot_id: str,
    outcome: str,
    hubspot_status: str = "",
    result: dict[str, Any] | None = None,
    synced_properties: dict[str, str] | None = None,
    synced_associations: list[list[Any]] | None = None,
) -> Decision:
    """HubSpot holds the contact; ``synced_properties``: what it now holds of the row's
    properties (None when this answer says nothing about them, as a link does)."""
    result = result or {}
    write = db.WriteBack(
        id=row.id,
        status=SyncStatus.SYNCED,
        hubspot_id=hubspot_id,
        hubspot_status=hubspot_status,
        hubspot_created_at=parse_time(result.get("createdAt")),
        hubspot_updated_at=parse_time(result.get("updatedAt")),
        synced_properties=synced_properties,
        synced_associations=synced_associations,
    )
    return Decision(write, outcome, hubspot_id=hubspot_id)


def unchanged(row: db.ClaimedRow) -> Decision:
    """Nothing HubSpot holds of this row differs from it: synced, without a request."""
    write = db.WriteBack(id=row.id, status=SyncStatus.SYNCED, hubspot_id=row.hubspot_id)
    return Decision(write, Outcome.UNCHANGED, hubspot_id=row.hubspot_id)


def archived(row: db.ClaimedRow, hubspot_id: str = "") -> Decision:
    """Archived in HubSpot (``hubspot_id``), or nothing to archive there: done for good."""
    write = db.WriteBack(id=row.id, status=SyncStatus.ARCHIVED, hubspot_id=hubspot_id)
    return Decision(write, Outcome.ARCHIVED, hubspot_id=hubspot_id)


def failed(row: db.ClaimedRow, message: str, category: str, linked_id: str = "") -> Decision:
    """For good: HubSpot refused the input, or the row ran out of attempts."""
    write = db.WriteBack(
        id=row.id,
        hubspot_id=linked_id,
        status=SyncStatus.FAILED,
        error=message,
        error_category=category,
        attempts=row.sync_attempts + 1,
    )
    return Decision(write, Outcome.FAILED, error_category=category, error_message=message)


def retry(
    row: db.ClaimedRow,
    message: str,
    category: str,
    policy: RetryPolicy,
    *,
    count: bool = True,
    wait: float | None = None,
    linked_id: str = "",
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Back to pending, due after the backoff (at least ``wait``). A counted attempt past
    ``max_attempts`` fails the row instead; an uncounted one (a rolling 429) costs none."""
    attempts = row.sync_attempts + (1 if count else 0)
    if count and attempts >= policy.max_attempts:
        text = f"Gave up after {attempts} attempts. Last error: {message}"
        return failed(row, text, category, linked_id)
    delay = backoff(attempts, policy, rand) if count else 0.0
    delay = max(delay, wait or 0.0)
    reconcile = row.needs_reconcile and not linked_id
    write = db.WriteBack(
        id=row.id,
        hubspot_id=linked_id,
        status=SyncStatus.PENDING,
        error=message,
        error_category=category,
        attempts=attempts,
        retry_in=delay,
        needs_reconcile=reconcile,
        reconcile_emails=row.reconcile_emails if reconcile else "",
    )
    return Decision(
        write, Outcome.RETRY, error_category=category, error_message=message, retried=True
    )


def unknown(
    row: db.ClaimedRow,
    email: str,
    message: str,
    policy: RetryPolicy,
    rand: Callable[[], float] = random.random,
    key: str = "",
) -> Decision:
    """The create may have happened. A row with an email, or with a ``key`` the create
    carried in a unique property, is looked up before its next try; one without either is
    held for an operator (never created again blindly)."""
    if not email and not key:
        return held(row, message)
    by = "email" if email else f"its key in {key}"
    write = db.WriteBack(
        id=row.id,
        status=SyncStatus.PENDING,
        error=f"{message}; will look it up by {by} before creating again",
        error_category=OUTCOME_UNKNOWN,
        attempts=row.sync_attempts + 1,
        retry_in=backoff(1, policy, rand),
        needs_reconcile=True,
        reconcile_emails=row.reconcile_emails,  # holds the email just sent
    )
    return Decision(
        write,
        Outcome.UNKNOWN,
        error_category=OUTCOME_UNKNOWN,
        error_message=message,
        retried=True,
    )


def held(row: db.ClaimedRow, message: str = "") -> Decision:
    text = f"{HELD_NOTE} Last error: {message}" if message else HELD_NOTE
    write = db.WriteBack(
        id=row.id,
        status=SyncStatus.HELD,
        error=text,
        error_category=OUTCOME_UNKNOWN,
        attempts=row.sync_attempts,
        needs_reconcile=True,
        reconcile_emails=row.reconcile_emails,
    )
    return Decision(write, Outcome.HELD, error_category=OUTCOME_UNKNOWN, error_message=text)


def untouched(
    row: db.ClaimedRow,
    *,
    reason: str = "",
    linked_id: str = "",
) -> Decision:
    """Not decided by the run (paused, limiter down, lease lost): pending, due now."""
    reconcile = row.needs_reconcile and not linked_id
    write = db.WriteBack(
        id=row.id,
        hubspot_id=linked_id,
        status=SyncStatus.PENDING,
        error=reason,
        attempts=row.sync_attempts,
        retry_in=0.0,
        needs_reconcile=reconcile,
        reconcile_emails=row.reconcile_emails if reconcile else "",
    )
    return Decision(write)


def relinked(row: db.ClaimedRow, hubspot_id: str, note: str) -> Decision:
    """HubSpot no longer knows the row's id, and a lookup found the record it became (a
    merge's survivor, or found again by email): linked to it, its values to be sent by a
    follow-up update. Written as synced with the new id should no follow-up follow."""
    write = db.WriteBack(id=row.id, status=SyncStatus.SYNCED, hubspot_id=hubspot_id)
    return Decision(write, Outcome.LINKED, hubspot_id=hubspot_id, error_message=note)


def to_create_again(row: db.ClaimedRow, note: str) -> Decision:
    """Nothing found of the row's record in HubSpot and the row is still wanted: it is
    created again in this batch (this entry notes why). If the create is not sent, the row
    is due again now, keeping its old id (the next try looks it up again)."""
    write = dataclasses.replace(untouched(row).write, error=note)
    return Decision(write, Outcome.RETRY, error_message=f"{note}: created again")
