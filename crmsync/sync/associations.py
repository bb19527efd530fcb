"""Stage 2e, associations after the create: a known contact whose companies changed gets
them through HubSpot's v4 associations API (``batch/archive`` for the pairs it left, then
``batch/create``), once its properties are through. Both calls are idempotent, so a lost
answer is simply tried again; a pair HubSpot refuses (an unknown company id) fails that row
with HubSpot's message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..exceptions import HubSpotError, OutcomeUnknownError, RetryLaterError
from ..mapping import error_message
from ..models import SyncAttempt, SyncBatch, SyncStatus
from . import calls, outcomes
from .batch import Batch, Record
from .failures import request_failed
from .plan import Input

Outcome = SyncAttempt.Outcome


def send_associations(batch: Batch, items: Iterable[Input]) -> None:
    """``items``: update inputs sent in this batch, and known contacts whose associations
    alone changed. Only those whose update went through are touched."""
    todo = [i for i in items if i.links and (i.links.archive or i.links.create) and _due(batch, i)]
    if not todo:
        return
    failed: set[str] = set()
    archive = [_pair(i) for i in todo if i.links and i.links.archive]
    create = [_association(i, key) for i in todo for key in (i.links.create if i.links else [])]
    record = None
    if archive:
        record = _request(batch, todo, SyncBatch.Endpoint.UNASSOCIATE, archive, failed)
        if record is None:
            return
    if create:
        record = _request(batch, todo, SyncBatch.Endpoint.ASSOCIATE, create, failed)
        if record is None:
            return
    for item in todo:
        if str(item.body["id"]) not in failed:
            _settle(batch, item, record)


def _due(batch: Batch, item: Input) -> bool:
    decision = batch.decisions.get(item.primary.id)
    return decision is None or decision.write.status == SyncStatus.SYNCED


def _pair(item: Input) -> dict[str, Any]:
    links = item.links
    assert links is not None
    return {"from": {"id": item.body["id"]}, "to": [{"id": c} for c in links.archive]}


def _association(item: Input, key: list[Any]) -> dict[str, Any]:
    company, category, type_id = key
    types = [{"associationCategory": category, "associationTypeId": type_id}]
    return {"from": {"id": item.body["id"]}, "to": {"id": company}, "types": types}


def _request(
    batch: Batch, items: list[Input], endpoint: str, inputs: list[dict[str, Any]], failed: set[str]
) -> Record | None:
    """Send one associations request: its record, or None when it failed as a whole (its
    rows are decided then)."""
    client = batch.client
    send = client.associations_archive if endpoint == "unassociate" else client.associations_create
    action = "archive" if endpoint == "unassociate" else "create"
    record, response, error = calls.call(
        batch,
        endpoint,
        len(inputs),
        lambda data: send(inputs, before_send=lambda: calls.ensure_lease(batch), encoded=data),
        {"inputs": inputs},
        path=f"{client.associations_path()}/batch/{action}",
    )
    if error is not None:
        _failed(batch, items, error, record)
        return None
    for err in response.errors if response else []:
        context = err.get("context") or {}
        contacts = {str(c) for c in context.get("fromObjectId") or []}
        companies = {str(c) for c in context.get("toObjectId") or []}
        for item in items:
            contact = str(item.body["id"])
            wanted = {str(k[0]) for k in (item.links.create if item.links else [])}
            if contact in failed or not (contact in contacts or wanted & companies):
                continue
            failed.add(contact)
            message = f"associations: {error_message(err)}"
            batch.fail(item.primary, message, str(err.get("category", "")), record)
    return record


def _failed(batch: Batch, items: list[Input], error: HubSpotError, record: Record) -> None:
    if isinstance(error, OutcomeUnknownError):
        # Associating twice is harmless: send it again, no lookup needed.
        error = RetryLaterError(error.message, status=None, category="OUTCOME_UNKNOWN")
    request_failed(batch, items, error, record)


def _settle(batch: Batch, item: Input, record: Record | None) -> None:
    row, links = item.primary, item.links
    assert links is not None
    if row.id not in batch.decisions:  # only its associations changed
        batch.decide(row, outcomes.synced(row, row.hubspot_id, Outcome.UPDATED), record)
    batch.record_associations(row, links.after)
