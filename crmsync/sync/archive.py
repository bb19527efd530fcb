"""Stage 2c, archiving: contacts whose host row was deleted (or stopped qualifying) are
archived with ``batch/archive``. HubSpot answers 204 even for an id it does not know, so an
answer settles every input; a row that was never created (no HubSpot id) needs nothing,
unless an unanswered create may have made it: then it is looked up by email first."""

from __future__ import annotations

from ..exceptions import RejectedError
from ..models import SyncBatch
from . import calls, outcomes
from .batch import Batch
from .failures import request_failed
from .plan import Input, Plan, candidates


def send_archives(batch: Batch, plan: Plan) -> None:
    items = list(plan.archives)
    if plan.archive_lookups:
        items += _look_up(batch, plan.archive_lookups)
    if not items:
        return
    endpoint, send = SyncBatch.Endpoint.ARCHIVE, batch.client.batch_archive
    record, _, error = calls.post(batch, endpoint, items, send)
    if isinstance(error, RejectedError):
        for item in items:  # the request as a whole, not one contact: HubSpot's message
            batch.fail(item.primary, error.message, error.category, record)
    elif error is not None:
        request_failed(batch, items, error, record)
    else:
        for item in items:
            row = item.primary
            batch.decide(row, outcomes.archived(row, str(item.body["id"])), record)


def _look_up(batch: Batch, rows: list) -> list[Input]:
    """The archive inputs for rows found by any email they were claimed with; the rest are
    archived already (HubSpot never had them)."""
    emails = [e for row in rows for e in candidates(row)]
    found, record, error = calls.read_by_email(batch, emails)
    items = [Input(f"archive-{row.id}", [row], {}, row.email.strip().lower()) for row in rows]
    if error is not None:
        request_failed(batch, items, error, record)
        return []
    out = []
    for item in items:
        row = item.primary
        hubspot_id = next((found[e] for e in candidates(row) if e in found), None)
        if hubspot_id:
            out.append(Input(item.trace_id, [row], {"id": hubspot_id}))
        else:
            batch.decide(row, outcomes.archived(row), record)
    return out
