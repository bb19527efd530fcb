"""The entry points of a drain: claim a batch, plan it, send it, write it back; repeat.

``sync_batch`` is one claimed batch from claim to write-back. ``sync_pending`` runs
``CONCURRENCY`` loops of it side by side until nothing is due (one, on this connection, inside
a transaction); any number of processes on any number of hosts may run it at once, since rows
are claimed in the database.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now

from .. import db, schema, shutdown
from ..conf import CrmSyncSettings, ensure_valid, get_settings, validated_settings
from ..exceptions import ConnectionFailedError, EndpointNotFoundError, PipelineHaltError
from ..models import Contact, PipelineState, SyncStatus
from ..ratelimit import DailyLimitExhaustedError, RateLimiterError, RateLimiterUnavailableError
from ..runtime import get_client, get_rate_limiter
from . import send, writeback
from .batch import Batch, RunSummary
from .calls import LeaseLostError
from .due import next_due
from .pipeline import PipelinePausedError, ensure_running, pause_pipeline
from .prepare import plan_claimed

logger = logging.getLogger(__name__)

#: Added to a wait for a due row: wake just after it falls due, not just before.
DUE_SLACK_SECONDS = 0.01
#: How often ``drain`` looks again while rows are only in flight at other workers.
DRAIN_POLL_SECONDS = 0.2

#: Told of each batch a drain wrote back (its RunSummary).
Progress = Callable[[RunSummary], None]


def check_configuration(conf: CrmSyncSettings | None = None) -> CrmSyncSettings:
    """The settings, checked (``conf.validate``); ConfigurationError when crmsync cannot
    talk to HubSpot with them."""
    return ensure_valid(conf) if conf is not None else validated_settings()


def probe_connection(
    conf: CrmSyncSettings | None = None, timeout: float = 5.0, token: bool = False
) -> None:
    """Raise ConnectionFailedError when HubSpot's host cannot be reached at all (checked
    with a plain TCP connection, so it costs no API request). ``token=True`` then also
    spends one cheap read (``HubSpotClient.probe``): HubSpot's refusal of the token raises
    (AuthenticationError, MissingScopesError), as may the rate limiter."""
    conf = conf or validated_settings()
    parts = urlsplit(conf.API_BASE_URL)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionFailedError(
            f"cannot reach {parts.scheme}://{parts.netloc}: {exc.strerror or exc}"
        ) from None
    if token:
        get_client(conf).probe(timeout=timeout)


def count_waiting() -> int:
    """Rows pending (due now or later) or in flight."""
    return Contact.objects.filter(
        sync_status__in=[SyncStatus.PENDING, SyncStatus.IN_FLIGHT]
    ).count()


def release_expired_leases() -> int:
    """Put rows whose worker vanished back in the queue: their lease ended by the database's
    clock (a worker's own clock may be minutes off, and would steal live leases).

    HubSpot may hold those contacts already (the worker may have died after its request),
    so rows that were being created are flagged for reconciliation by email before they are
    created again. Updates are idempotent and need no such care, nor do upserts (upsert
    mode: the same upsert sent again updates what the first one made).
    """
    lost_create: Any = Case(When(hubspot_id="", then=Value(True)), default=F("needs_reconcile"))
    if get_settings().WRITE_MODE == "upsert":
        lost_create = F("needs_reconcile")
    count = Contact.objects.lease_expired().update(
        sync_status=SyncStatus.PENDING,
        needs_reconcile=lost_create,
        claim_token=None,
        lease_expires_at=None,
        next_attempt_at=Now(),
        updated_at=Now(),
    )
    if count:
        logger.warning("crmsync: released %d rows whose lease expired", count)
    return count


def sync_pending(
    max_batches: int | None = None,
    concurrency: int | None = None,
    progress: Progress | None = None,
    horizon: float = 0.0,
) -> RunSummary:
    """Send every due pending contact (or ``max_batches`` batches) and write results back.

    ``progress``, if given, is called with each batch's summary once it is written back,
    from the thread that sent it (``crmsync_sync --progress`` draws its bar with it).
    ``horizon`` > 0: when nothing is due, a loop sleeps until the earliest pending row that
    falls due within that many seconds (the database's clock says when) instead of
    returning; 0 returns as soon as nothing is due now."""
    conf = validated_settings()
    summary = RunSummary()
    try:
        ensure_running()
    except PipelinePausedError as exc:
        summary.stopped_reason = f"paused: {exc}"
        return summary
    release_expired_leases()
    limit = max_batches if max_batches is not None else (conf.MAX_BATCHES_PER_RUN or None)
    threads = max(1, concurrency if concurrency is not None else conf.CONCURRENCY)
    if threads > 1 and _in_transaction():
        # Threads drain on connections of their own, which cannot see the rows this
        # transaction has not committed (a host's test, a caller's atomic block): they would
        # find nothing due. Drain here instead, on this connection, in one loop.
        logger.debug(
            "crmsync: draining in one loop, not %d threads: inside a transaction, which other "
            "connections cannot see into",
            threads,
        )
        threads = 1
    budget = _Budget(limit)
    stop = threading.Event()
    loop = _Loop(budget, stop, progress, max(0.0, horizon))
    with shutdown.draining():  # a second stop request now ends the process at once
        if threads == 1:
            summary.add(_drain(conf, loop))
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="crmsync") as pool:
                for part in pool.map(lambda _: _drain_in_thread(conf, loop), range(threads)):
                    summary.add(part)
    log = logger.info if summary.batches or summary.stopped_reason else logger.debug
    log("crmsync: run finished %s", summary.as_dict())
    return summary


def drain(
    timeout: float,
    horizon: float,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """``sync_pending`` again and again until no row is pending or in flight (anywhere), or
    ``timeout`` seconds have passed (then ``stopped_reason`` says so): ``crmsync_sync
    --drain``. Between runs it sleeps until the earliest pending row falls due by the
    database's clock, or, while rows are only in flight at other workers, polls for them
    (their write-back, or their lease's expiry, puts them back)."""
    deadline = time.monotonic() + timeout
    summary = RunSummary()
    while True:
        try:
            summary.add(sync_pending(concurrency=concurrency, progress=progress, horizon=horizon))
            if summary.stopped_reason or count_waiting() == 0:
                return summary
            due = next_due()
        except (OperationalError, InterfaceError) as exc:
            # This thread's connection died (a failover, pg_terminate_backend): the runs'
            # own write-backs are retried; the drain goes on with a fresh connection.
            if connection.in_atomic_block:
                raise
            logger.warning("crmsync: database connection lost (%s); reconnecting", exc)
            connection.close()
            due = None
        left = deadline - time.monotonic()
        if left <= 0:
            summary.stopped_reason = (
                f"--drain timed out after {timeout:g} s with {count_waiting()} rows waiting"
            )
            return summary
        wait = DRAIN_POLL_SECONDS if due is None else max(due.wait, DUE_SLACK_SECONDS)
        time.sleep(min(wait + DUE_SLACK_SECONDS, DRAIN_POLL_SECONDS, left))


def _in_transaction() -> bool:
    return connection.in_atomic_block or not connection.get_autocommit()


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

    def give_back(self) -> None:
        with self.lock:
            if self.left is not None:
                self.left += 1


@dataclass(frozen=True)
class _Loop:
    """What a run's loops share: the batch budget, the stop flag, the progress callback and
    how far ahead a loop with nothing due waits for rows (``horizon``, seconds)."""

    budget: _Budget
    stop: threading.Event
    progress: Progress | None
    horizon: float

    def wait_for_due(self) -> bool:
        """Sleep until the earliest pending row due within the horizon; False (at once)
        when there is none, or when the run was told to stop meanwhile."""
        if self.horizon <= 0:
            return False
        due = next_due(self.horizon)
        if due is None:
            return False
        # At least a moment: a row due now that this claim did not get is locked by another
        # worker's claim; it is in flight there, or back in an instant.
        self.stop.wait(min(max(due.wait + DUE_SLACK_SECONDS, DUE_SLACK_SECONDS), self.horizon))
        return not self.stop.is_set()


def _drain_in_thread(conf: CrmSyncSettings, loop: _Loop) -> RunSummary:
    try:
        return _drain(conf, loop)
    finally:
        connection.close()  # each thread has its own connection; don't leak it


def _drain(conf: CrmSyncSettings, loop: _Loop) -> RunSummary:
    summary = RunSummary()
    stop, progress = loop.stop, loop.progress
    while not stop.is_set() and loop.budget.take():
        if shutdown.stop_requested():  # asked to stop: claim nothing more
            stop.set()
            summary.stopped_reason = shutdown.stopped_reason()
            break
        try:
            part = sync_batch(conf)
        except PipelineHaltError as exc:
            stop.set()
            summary.stopped_reason = f"paused: {exc}"
            break
        except RateLimiterUnavailableError as exc:
            if _limiter_came_back(conf, exc):
                continue  # the batch's rows went back to the queue: claim afresh
            stop.set()
            summary.stopped_reason = str(exc)
            break
        except (DailyLimitExhaustedError, RateLimiterError) as exc:
            stop.set()
            summary.stopped_reason = str(exc)
            break
        except EndpointNotFoundError as exc:
            # The caller reports it: the command exits 1, the task logs it once.
            stop.set()
            summary.stopped_reason = summary.config_error = exc.message  # no correlation id
            break
        if part is None:
            loop.budget.give_back()  # nothing was claimed
            if loop.wait_for_due():
                continue
            break
        summary.add(part)
        if progress is not None:
            progress(part)
        if part.stopped_reason:
            stop.set()
            break
    return summary


def _limiter_came_back(conf: CrmSyncSettings, exc: RateLimiterUnavailableError) -> bool:
    """Wait (up to REDIS_OUTAGE_WAIT_SECONDS) for the rate limiter's Redis to answer again.
    Nothing is sent meanwhile; if it came back empty, its first acquire makes every worker
    wait one window (``ratelimit.lua``), so the restart is no burst of 429s."""
    wait = conf.REDIS_OUTAGE_WAIT_SECONDS
    if wait <= 0:
        return False
    logger.warning("crmsync: not sending; waiting up to %.0f s for it to come back", wait)
    back = get_rate_limiter(conf).wait_until_available(wait)
    if back:
        logger.warning("crmsync: the rate limiter answers again; sending resumes")
    return back


def sync_batch(conf: CrmSyncSettings | None = None) -> RunSummary | None:
    """Claim one batch, send it, write it back. None when nothing was due."""
    conf = conf or validated_settings()
    token = uuid.uuid4()
    size = conf.BATCH_SIZE  # 1..hubspot.MAX_BATCH_INPUTS, as validated
    # The lease ends LEASE_SECONDS after the claim by the database's clock; counted from
    # before the claim on this process's monotonic clock, this worker's end comes first.
    started = time.monotonic()
    with transaction.atomic():
        rows = db.claim(token, size, conf.LEASE_SECONDS)
    if not rows:
        return None
    batch = Batch(conf, get_client(conf), token, rows, started + conf.LEASE_SECONDS)
    sender = send.Sender(batch)
    try:
        sender.send(plan_claimed(rows, batch.token_tag, batch.client, conf))
    except shutdown.StopRequestedError:
        # SIGTERM, Celery's warm shutdown: the request in flight was answered and is written
        # back below; what was not sent goes back to the queue, due now, for another worker.
        send.release_unsent(sender, reason="not sent: the worker was stopping")
        batch.summary.stopped_reason = shutdown.stopped_reason()
    except PipelineHaltError as exc:
        writeback.write_back(batch)
        pause_pipeline(
            PipelineState.Reason.AUTH,
            f"{exc}. Fix the token or its scopes, then resume "
            "(manage.py crmsync_resume or the admin).",
        )
        raise
    except EndpointNotFoundError:
        writeback.write_back(batch)  # every row back to the queue, no attempt counted
        raise
    except DailyLimitExhaustedError as exc:
        writeback.write_back(batch)
        pause_pipeline(PipelineState.Reason.DAILY_LIMIT, str(exc), until=exc.resume_at)
        raise
    except RateLimiterError as exc:
        # Redis (the shared limiter) is down: stop sending rather than exceed the limit; what
        # was not sent goes back to the queue, as for a stop (a linked row's update too).
        send.release_unsent(sender, reason=str(exc))
        writeback.write_back(batch)
        logger.error("crmsync: rate limiter unavailable, not sending: %s", exc)
        raise
    except ConnectionFailedError as exc:
        # HubSpot cannot be reached from here (connection refused, or no connection within
        # the timeout): what this batch has not sent goes back to the queue, due now for a
        # worker that can reach it, no attempt counted; the run stops (the command exits 5).
        send.release_unsent(sender, reason=f"not sent: HubSpot unreachable ({exc.message})")
        batch.summary.unreachable = f"HubSpot unreachable: {exc.message}"
        batch.summary.stopped_reason = batch.summary.unreachable
    except LeaseLostError:
        # Another worker holds the rows now (the fenced write-back changes none of them and
        # counts them as lost, but the history of what was sent is kept), or the lease could
        # not be confirmed (the database unreachable): then what was not sent goes back.
        send.release_unsent(sender, reason="not sent: the lease could not be confirmed")
    writeback.write_back(batch)
    _forget_schema_if_stale(batch)
    return batch.summary


def _forget_schema_if_stale(batch: Batch) -> None:
    """HubSpot said a property the schema has does not exist: read it again next batch."""
    if any("PROPERTY_DOESNT_EXIST" in d.error_message for d in batch.decisions.values()):
        schema.invalidate(batch.client)
