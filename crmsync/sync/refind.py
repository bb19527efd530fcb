"""Stage 2f, following HubSpot's merges and deletions: an update answered OBJECT_NOT_FOUND,
or left out of HubSpot's answer, means the row's HubSpot id stopped working (the contact was
merged into another, or deleted). Look it up again, once: by its old id first (a read of a
merged-away id may give the surviving record, which lists the old id in
``hs_merged_object_ids``), then by a unique property when one is configured, then by email
(batch/read; secondary emails are not found that way, but a create then answers 409 naming
their owner, which links the row). What is found is relinked and sent the row's values;
when nothing is found, the row is created again (one without an email or unique value to
look it up by fails instead, with a note: creating it could duplicate a merged contact).
A row not found a second time in the same batch fails with a clear message: never a loop.
Reads only: the write-back stays fenced by the claim token, and a crash before it just
repeats the lookup on the next claim."""

from __future__ import annotations

from typing import Any, Protocol

from ..exceptions import HubSpotError, OutcomeUnknownError, RetryLaterError
from ..mapping import MappingError
from ..registry import create_only_for
from . import calls, matching, outcomes, plan
from .batch import Batch, Record
from .failures import request_failed
from .plan import Input


class Sender(Protocol):
    """What this stage needs of ``send.Sender``: the batch, and the queues it sends next."""

    batch: Batch
    followups: list[Input]
    recreates: list[Input]
    superseded: list[Input]


NOT_FOUND_TWICE = (
    "HubSpot contact {old} is gone, and {new}, found in its place, was not found either "
    "(not found twice in a row: no further lookup). Check HubSpot, then set the HubSpot id "
    "or forget it (admin actions) and queue the row again."
)

NOTHING_TO_FIND_BY = (
    "This row has no email (nor unique property value) to find it again by, so it is not "
    "created again: that could duplicate a contact it was merged into. Check HubSpot, then "
    "set its HubSpot id, or use *Forget the HubSpot id* to create it again (admin actions)."
)


def unique_property(batch: Batch) -> str:
    """The custom unique property to look contacts up by (``CRMSYNC["UNIQUE_PROPERTY"]``,
    with the upsert write mode), "" when none is configured."""
    return str(getattr(batch.conf, "UNIQUE_PROPERTY", "") or "")


def find_again(sender: Sender, items: list[Input], record: Record) -> None:
    """``items``: update inputs whose HubSpot id HubSpot no longer knows."""
    batch = sender.batch
    todo = []
    for item in items:
        if item.primary.id in batch.refound:
            old = batch.refound[item.primary.id]
            message = NOT_FOUND_TWICE.format(old=old, new=item.body["id"])
            for row in item.rows:
                batch.fail(row, message, matching.NOT_FOUND, record)
        else:
            todo.append(item)
    if not todo:
        return
    by_id, read_record, error = calls.read_contacts(batch, [str(i.body["id"]) for i in todo])
    if error is not None:
        _read_failed(batch, todo, error, read_record)
        return
    lookups, read_record, error = _lookups(batch, todo, by_id, read_record)
    if error is not None:
        _read_failed(batch, todo, error, read_record)
        return
    for item in todo:
        old_id = str(item.body["id"])
        values = [(name, _value(item, name), found) for name, found in lookups]
        found = matching.refind(old_id, by_id, values)
        for row in item.rows:
            batch.refound[row.id] = old_id
        if found.same:
            for row in item.rows:  # it exists: only left out of the answer, as before
                batch.retry(row, "HubSpot's answer did not mention this contact", "", record)
        elif found.hubspot_id:
            relink(sender, item, found.hubspot_id, found.note, read_record)
        elif not any(_value(item, name) for name in ("email", unique_property(batch)) if name):
            message = f"{found.note}. {NOTHING_TO_FIND_BY}"
            for row in item.rows:
                batch.fail(row, message, matching.NOT_FOUND, read_record)
        else:
            create_again(sender, item, found.note, read_record)


def _read_failed(batch: Batch, items: list[Input], error: HubSpotError, record: Record) -> None:
    """A read changes nothing: a lost answer is only "try again later" (never "the create
    may have happened", which would hold a row without email)."""
    if isinstance(error, OutcomeUnknownError):
        error = RetryLaterError(error.message, status=None, category="OUTCOME_UNKNOWN")
    request_failed(batch, items, error, record)


def _lookups(
    batch: Batch, items: list[Input], by_id: list[dict[str, Any]], record: Record
) -> tuple[list[tuple[str, list[dict[str, Any]]]], Record, Any]:
    """Look up by the unique property (when configured), then by email, only the items the
    read by id did not settle; returns (property, records found) pairs."""
    settled = {
        old
        for result in by_id
        for old in [str(result.get("id") or ""), *matching.merged_ids(result)]
    }
    rest = [i for i in items if str(i.body["id"]) not in settled]
    names = [n for n in (unique_property(batch), "email") if n]
    lookups: list[tuple[str, list[dict[str, Any]]]] = []
    for name in names:
        keys = [_value(i, name) for i in rest]
        found: list[dict[str, Any]] = []
        if any(keys):
            found, record, error = calls.read_contacts(batch, keys, name)
            if error is not None:
                return lookups, record, error
        lookups.append((name, found))
    return lookups, record, None


def _value(item: Input, name: str) -> str:
    if name == "email":
        return item.primary.email.strip().lower()
    value = item.properties.get(name) or (item.synced_after or {}).get(name) or ""
    return str(value)


def relink(sender: Sender, item: Input, hubspot_id: str, note: str, record: Record) -> None:
    """Link the row to the record found and queue an update sending it every property."""
    batch = sender.batch
    row = item.primary
    try:
        followup = plan.full_update(row, hubspot_id, item.trace_id, create_only_for(row.source))
    except MappingError as exc:  # it mapped when planned: only a changed mapping
        batch.fail(row, f"Cannot send: {exc}", "MAPPING_ERROR", record)
        return
    # Not in ``batch.linked``: should the follow-up not go through (a retry, a rejection, a
    # stop), the row keeps its old id and what HubSpot held of it, and its next try looks
    # the new record up again and sends it everything, rather than only what changed since
    # the old record last took it.
    batch.awaiting_followup.add(row.id)
    batch.decide(row, outcomes.relinked(row, hubspot_id, note), record)
    sender.superseded.append(item)
    sender.followups.append(followup)


def create_again(sender: Sender, item: Input, note: str, record: Record) -> None:
    """Nothing found: the row is still wanted (an archive never gets here), so create it."""
    batch = sender.batch
    row = item.primary
    try:
        again = plan.create_again(row, item.trace_id)
    except MappingError as exc:
        batch.fail(row, f"Cannot send: {exc}", "MAPPING_ERROR", record)
        return
    batch.decide(row, outcomes.to_create_again(row, note), record)
    sender.superseded.append(item)
    sender.recreates.append(again)
