"""Stage 2b in upsert mode: new contacts through ``batch/upsert`` by the unique property.

The same input sent twice updates what the first one created (HubSpot finds the record by
the row's key), so an answer lost after HubSpot wrote (a timeout, a connection dropped after
the commit) is simply sent again later: no lookup by email, no row held for an operator,
whatever the row's email. A whole-batch rejection (a 400, or a 409 for one conflict: Airbyte
saw HubSpot answer a whole upsert batch so) is isolated as for creates, by the inputs HubSpot's
message quotes or by halves; a contact that already holds the row's email is linked, and
sent the row's values by id. Associations go through the v4 API afterwards: upsert inputs
take none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from ..client import BatchResponse
from ..exceptions import (
    ConflictError,
    HubSpotError,
    OutcomeUnknownError,
    RejectedError,
    RetryLaterError,
    UniquePropertyError,
)
from ..models import SyncAttempt, SyncBatch
from . import calls, matching, outcomes
from .batch import Batch, Record
from .failures import request_failed
from .plan import Input, Plan

Outcome = SyncAttempt.Outcome
NOT_MENTIONED = "HubSpot's answer did not mention this contact; sent again later"


class Linker(Protocol):
    """What the upsert stage needs of ``send.Sender``."""

    batch: Batch

    def reconcile(self, creates: list[Input]) -> list[Input]: ...

    def link(
        self, item: Input, hubspot_id: str, response: BatchResponse | None, record: Record
    ) -> None: ...

    def rejected(
        self,
        items: list[Input],
        error: HubSpotError,
        record: Record,
        send: Callable[[list[Input]], None],
    ) -> None: ...

    def fail_input(self, item: Input, message: str, category: str, record: Record) -> None: ...


def looked_up_first(sender: Linker, plan: Plan) -> list[Input]:
    """The upserts to send. Rows whose create got no answer in create mode (before the switch
    to upsert mode) may exist in HubSpot without a key: they are looked up by email first."""
    if not plan.reconcile or not plan.upserts:
        return plan.upserts
    lost = [i for i in plan.upserts if any(r.needs_reconcile for r in i.rows)]
    return [i for i in plan.upserts if i not in lost] + sender.reconcile(lost)


def send_upserts(sender: Linker, items: list[Input]) -> None:
    if not items:
        return
    batch = sender.batch

    def again(part: list[Input]) -> None:
        send_upserts(sender, part)

    endpoint, send = SyncBatch.Endpoint.UPSERT, batch.client.batch_upsert
    record, response, error = calls.post(batch, endpoint, items, send)
    if isinstance(error, ConflictError):
        _conflict(sender, items, error, record, again)
    elif isinstance(error, RejectedError):
        if _unusable_property(error, items):
            message = (
                f"HubSpot refused batch/upsert by {items[0].body['idProperty']}: "
                f"{error.message} (run manage.py crmsync_unique_property --create)"
            )
            raise UniquePropertyError(message, status=error.status, category=error.category)
        sender.rejected(items, error, record, again)
    elif isinstance(error, OutcomeUnknownError):
        # An upsert is idempotent: sending it again is safe (never held, never looked up).
        retry = RetryLaterError(error.message, status=None, category="OUTCOME_UNKNOWN")
        request_failed(batch, items, retry, record)
    elif error is not None:
        request_failed(batch, items, error, record)
    elif response is not None:
        unique_property = str(items[0].body["idProperty"])
        answer = matching.match_upserted(items, response.results, response.errors, unique_property)
        for item, result in answer.created:
            _settle(sender, item, result, response, record)
        for item, hubspot_id in answer.existing:
            sender.link(item, hubspot_id, response, record)
        for item, message, category in answer.rejected:
            sender.fail_input(item, message, category, record)
        for item in answer.unmentioned:  # written or not, the same upsert is safe again
            for row in item.rows:
                batch.retry(row, NOT_MENTIONED, "", record)


def _unusable_property(error: RejectedError, items: list[Input]) -> bool:
    """A 400 that names the unique property itself (it does not exist, or is not unique):
    no input is at fault. Its name is never among the properties sent."""
    name = str(items[0].body["idProperty"])
    return error.status == 400 and name in error.message


def _conflict(
    sender: Linker,
    items: list[Input],
    error: ConflictError,
    record: Record,
    again: Callable[[list[Input]], None],
) -> None:
    """A 409 for the whole batch: isolate the input (no lookup: the others are sent again,
    which is safe). Alone, an input whose email another contact holds is linked to it."""
    if len(items) > 1:
        matching.isolate(items, error, again)
    elif error.existing_id:
        sender.link(items[0], error.existing_id, None, record)
    else:
        sender.fail_input(items[0], error.message, error.category, record)


def _settle(
    sender: Linker,
    item: Input,
    result: dict[str, Any],
    response: BatchResponse,
    record: Record,
) -> None:
    """HubSpot holds the contact: ``new`` says whether this upsert created it (kept in
    history); the other rows with the same email are linked to it."""
    hubspot_id = str(result["id"])
    new = result.get("new") if isinstance(result.get("new"), bool) else None
    for n, row in enumerate(item.rows):
        # HubSpot holds the record now: should the associations sent after fail the row, it
        # keeps this id (a later try updates it; an upsert by its key would find it too).
        sender.batch.linked[row.id] = hubspot_id
        kind = Outcome.LINKED if n else (Outcome.CREATED if new else Outcome.UPDATED)
        decision = outcomes.synced(
            row, hubspot_id, kind, response.status, result, item.synced_after
        )
        if n == 0:
            decision = dataclasses.replace(decision, upsert_new=new)
        sender.batch.decide(row, decision, record)
    if item.links is not None:
        body = {"id": hubspot_id, "properties": item.properties}
        # Sent by id once this batch's requests are through (``associations``).
        sender.batch.awaiting_associations.append(
            Input(item.trace_id, [item.primary], body, item.email, item.synced_after, item.links)
        )
