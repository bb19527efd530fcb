"""Stage 2a, calling HubSpot: one request, noted for history, its failure returned as a value.

Every request of a batch goes through ``call``: it serializes the body once (the same text
is sent and kept as history, with the values of ``HISTORY_MASKED_PROPERTIES`` masked), makes
sure the batch's lease outlives the request, and turns HubSpot's answer or error into a
``Record`` for the write-back.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from .. import db
from ..client import BatchResponse, batch_read, encode, read_body, read_by_email_body
from ..exceptions import ConnectionFailedError, HubSpotError
from ..hubspot import MAX_BATCH_INPUTS
from ..mapping import error_message
from ..models import SyncBatch
from ..ratelimit import RateLimiterError
from ..reconnect import once_more_if_disconnected
from ..redaction import history_text
from ..runtime import worker_name
from ..shutdown import StopRequestedError, raise_if_requested
from .batch import Batch, Record
from .matching import MERGED_IDS, found_ids
from .plan import Input

#: Keep at least this much lease beyond the HTTP timeout before sending a request, for the
#: write-back that follows it.
LEASE_MARGIN_SECONDS = 5.0

Outcome = tuple[Record, BatchResponse | None, HubSpotError | None]


class LeaseLostError(Exception):
    """Another worker reclaimed this batch's rows; this worker must not send them."""


def ensure_lease(batch: Batch) -> None:
    """Called after the rate limiter let a request through, just before it is sent: never
    send with less lease left than the request may take. The lease left is counted on the
    monotonic clock, never the wall clock; the new deadline is the database's.

    Also where a polite stop takes effect (``crmsync.shutdown``): the request before it
    has been answered, this one is not sent (StopRequestedError)."""
    raise_if_requested()
    needed = batch.conf.HTTP_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS
    started = time.monotonic()
    if batch.lease_deadline - started >= needed:
        return
    seconds = max(batch.conf.LEASE_SECONDS, needed)
    if _extend_lease(batch, seconds) == 0:
        raise LeaseLostError()
    batch.lease_deadline = started + seconds


def _extend_lease(batch: Batch, seconds: float) -> int:
    """``db.extend_lease`` on this connection, or once more on a fresh one when it died (a
    failover, ``pg_terminate_backend``). A lease that cannot be confirmed is a lease lost:
    nothing more is sent, and the write-back (itself retried) settles the rows."""
    try:
        return once_more_if_disconnected(lambda: db.extend_lease(batch.token, seconds))
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise  # a caller's transaction: a fresh connection cannot finish it
        connection.close()
        return 0


def call(
    batch: Batch,
    endpoint: str,
    input_count: int,
    send: Callable[[bytes], BatchResponse],
    body: dict[str, Any],
    path: str = "",
) -> Outcome:
    """Send one request (``send`` gets the encoded body) and note it for history."""
    encoded = encode(body)
    record = Record(
        SyncBatch(
            endpoint=endpoint,
            path=path or f"{batch.client.objects_path()}/batch/{endpoint}",
            input_count=input_count,
            claim_token=batch.token,
            worker=worker_name(),
            request_body=history_text(body, encoded, batch.conf.HISTORY_MASKED_PROPERTIES),
        )
    )
    started = timezone.now()
    try:
        response = send(encoded)
    except (RateLimiterError, LeaseLostError, StopRequestedError):
        raise  # nothing was sent: no history row for it
    except HubSpotError as exc:
        _note_error(record.batch, exc, started)
        _keep(batch, record)
        if isinstance(exc, ConnectionFailedError):
            # No connection was made, so nothing was sent: HubSpot is unreachable from this
            # host (a partition, HubSpot down). Not the rows' fault: the batch stops and
            # puts back what it has not sent (``run.sync_batch``), no attempt counted.
            raise
        return record, None, exc
    _note_answer(record.batch, response)
    _keep(batch, record)
    return record, response, None


def _keep(batch: Batch, record: Record) -> None:
    batch.records.append(record)
    batch.summary.requests += 1


def _note_error(row: SyncBatch, exc: HubSpotError, started: dt.datetime) -> None:
    row.http_status = exc.status
    row.error_category = exc.category
    row.error_message = str(exc)[:4000]
    row.correlation_id = exc.correlation_id
    row.duration_ms = int((timezone.now() - started).total_seconds() * 1000)
    row.error_count = row.input_count


def _note_answer(row: SyncBatch, response: BatchResponse) -> None:
    row.http_status = response.http_status
    row.hubspot_status = response.status
    row.requested_at = response.requested_at
    row.started_at = response.started_at
    row.completed_at = response.completed_at
    row.correlation_id = response.correlation_id
    row.duration_ms = response.duration_ms
    row.success_count = len(response.results)
    row.error_count = len(response.errors)
    row.daily_limit = response.daily_limit
    row.daily_remaining = response.daily_remaining
    if response.errors:
        row.error_category = str(response.errors[0].get("category", ""))
        row.error_message = error_message(response.errors[0])


def post(
    batch: Batch, endpoint: str, items: Sequence[Input], send: Callable[..., BatchResponse]
) -> Outcome:
    """batch/create or batch/update with these inputs."""
    inputs = [i.body for i in items]
    return call(
        batch,
        endpoint,
        len(items),
        lambda data: send(inputs, before_send=lambda: ensure_lease(batch), encoded=data),
        {"inputs": inputs},
    )


def read_by_email(
    batch: Batch,
    emails: Iterable[str],
    properties: Sequence[str] = ("email",),
    held: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, str], Record, HubSpotError | None]:
    """Look contacts up by email (batch/read, not search: search lags writes), at most 100
    emails a request. Returns what was found, the last request's record and its error;
    ``held``, if given, gets each found contact's ``properties`` (HubSpot id -> values)."""
    unique = sorted({e.strip().lower() for e in emails if e.strip()})
    size = MAX_BATCH_INPUTS
    wanted = sorted({"email", *properties})
    found: dict[str, str] = {}
    for chunk in [unique[i : i + size] for i in range(0, len(unique), size)] or [[]]:
        record, response, error = call(
            batch,
            SyncBatch.Endpoint.READ,
            len(chunk),
            lambda data, chunk=chunk: batch.client.batch_read_by_email(  # type: ignore[misc]
                chunk, wanted, before_send=lambda: ensure_lease(batch), encoded=data
            ),
            read_by_email_body(chunk, wanted),
        )
        if error is not None:
            return found, record, error
        results = response.results if response else []
        found.update(found_ids(results))
        if held is not None:
            for result in results:
                if result.get("id"):
                    held[str(result["id"])] = dict(result.get("properties") or {})
    return found, record, None


def read_contacts(
    batch: Batch, keys: Sequence[str], id_property: str = "", also: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], Record, HubSpotError | None]:
    """batch/read by record id (``id_property`` empty), by email, or by a unique property,
    asking for the email and ``hs_merged_object_ids`` (a merged-away id may read as its
    survivor), at most 100 keys a request. Returns the records found, the last request's
    record and its error. A missing key is no error: it is just not in the results.
    ``also``: more properties to read."""
    unique = list(dict.fromkeys(k for k in keys if k))
    properties = ["email", MERGED_IDS] + ([id_property] if id_property not in ("", "email") else [])
    properties += [name for name in also if name not in properties]
    size = MAX_BATCH_INPUTS
    found: list[dict[str, Any]] = []
    for chunk in [unique[i : i + size] for i in range(0, len(unique), size)] or [[]]:
        body = read_body(chunk, id_property, properties)
        record, response, error = call(
            batch,
            SyncBatch.Endpoint.READ,
            len(chunk),
            lambda data, body=body: batch_read(  # type: ignore[misc]
                batch.client, body, before_send=lambda: ensure_lease(batch), encoded=data
            ),
            body,
        )
        if error is not None:
            return found, record, error
        found.extend(response.results if response else [])
    return found, record, None
