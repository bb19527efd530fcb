"""Celery tasks: thin shells over crmsync.services. Their arguments never hold a token."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import current_app, shared_task
from django.core.exceptions import ImproperlyConfigured

from . import services, shutdown
from .settings_rules import redact_url

logger = logging.getLogger(__name__)

#: Configuration problems this process has logged already: beat runs the task every few
#: seconds, and one ERROR per problem is enough to act on (a fixed setting clears it).
_reported_problems: set[str] = set()
_reported_lock = threading.Lock()

#: After a failed nudge, saves skip the broker this long: the beat schedule drains the rows
#: anyway, and during an outage every save would otherwise wait for a connection attempt.
BROKER_BACKOFF_SECONDS = 10.0
#: Longest a save may wait to reach the broker.
BROKER_CONNECT_TIMEOUT_SECONDS = 1.0
#: A scheduled nudge comes this much after its row falls due, not just before.
DUE_SLACK_SECONDS = 0.05
_broker_down_until = 0.0


@shared_task(name="crmsync.sync_pending_contacts", ignore_result=True, acks_late=True)
def sync_pending(max_batches: int | None = None) -> dict[str, Any]:
    """Drain due pending contacts. Safe to run twice at once, or redelivered: rows are
    claimed in the database, so no row is ever sent by two runs.

    With a bad setting it logs the problem once per process and returns: raising would only
    print the same traceback on every beat tick, and no retry can fix a setting."""
    try:
        summary = services.sync_pending(max_batches=max_batches)
    except ImproperlyConfigured as exc:  # crmsync's ConfigurationError is one too
        message = " ".join(str(exc).split())
        _report_once(message)
        return services.RunSummary(stopped_reason=f"configuration: {message}").as_dict()
    if summary.stopped_reason and shutdown.stop_requested():
        # This worker is shutting down and put back the rows it had not sent: nudge another
        # worker now rather than leave them to the next beat tick.
        enqueue_sync()
    if summary.unreachable:  # this host cannot reach HubSpot: another worker may
        logger.warning("crmsync: %s; the rows not sent are back in the queue", summary.unreachable)
    if summary.config_error:  # HubSpot has no such endpoint: the settings are wrong too
        _report_once(" ".join(summary.config_error.split()))
    else:
        with _reported_lock:
            _reported_problems.clear()
    if not summary.stopped_reason:
        nudge_when_due()
    return summary.as_dict()


#: The furthest ahead the task schedules its own nudge: beat (every few seconds) is sooner
#: beyond it, and a long countdown on Redis would meet the broker's visibility timeout.
NUDGE_MAX_SECONDS = 60.0


def nudge_when_due() -> bool:
    """Schedule one ``sync_pending`` for the moment the earliest pending row falls due (a
    retry in half a second must not wait for beat), instead of sleeping in a worker slot.
    One nudge per moment across every worker (``services.nudge_due``); True if it was ours.
    Like the save path's nudge, a broker that is down only logs."""
    conf = current_app.conf
    if conf.task_always_eager or not (conf.broker_write_url or conf.broker_url):
        return False
    try:
        due = services.nudge_due(NUDGE_MAX_SECONDS)
        if due is None:
            return False
        _publish(sync_pending, countdown=due.wait + DUE_SLACK_SECONDS)
    except Exception as exc:  # beat drains the rows anyway
        logger.warning(
            "crmsync: could not schedule the next nudge (%s: %s)", type(exc).__name__, exc
        )
        return False
    return True


def _report_once(message: str) -> None:
    with _reported_lock:
        if message in _reported_problems:
            return
        _reported_problems.add(message)
    logger.error("crmsync: not sending, the settings are wrong: %s", message)


@shared_task(name="crmsync.release_expired_leases", ignore_result=True)
def release_expired_leases() -> int:
    return services.release_expired_leases()


@shared_task(name="crmsync.run_bulk_job", ignore_result=True, acks_late=True)
def run_bulk_job(job_id: int) -> None:
    """Do an operator's recorded bulk action (``crmsync.models.BulkJob``), in chunks. Its
    only argument is the job's id; redelivered, it resumes after the last finished chunk."""
    job = services.run_bulk_job(job_id)
    if job is not None and job.action == "sync_now":
        enqueue_sync()


def start_bulk_job(job_id: int) -> bool:
    """Enqueue ``run_bulk_job``; True when a worker will do it. With no broker (the SQLite
    demo, CELERY_TASK_ALWAYS_EAGER), or a broker that cannot be reached, it runs here and
    now, in chunks, and returns False."""
    conf = current_app.conf
    if not conf.task_always_eager and (conf.broker_write_url or conf.broker_url):
        try:
            _publish(run_bulk_job, job_id)
            return True
        except Exception as exc:
            logger.warning("crmsync: could not enqueue bulk job %s (%s); doing it now", job_id, exc)
    run_bulk_job(job_id)
    return False


@shared_task(name="crmsync.prune_history", ignore_result=True)
def prune_history() -> dict[str, Any]:
    """Daily, from beat: delete history older than CRMSYNC["HISTORY_RETENTION_DAYS"]."""
    result = services.prune_history()
    logger.info("crmsync: pruned history %s", result.as_dict())
    return result.as_dict()


def _publish(task: Any = None, *args: Any, countdown: float | None = None) -> None:
    # A connection of its own: the default pool's would retry for broker_connection_timeout
    # (4 s) and more while the save waits. retry=False: no publish retries either.
    with current_app.connection_for_write(
        connect_timeout=BROKER_CONNECT_TIMEOUT_SECONDS,
        # A broker that accepts and then says nothing must not hold the nudge thread for
        # ever (Redis reads honour socket_timeout; AMQP has its own connect timeout).
        transport_options={
            "max_retries": 0,
            "socket_timeout": BROKER_CONNECT_TIMEOUT_SECONDS,
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_SECONDS,
        },
    ) as connection:
        options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}
        (task or sync_pending).apply_async(
            args, producer=connection.Producer(), retry=False, **options
        )


def enqueue_sync() -> bool:
    """Nudge a worker to drain; returns whether a task was enqueued. With no broker
    configured (tasks run eagerly) the nudge is skipped: a save or an admin request must
    never make an HTTP call itself. A broker that is down costs a save at most about
    BROKER_CONNECT_TIMEOUT_SECONDS, then none for BROKER_BACKOFF_SECONDS."""
    global _broker_down_until
    conf = current_app.conf
    if conf.task_always_eager or not (conf.broker_write_url or conf.broker_url):
        logger.debug("crmsync: no Celery broker; run manage.py crmsync_sync to send")
        return False
    if time.monotonic() < _broker_down_until:
        logger.debug("crmsync: the Celery broker was unreachable moments ago; not trying")
        return False
    try:
        _publish()
    except Exception as exc:  # the broker is down: the beat schedule will drain the row later
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        url = redact_url(str(conf.broker_write_url or conf.broker_url))
        logger.warning(
            "crmsync: the Celery broker at %s is unreachable (%s: %s); the beat schedule "
            "will pick the row up",
            url,
            type(exc).__name__,
            exc,
        )
        return False
    return True


class _Nudger:
    """Publishes the save path's nudges from a thread of its own, so a save (often a web
    request) never waits for the broker: ``wake()`` only sets an event. Saves that come while
    a nudge is being published share the next one (a worker drains every due row, not the one
    saved). One thread per process, made again in a forked child (its pid is checked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._pid = 0

    def wake(self) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._event = threading.Event()
                    thread = threading.Thread(
                        target=self._run, args=(self._event,), name="crmsync-nudge", daemon=True
                    )
                    thread.start()
                    self._pid = os.getpid()
        self._event.set()

    @staticmethod
    def _run(event: threading.Event) -> None:
        while True:
            event.wait()
            event.clear()
            try:
                enqueue_sync()
            except Exception:  # never let the thread die: the next save would wait forever
                logger.exception("crmsync: the nudge failed; the beat schedule drains the rows")


_nudger = _Nudger()


def nudge_soon() -> None:
    """The save path's nudge: returns at once; ``enqueue_sync`` runs on crmsync's nudge
    thread (beat drains the rows anyway if the broker is down or missing)."""
    _nudger.wake()
