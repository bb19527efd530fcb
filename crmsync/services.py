"""The sync service: every way of syncing (Celery task, beat, command, admin) calls these.

One batch goes through four steps:

1. **claim** due rows in one short transaction that commits before any HTTP call
   (``db.claim``): they are in flight under a fresh claim token with a lease deadline;
2. **send** them (``_BatchRun``): map rows to HubSpot inputs, reconcile rows whose earlier
   create may have happened, create new contacts and update known ones, isolating whatever
   HubSpot rejects;
3. **decide** each row's new state (synced, failed, retry later, held);
4. **write back** states and history in one transaction, fenced by the claim token
   (``db.write_back``): a worker that lost its lease changes nothing.

The database is the truth; Celery messages are only nudges to run ``sync_pending``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import socket
import threading
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from . import db, signals
from .client import BatchResponse, HubSpotClient, encode, read_by_email_body
from .conf import CrmSyncSettings, get_settings
from .exceptions import (
    ConfigurationError,
    ConflictError,
    ConnectionFailedError,
    HubSpotError,
    OutcomeUnknownError,
    PipelineHaltError,
    RateLimitedError,
    RejectedError,
    RetryLaterError,
)
from .mapping import (
    MappingError,
    build_associations,
    build_properties,
    error_message,
    error_trace_ids,
    existing_id,
)
from .models import Contact, PipelineState, SyncAttempt, SyncBatch, SyncStatus
from .ratelimit import (
    DailyLimitExhaustedError,
    RateLimiterError,
    get_rate_limiter,
)

logger = logging.getLogger(__name__)

Outcome = SyncAttempt.Outcome
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
#: Keep at least this much lease beyond the HTTP timeout before sending a request, for the
#: write-back that follows it.
LEASE_MARGIN_SECONDS = 5.0
#: HubSpot caps a batch at 100 inputs.
HUBSPOT_MAX_BATCH = 100


class LeaseLostError(Exception):
    """Another worker reclaimed this batch's rows; this worker must not send them."""


class PipelinePausedError(Exception):
    """Sending is paused (auth failure, daily limit, operator). Rows stay pending."""

    def __init__(self, state: PipelineState) -> None:
        super().__init__(state.message or state.get_reason_display())
        self.state = state


@dataclass
class RunSummary:
    """What one drain did, for the command's output, the task's log and the benchmark."""

    synced: int = 0
    failed: int = 0
    retrying: int = 0
    held: int = 0
    batches: int = 0
    requests: int = 0
    lost_lease: int = 0
    stopped_reason: str = ""

    def add(self, other: RunSummary) -> None:
        for name in ("synced", "failed", "retrying", "held", "batches", "requests", "lost_lease"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stopped_reason = self.stopped_reason or other.stopped_reason

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- the client, one per process -----------------------------------------------------------

_client_lock = threading.Lock()
_clients: dict[CrmSyncSettings, HubSpotClient] = {}


def get_client(conf: CrmSyncSettings | None = None) -> HubSpotClient:
    """The process's client for the current settings (one session, kept-alive connections)."""
    conf = conf or get_settings()
    # Keyed by the whole (frozen) settings: the client holds the limiter built from them,
    # so a change to any limiter setting (key prefix, daily cap, time zone) needs a new one.
    key = conf
    with _client_lock:
        client = _clients.get(key)
        if client is None:
            client = HubSpotClient(
                base_url=conf.API_BASE_URL,
                access_token=conf.ACCESS_TOKEN,
                timeout=conf.HTTP_TIMEOUT_SECONDS,
                api_version=conf.API_VERSION,
                limiter=get_rate_limiter(conf),
                pool_size=max(conf.CONCURRENCY, 1) + 2,
            )
            _clients[key] = client
        return client


def check_configuration(conf: CrmSyncSettings | None = None) -> None:
    """Raise ConfigurationError when crmsync cannot talk to HubSpot at all."""
    conf = conf or get_settings()
    get_client(conf)  # validates token and URL
    if not 1 <= conf.BATCH_SIZE <= HUBSPOT_MAX_BATCH:
        raise ConfigurationError(f"CRMSYNC_BATCH_SIZE must be 1..100, got {conf.BATCH_SIZE}")


def probe_connection(conf: CrmSyncSettings | None = None, timeout: float = 5.0) -> None:
    """Raise ConnectionFailedError when HubSpot's host cannot be reached at all (checked
    with a plain TCP connection, so it costs no API request)."""
    conf = conf or get_settings()
    parts = urlsplit(conf.API_BASE_URL)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionFailedError(
            f"cannot reach {parts.scheme}://{parts.netloc}: {exc.strerror or exc}"
        ) from None


def count_waiting() -> int:
    """Rows pending (due now or later) or in flight."""
    return Contact.objects.filter(
        sync_status__in=[SyncStatus.PENDING, SyncStatus.IN_FLIGHT]
    ).count()


# -- pipeline state ------------------------------------------------------------------------


def pipeline_state() -> PipelineState:
    state, _ = PipelineState.objects.get_or_create(pk=1)
    return state


def ensure_running(now: dt.datetime | None = None) -> None:
    """Raise PipelinePausedError while sending is paused; lift an expired daily pause."""
    now = now or timezone.now()
    state = PipelineState.objects.filter(pk=1).first()
    if state is None or not state.paused:
        return
    if state.paused_until is not None and state.paused_until <= now:
        PipelineState.objects.filter(pk=1, paused_until=state.paused_until).update(
            paused=False, reason="", message="", paused_at=None, paused_until=None
        )
        logger.info("crmsync: the daily-limit pause has ended; sending resumes")
        return
    raise PipelinePausedError(state)


def pause_pipeline(reason: str, message: str, until: dt.datetime | None = None) -> None:
    """Stop all sending on every worker until resumed (or ``until``). Rows stay pending."""
    PipelineState.objects.update_or_create(
        pk=1,
        defaults={
            "paused": True,
            "reason": reason,
            "message": message,
            "paused_at": timezone.now(),
            "paused_until": until,
        },
    )
    logger.error("crmsync: sending paused (%s): %s", reason, message)
    signals.pipeline_paused.send(sender=PipelineState, reason=reason, message=message)


def resume_pipeline() -> bool:
    """Resume sending; returns whether it was paused."""
    changed = PipelineState.objects.filter(pk=1, paused=True).update(
        paused=False, reason="", message="", paused_at=None, paused_until=None
    )
    if changed:
        logger.info("crmsync: sending resumed")
    return bool(changed)


# -- entry points --------------------------------------------------------------------------


def release_expired_leases(now: dt.datetime | None = None) -> int:
    """Put rows whose worker vanished back in the queue.

    HubSpot may hold those contacts already (the worker may have died after its request),
    so rows that were being created are flagged for reconciliation by email before they are
    created again. Updates are idempotent and need no such care.
    """
    now = now or timezone.now()
    count = Contact.objects.lease_expired(now).update(
        sync_status=SyncStatus.PENDING,
        needs_reconcile=Case(When(hubspot_id="", then=Value(True)), default=F("needs_reconcile")),
        claim_token=None,
        lease_expires_at=None,
        next_attempt_at=now,
        updated_at=now,
    )
    if count:
        logger.warning("crmsync: released %d rows whose lease expired", count)
    return count


def sync_pending(max_batches: int | None = None, concurrency: int | None = None) -> RunSummary:
    """Send every due pending contact (or ``max_batches`` batches) and write results back.

    Runs ``CONCURRENCY`` batch loops side by side in this process; any number of processes
    on any number of hosts may run this at once.
    """
    conf = get_settings()
    check_configuration(conf)
    summary = RunSummary()
    try:
        ensure_running()
    except PipelinePausedError as exc:
        summary.stopped_reason = f"paused: {exc}"
        return summary
    release_expired_leases()
    limit = max_batches if max_batches is not None else (conf.MAX_BATCHES_PER_RUN or None)
    threads = max(1, concurrency if concurrency is not None else conf.CONCURRENCY)
    budget = _Budget(limit)
    stop = threading.Event()
    if threads == 1:
        summary.add(_drain(conf, budget, stop))
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="crmsync") as pool:
            for part in pool.map(lambda _: _drain_in_thread(conf, budget, stop), range(threads)):
                summary.add(part)
    log = logger.info if summary.batches or summary.stopped_reason else logger.debug
    log("crmsync: run finished %s", summary.as_dict())
    return summary


class _Budget:
    """How many batches the run may still claim, shared by its threads."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def _drain_in_thread(conf: CrmSyncSettings, budget: _Budget, stop: threading.Event) -> RunSummary:
    try:
        return _drain(conf, budget, stop)
    finally:
        connection.close()  # each thread has its own connection; don't leak it


def _drain(conf: CrmSyncSettings, budget: _Budget, stop: threading.Event) -> RunSummary:
    summary = RunSummary()
    while not stop.is_set() and budget.take():
        try:
            part = sync_batch(conf)
        except PipelineHaltError as exc:
            stop.set()
            summary.stopped_reason = f"paused: {exc}"
            break
        except (DailyLimitExhaustedError, RateLimiterError) as exc:
            stop.set()
            summary.stopped_reason = str(exc)
            break
        if part is None:
            break
        summary.add(part)
        if part.stopped_reason:
            stop.set()
            break
    return summary


def sync_batch(conf: CrmSyncSettings | None = None) -> RunSummary | None:
    """Claim one batch, send it, write it back. None when nothing was due."""
    conf = conf or get_settings()
    token = uuid.uuid4()
    now = timezone.now()
    lease_until = now + dt.timedelta(seconds=conf.LEASE_SECONDS)
    size = min(max(conf.BATCH_SIZE, 1), HUBSPOT_MAX_BATCH)
    with transaction.atomic():
        rows = db.claim(token, size, now, lease_until)
    if not rows:
        return None
    run = _BatchRun(conf, get_client(conf), token, rows, lease_until)
    try:
        run.execute()
    except PipelineHaltError as exc:
        run.release_untouched(count_attempt=False)
        run.commit()
        reason = PipelineState.Reason.AUTH
        pause_pipeline(
            reason,
            f"{exc}. Fix the token or its scopes, then resume "
            "(manage.py crmsync_resume or the admin).",
        )
        raise
    except DailyLimitExhaustedError as exc:
        run.release_untouched(count_attempt=False)
        run.commit()
        pause_pipeline(PipelineState.Reason.DAILY_LIMIT, str(exc), until=exc.resume_at)
        raise
    except RateLimiterError as exc:
        # Redis (the shared limiter) is down: stop sending rather than exceed the limit.
        run.release_untouched(count_attempt=False, reason=str(exc))
        run.commit()
        logger.error("crmsync: rate limiter unavailable, not sending: %s", exc)
        raise
    except LeaseLostError:
        # Another worker holds the rows now; the fenced write-back below changes none of
        # them and counts them as lost, but the history of what was sent is kept.
        run.commit()
        return run.summary
    run.commit()
    return run.summary


# -- one batch -----------------------------------------------------------------------------


@dataclass
class _Input:
    """One HubSpot input and the rows it stands for (several when emails repeat)."""

    trace_id: str
    rows: list[db.ClaimedRow]
    body: dict[str, Any]
    email: str = ""

    @property
    def primary(self) -> db.ClaimedRow:
        return self.rows[0]


@dataclass
class _Record:
    """One history row to insert, with its attempts."""

    batch: SyncBatch
    attempts: list[db.AttemptRow] = field(default_factory=list)


class _BatchRun:
    def __init__(
        self,
        conf: CrmSyncSettings,
        client: HubSpotClient,
        token: uuid.UUID,
        rows: Sequence[db.ClaimedRow],
        lease_until: dt.datetime,
    ) -> None:
        self.conf = conf
        self.client = client
        self.token = token
        self.token_tag = token.hex[:12]
        self.rows = {r.id: r for r in rows}
        self.lease_until = lease_until
        self.results: dict[int, db.WriteBack] = {}
        self.records: list[_Record] = []
        self.loose_attempts: list[db.AttemptRow] = []
        self.summary = RunSummary(batches=1)
        #: rows linked to an existing HubSpot contact in this run, and the updates that
        #: send them their values
        self.linked: dict[int, str] = {}
        self.followups: list[_Input] = []
        self.retried: set[int] = set()

    # -- orchestration ----------------------------------------------------------------------

    def execute(self) -> None:
        creates: list[_Input] = []
        updates: list[_Input] = []
        by_email: dict[str, _Input] = {}
        to_reconcile: list[db.ClaimedRow] = []
        for row in self.rows.values():
            try:
                properties = build_properties(_row_fields(row), row.properties)
                associations = build_associations(row.associations)
            except MappingError as exc:
                self.fail(row, f"Cannot send: {exc}", "MAPPING_ERROR")
                continue
            if row.hubspot_id:
                # Associations go with a create only: batch/update takes properties.
                trace = self._trace(row)
                update = {
                    "id": row.hubspot_id,
                    "properties": properties,
                    "objectWriteTraceId": trace,
                }
                updates.append(_Input(trace, [row], update))
                continue
            if row.needs_reconcile:
                if not _candidates(row):
                    self.hold(row)
                    continue
                to_reconcile.append(row)
            email = row.email.strip().lower()
            if email and email in by_email:  # same email twice: send once, link both
                by_email[email].rows.append(row)
                continue
            body: dict[str, Any] = {
                "properties": properties,
                "objectWriteTraceId": self._trace(row),
            }
            if associations:
                body["associations"] = associations
            item = _Input(body["objectWriteTraceId"], [row], body, email)
            if email:
                by_email[email] = item
            creates.append(item)
        if to_reconcile and creates:
            creates = self.reconcile(creates)
        updates += self.followups
        self.followups = []
        if updates:
            self.send_updates(updates)
        if creates:
            self.send_creates(creates)
        if self.followups:
            # Contacts linked to what HubSpot already had get this row's values.
            self.send_updates(self.followups)

    def reconcile(self, creates: list[_Input]) -> list[_Input]:
        """An earlier create of some of these may have happened (its answer was lost, or its
        worker died), possibly under an email the row had then. Look every email each row
        was ever sent with up at once; link what HubSpot holds (and send it this row's
        current values); return the rest, to be created."""
        emails: list[str] = []
        for item in creates:
            emails.append(item.email)
            for row in item.rows:
                emails.extend(_candidates(row))
        found, record, error = self.read_existing(emails)
        if error is not None:
            self.batch_failed(creates, error, record)
            return []
        remaining = []
        for item in creates:
            hubspot_id = found.get(item.email) if item.email else None
            for row in item.rows:
                hubspot_id = hubspot_id or next(
                    (found[e] for e in _candidates(row) if e in found), None
                )
            if hubspot_id:
                self.link(item, hubspot_id, None, record)
            else:
                remaining.append(item)
        return remaining

    def link(
        self, item: _Input, hubspot_id: str, response: BatchResponse | None, record: _Record
    ) -> None:
        """HubSpot already holds this contact: link the rows to it, and queue an update with
        the primary row's values (the local database is the source of truth, and a record
        found after a lost answer may hold an older version)."""
        for row in item.rows:
            self.linked[row.id] = hubspot_id
            self.succeed(row, hubspot_id, Outcome.LINKED, response, None, record)
        row = item.primary
        body = {
            "id": hubspot_id,
            "properties": item.body["properties"],
            "objectWriteTraceId": item.trace_id,
        }
        self.followups.append(_Input(item.trace_id, [row], body, item.email))

    # -- requests ---------------------------------------------------------------------------

    def _before_send(self) -> None:
        """Called after the rate limiter let a request through, just before it is sent:
        never send with less lease left than the request may take."""
        needed = self.conf.HTTP_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS
        now = timezone.now()
        if (self.lease_until - now).total_seconds() >= needed:
            return
        self.lease_until = now + dt.timedelta(seconds=max(self.conf.LEASE_SECONDS, needed))
        if db.extend_lease(self.token, self.lease_until) == 0:
            raise LeaseLostError()

    def _call(
        self,
        endpoint: str,
        inputs: Sequence[_Input] | None,
        send: Callable[[bytes], BatchResponse],
        body: dict[str, Any],
    ) -> tuple[_Record, BatchResponse | None, HubSpotError | None]:
        """Send one request (``send`` gets the encoded body) and note it for history."""
        encoded = encode(body)
        record = _Record(
            SyncBatch(
                endpoint=endpoint,
                path=self._path(endpoint),
                input_count=len(inputs) if inputs is not None else len(body.get("inputs", [])),
                claim_token=self.token,
                worker=WORKER_NAME,
                request_body=encoded.decode(),
            )
        )
        self.records.append(record)
        self.summary.requests += 1
        started = timezone.now()
        try:
            response = send(encoded)
        except HubSpotError as exc:
            batch = record.batch
            batch.http_status = exc.status
            batch.error_category = exc.category
            batch.error_message = str(exc)[:4000]
            batch.correlation_id = exc.correlation_id
            batch.duration_ms = _ms_since(started)
            batch.error_count = batch.input_count
            return record, None, exc
        except (RateLimiterError, LeaseLostError):
            # Nothing was sent: no history row for it.
            self.records.pop()
            self.summary.requests -= 1
            raise
        batch = record.batch
        batch.http_status = response.http_status
        batch.hubspot_status = response.status
        batch.requested_at = response.requested_at
        batch.started_at = response.started_at
        batch.completed_at = response.completed_at
        batch.correlation_id = response.correlation_id
        batch.duration_ms = response.duration_ms
        batch.success_count = len(response.results)
        batch.error_count = len(response.errors)
        if response.errors:
            batch.error_category = str(response.errors[0].get("category", ""))
            batch.error_message = error_message(response.errors[0])
        return record, response, None

    def _path(self, endpoint: str) -> str:
        return f"{self.client.objects_path()}/batch/{endpoint}"

    def read_existing(
        self, emails: Iterable[str]
    ) -> tuple[dict[str, str], _Record, HubSpotError | None]:
        """Look contacts up by email (batch/read, not search: search lags writes), at most
        100 emails a request."""
        unique = sorted({e.strip().lower() for e in emails if e.strip()})
        found: dict[str, str] = {}
        chunks = [
            unique[i : i + HUBSPOT_MAX_BATCH] for i in range(0, len(unique), HUBSPOT_MAX_BATCH)
        ]
        for chunk in chunks or [[]]:
            record, response, error = self._call(
                SyncBatch.Endpoint.READ,
                None,
                lambda data, chunk=chunk: self.client.batch_read_by_email(  # type: ignore[misc]
                    chunk, before_send=self._before_send, encoded=data
                ),
                read_by_email_body(chunk),
            )
            if error is not None:
                return found, record, error
            for result in response.results if response else []:
                email = str((result.get("properties") or {}).get("email") or "").lower()
                if email and result.get("id"):
                    found[email] = str(result["id"])
        return found, record, None

    def _post(
        self, endpoint: str, items: list[_Input], post: Callable[..., BatchResponse]
    ) -> tuple[_Record, BatchResponse | None, HubSpotError | None]:
        body = {"inputs": [i.body for i in items]}
        return self._call(
            endpoint,
            items,
            lambda data: post(body["inputs"], before_send=self._before_send, encoded=data),
            body,
        )

    def _rejected(
        self,
        items: list[_Input],
        error: HubSpotError,
        record: _Record,
        send: Callable[[list[_Input]], None],
    ) -> None:
        """HubSpot refused the whole request: one input fails; several are isolated."""
        if len(items) == 1:
            message = error_message({"message": error.message})
            self.fail_input(items[0], message, error.category, record)
        else:
            self.isolate(items, error, send)

    def send_updates(self, items: list[_Input]) -> None:
        """batch/update (idempotent), isolating whatever HubSpot rejects as a whole."""
        record, response, error = self._post(
            SyncBatch.Endpoint.UPDATE, items, self.client.batch_update
        )
        if error is not None:
            if isinstance(error, RejectedError):
                self._rejected(items, error, record, self.send_updates)
                return
            if isinstance(error, OutcomeUnknownError):
                # batch/update is idempotent: sending it again is safe.
                error = RetryLaterError(error.message, status=None, category="OUTCOME_UNKNOWN")
            self.batch_failed(items, error, record)
            return
        assert response is not None
        by_id = {str(i.body["id"]): i for i in items}
        by_trace = {i.trace_id: i for i in items}
        for result in response.results:
            item = by_id.pop(str(result.get("id", "")), None)
            if item is not None:
                by_trace.pop(item.trace_id, None)
                for row in item.rows:
                    self.succeed(row, str(result["id"]), Outcome.UPDATED, response, result, record)
        for err in response.errors:
            context = err.get("context") or {}
            named = [by_id.get(str(i)) for i in context.get("ids") or []]
            named += [by_trace.get(t) for t in error_trace_ids(err)]
            for item in named:
                if item is None or item.trace_id not in by_trace:
                    continue
                by_trace.pop(item.trace_id)
                by_id.pop(str(item.body["id"]), None)
                for row in item.rows:
                    self.fail(row, error_message(err), str(err.get("category", "")), record)
        for item in by_trace.values():  # neither a result nor an error: send again later
            for row in item.rows:
                self.retry(row, "HubSpot's answer did not mention this contact", "", record)

    def send_creates(self, items: list[_Input]) -> None:
        """batch/create, isolating whatever HubSpot rejects as a whole."""
        record, response, error = self._post(
            SyncBatch.Endpoint.CREATE, items, self.client.batch_create
        )
        if error is None:
            assert response is not None
            self.match_created(items, response, record)
            return
        if isinstance(error, ConflictError):
            self.resolve_conflict(items, error, record)
            return
        if isinstance(error, RejectedError):
            self._rejected(items, error, record, self.send_creates)
            return
        self.batch_failed(items, error, record)

    def isolate(
        self, items: list[_Input], error: HubSpotError, send: Callable[[list[_Input]], None]
    ) -> None:
        """HubSpot rejected the whole batch for some inputs' sake. Send the inputs whose
        values its message quotes on their own, and the rest together; with no such clue,
        split in halves. Either way the good rows go through in this run and only the bad
        ones fail: about log2(batch) extra requests for one bad row, often two."""
        suspects = [i for i in items if _quoted_in(i, error)]
        if not suspects or len(suspects) == len(items):
            middle = len(items) // 2
            suspects, rest = items[:middle], items[middle:]
        else:
            rest = [i for i in items if i not in suspects]
        send(rest)
        send(suspects)

    def resolve_conflict(self, items: list[_Input], error: ConflictError, record: _Record) -> None:
        """A 409 for the whole batch names one existing contact, not which input it was.
        Look every email up once, link those HubSpot has, and create the rest."""
        emails = [i.email for i in items if i.email]
        found: dict[str, str] = {}
        read_record = record
        if emails:
            found, read_record, read_error = self.read_existing(emails)
            if read_error is not None:
                self.batch_failed(items, read_error, read_record)
                return
        remaining = []
        for item in items:
            hubspot_id = found.get(item.email) if item.email else None
            if hubspot_id:
                self.link(item, hubspot_id, None, read_record)
            else:
                remaining.append(item)
        if not remaining:
            return
        if len(remaining) == len(items):
            # Nothing found by email (a secondary email, say): isolate like any rejection.
            if len(items) == 1:
                self.link_or_fail(items[0], error, record)
            else:
                self.isolate(items, error, self.send_creates)
            return
        self.send_creates(remaining)

    def link_or_fail(self, item: _Input, error: ConflictError, record: _Record) -> None:
        hubspot_id = error.existing_id
        if hubspot_id:
            self.link(item, hubspot_id, None, record)
        else:
            self.fail_input(item, error.message, error.category, record)

    def match_created(self, items: list[_Input], response: BatchResponse, record: _Record) -> None:
        """Match results to inputs by trace id, else email, else properties: never by
        position, since HubSpot answers in any order."""
        by_trace = {i.trace_id: i for i in items}
        by_email = {i.email: i for i in items if i.email}
        unmatched_results = []
        for result in response.results:
            props = result.get("properties") or {}
            item = by_trace.get(str(result.get("objectWriteTraceId", "")))
            if item is None:
                item = by_email.get(str(props.get("email") or "").lower())
            if item is None or item.trace_id not in by_trace:
                unmatched_results.append(result)
                continue
            self._take(by_trace, by_email, item)
            for n, row in enumerate(item.rows):
                outcome = Outcome.CREATED if n == 0 else Outcome.LINKED
                self.succeed(row, str(result["id"]), outcome, response, result, record)
        for err in response.errors:
            for trace in error_trace_ids(err):
                item = by_trace.get(trace)
                if item is None:
                    continue
                self._take(by_trace, by_email, item)
                message = error_message(err)
                hubspot_id = existing_id(message)
                if hubspot_id:
                    self.link(item, hubspot_id, response, record)
                else:
                    self.fail_input(item, message, str(err.get("category", "")), record)
        # Inputs without an email and no echoed trace id: match by the properties we sent.
        for result in unmatched_results:
            props = result.get("properties") or {}
            for item in list(by_trace.values()):
                sent = item.body["properties"]
                if all(props.get(k) == v for k, v in sent.items()):
                    self._take(by_trace, by_email, item)
                    for row in item.rows:
                        self.succeed(
                            row, str(result["id"]), Outcome.CREATED, response, result, record
                        )
                    break
        for item in list(by_trace.values()):
            # HubSpot said nothing about this input: it may or may not exist now.
            self.unknown(item, "HubSpot's answer did not mention this contact", record)

    @staticmethod
    def _take(by_trace: dict[str, _Input], by_email: dict[str, _Input], item: _Input) -> None:
        by_trace.pop(item.trace_id, None)
        if item.email:
            by_email.pop(item.email, None)

    def batch_failed(self, items: Sequence[_Input], error: HubSpotError, record: _Record) -> None:
        if isinstance(error, PipelineHaltError):
            raise error
        if isinstance(error, RateLimitedError) and error.is_daily:
            resume_at = next_account_midnight(self.conf)
            get_rate_limiter(self.conf).exhaust_daily(resume_at)
            raise DailyLimitExhaustedError(resume_at)
        if isinstance(error, OutcomeUnknownError):
            for item in items:
                self.unknown(item, str(error), record)
            return
        for item in items:
            for row in item.rows:
                if isinstance(error, RateLimitedError):
                    # The rolling window is a wait, not a failure: no attempt is counted.
                    wait = error.retry_after or self.conf.RATE_LIMIT_INTERVAL_SECONDS / 2
                    self.retry(row, str(error), error.category, record, count=False, wait=wait)
                else:
                    self.retry(row, str(error), error.category, record, wait=error.retry_after)

    # -- outcomes ---------------------------------------------------------------------------

    def _trace(self, row: db.ClaimedRow) -> str:
        # Unique per input: row, version and this claim (so a retry never reuses one).
        return f"crmsync-{row.id}-v{row.version}-{self.token_tag}"

    def _attempt(
        self,
        row: db.ClaimedRow,
        outcome: str,
        record: _Record | None,
        *,
        hubspot_id: str = "",
        error_category: str = "",
        error_message: str = "",
    ) -> None:
        attempt = db.AttemptRow(
            contact_id=row.id,
            email=row.email[:254],
            outcome=outcome,
            hubspot_id=hubspot_id,
            error_category=error_category[:64],
            error_message=error_message,
            trace_id=self._trace(row),
            version=row.version,
        )
        (record.attempts if record else self.loose_attempts).append(attempt)

    def succeed(
        self,
        row: db.ClaimedRow,
        hubspot_id: str,
        outcome: str,
        response: BatchResponse | None,
        result: dict[str, Any] | None = None,
        record: _Record | None = None,
    ) -> None:
        result = result or {}
        self.results[row.id] = db.WriteBack(
            id=row.id,
            status=SyncStatus.SYNCED,
            hubspot_id=hubspot_id,
            hubspot_status=response.status if response else "",
            hubspot_created_at=_parse_time(result.get("createdAt")),
            hubspot_updated_at=_parse_time(result.get("updatedAt")),
        )
        self._attempt(row, outcome, record, hubspot_id=hubspot_id)

    def fail(
        self, row: db.ClaimedRow, message: str, category: str, record: _Record | None = None
    ) -> None:
        self.results[row.id] = db.WriteBack(
            id=row.id,
            hubspot_id=self.linked.get(row.id, ""),
            status=SyncStatus.FAILED,
            error=message,
            error_category=category,
            attempts=row.sync_attempts + 1,
        )
        self._attempt(row, Outcome.FAILED, record, error_category=category, error_message=message)

    def fail_input(self, item: _Input, message: str, category: str, record: _Record) -> None:
        self.fail(item.primary, message, category, record)
        for row in item.rows[1:]:
            # A duplicate of a rejected row has data of its own: send it again by itself.
            self.retry(
                row,
                "sent again: another row with this email was rejected",
                "",
                record,
                count=False,
                wait=0,
            )

    def retry(
        self,
        row: db.ClaimedRow,
        message: str,
        category: str,
        record: _Record | None,
        *,
        count: bool = True,
        wait: float | None = None,
    ) -> None:
        attempts = row.sync_attempts + (1 if count else 0)
        if count and attempts >= self.conf.MAX_ATTEMPTS:
            self.fail(
                row, f"Gave up after {attempts} attempts. Last error: {message}", category, record
            )
            return
        delay = backoff(attempts, self.conf) if count else 0.0
        delay = max(delay, wait or 0.0)
        reconcile = row.needs_reconcile and row.id not in self.linked
        self.results[row.id] = db.WriteBack(
            id=row.id,
            hubspot_id=self.linked.get(row.id, ""),
            status=SyncStatus.PENDING,
            error=message,
            error_category=category,
            attempts=attempts,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            needs_reconcile=reconcile,
            reconcile_emails=row.reconcile_emails if reconcile else "",
        )
        self._attempt(row, Outcome.RETRY, record, error_category=category, error_message=message)
        self.retried.add(row.id)

    def unknown(self, item: _Input, message: str, record: _Record) -> None:
        """The create may have happened. Rows with an email are looked up before the next
        try; rows without one are held for an operator (never created again blindly)."""
        for row in item.rows:
            if not item.email:
                self.hold(row, message, record)
                continue
            attempts = row.sync_attempts + 1
            self.results[row.id] = db.WriteBack(
                id=row.id,
                status=SyncStatus.PENDING,
                error=f"{message}; will look it up by email before creating again",
                error_category="OUTCOME_UNKNOWN",
                attempts=attempts,
                next_attempt_at=timezone.now() + dt.timedelta(seconds=backoff(1, self.conf)),
                needs_reconcile=True,
                reconcile_emails=row.reconcile_emails,  # holds the email just sent
            )
            self.retried.add(row.id)
            self._attempt(
                row,
                Outcome.UNKNOWN,
                record,
                error_category="OUTCOME_UNKNOWN",
                error_message=message,
            )

    def hold(self, row: db.ClaimedRow, message: str = "", record: _Record | None = None) -> None:
        text = (
            "HubSpot may already hold this contact (an earlier create got no answer) and it "
            "has no email to look it up by. Check HubSpot, then either set its HubSpot id or "
            "release it to be created again (admin actions)."
        )
        if message:
            text = f"{text} Last error: {message}"
        self.results[row.id] = db.WriteBack(
            id=row.id,
            status=SyncStatus.HELD,
            error=text,
            error_category="OUTCOME_UNKNOWN",
            attempts=row.sync_attempts,
            needs_reconcile=True,
            reconcile_emails=row.reconcile_emails,
        )
        self._attempt(
            row, Outcome.HELD, record, error_category="OUTCOME_UNKNOWN", error_message=text
        )

    def release_untouched(self, *, count_attempt: bool, reason: str = "") -> None:
        """Rows not decided yet go back to pending, due now, attempts unchanged."""
        for row in self.rows.values():
            if row.id not in self.results:
                reconcile = row.needs_reconcile and row.id not in self.linked
                self.results[row.id] = db.WriteBack(
                    id=row.id,
                    hubspot_id=self.linked.get(row.id, ""),
                    status=SyncStatus.PENDING,
                    error=reason,
                    attempts=row.sync_attempts + (1 if count_attempt else 0),
                    next_attempt_at=timezone.now(),
                    needs_reconcile=reconcile,
                    reconcile_emails=row.reconcile_emails if reconcile else "",
                )

    # -- write-back -------------------------------------------------------------------------

    def commit(self) -> None:
        self.release_untouched(count_attempt=False)
        now = timezone.now()
        with transaction.atomic():
            db.relax_commit_durability()
            written = db.write_back(self.token, list(self.results.values()), now)
            batches = SyncBatch.objects.bulk_create([r.batch for r in self.records])
            attempts = list(self.loose_attempts)
            for record, saved in zip(self.records, batches, strict=True):
                for attempt in record.attempts:
                    attempt.batch_id = saved.pk
                attempts.extend(record.attempts)
            db.insert_attempts(attempts, now)
        if written < len(self.results):
            lost = len(self.results) - written
            self.summary.lost_lease += lost
            logger.warning(
                "crmsync: %d rows were reclaimed by another worker; their results were not written",
                lost,
            )
        by_status: dict[str, list[int]] = {}
        for result in self.results.values():
            by_status.setdefault(result.status, []).append(result.id)
        synced = by_status.get(SyncStatus.SYNCED, [])
        failed = by_status.get(SyncStatus.FAILED, [])
        self.summary.synced += len(synced)
        self.summary.failed += len(failed)
        self.summary.held += len(by_status.get(SyncStatus.HELD, []))
        # Rows untouched by a pause are pending too, but they are not retries.
        self.summary.retrying += sum(
            1 for i in self.retried if self.results[i].status == SyncStatus.PENDING
        )
        if synced:
            signals.contact_synced.send(sender=Contact, contact_ids=synced)
        if failed:
            signals.contact_sync_failed.send(sender=Contact, contact_ids=failed)


def next_account_midnight(conf: CrmSyncSettings) -> dt.datetime:
    """When HubSpot resets the daily count: midnight in the account's time zone."""
    zone = zoneinfo.ZoneInfo(conf.ACCOUNT_TIME_ZONE)
    tomorrow = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=zone)


def backoff(attempt: int, conf: CrmSyncSettings) -> float:
    """Exponential backoff with jitter: half fixed, half random, capped."""
    ceiling = min(conf.RETRY_MAX_SECONDS, conf.RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _quoted_in(item: _Input, error: HubSpotError) -> bool:
    """Does HubSpot's error quote one of this input's property values (its email, say)?"""
    text = error.message
    if isinstance(error.body, dict):
        text += json.dumps(error.body.get("errors") or [], ensure_ascii=False)
    return any(len(v) >= 3 and v in text for v in item.body["properties"].values())


def _candidates(row: db.ClaimedRow) -> list[str]:
    """Every email this row may have been created with: the ones recorded when earlier
    attempts were claimed (its email at each claim), deduplicated."""
    return list(dict.fromkeys(e for e in row.reconcile_emails.split() if e))


def _row_fields(row: db.ClaimedRow) -> dict[str, Any]:
    return {
        "email": row.email.strip(),
        "firstname": row.firstname,
        "lastname": row.lastname,
        "phone": row.phone,
        "company": row.company,
        "lifecyclestage": row.lifecyclestage,
    }


def _parse_time(value: Any) -> dt.datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _ms_since(started: dt.datetime) -> int:
    return int((timezone.now() - started).total_seconds() * 1000)


def queue_contacts(contact_ids: Iterable[int]) -> int:
    """Mark contacts pending and due now (admin "Queue for sync")."""
    return Contact.objects.filter(pk__in=list(contact_ids)).queue_for_sync()


def release_held(contact_ids: Iterable[int]) -> int:
    """An operator checked HubSpot: these held contacts are not there; create them again."""
    return Contact.objects.filter(pk__in=list(contact_ids), sync_status=SyncStatus.HELD).update(
        sync_status=SyncStatus.PENDING,
        needs_reconcile=False,
        reconcile_emails="",
        next_attempt_at=timezone.now(),
        sync_error="",
        sync_error_category="",
    )
