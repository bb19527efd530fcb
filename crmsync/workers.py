"""Heartbeats from Celery's own signals: the host project needs no code for them.

Connected when Django loads crmsync (``CrmSyncConfig.ready``), so any worker or beat that
runs a Django project with crmsync installed reports itself:

- a worker's main process writes its heartbeat every ``HEARTBEAT_SECONDS`` from a thread
  started on ``worker_ready`` (a thread: a slow or unreachable database never blocks the
  worker's event loop, and an error is logged, never raised); a clean shutdown deletes it;
- every run of ``crmsync.sync_pending_contacts`` (``task_prerun``) refreshes its worker's
  row too (in a prefork pool child, the row of the worker that forked it: one row per
  worker, not per child);
- beat marks the ticks it publishes of crmsync's tasks (a message header naming beat), and
  the worker that runs such a tick writes beat's heartbeat: beat counts as alive when its
  ticks arrive, not merely when its process runs.

And the polite stop (``crmsync.shutdown``): Celery's warm shutdown (SIGTERM, a first Ctrl+C)
asks the drain running in the worker to stop after its request in flight (a prefork pool's
processes see the same flag, in memory shared across the fork). A second shutdown signal
stops a drain at once: in the worker's own process (solo, threads pools) it ends the
process; a prefork pool's processes get a SIGTERM, which ends them (Celery's own handler)
and whatever they run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any

from celery import signals
from django.db import connection

from . import heartbeats, shutdown
from .models import WorkerHeartbeat
from .runtime import worker_name

logger = logging.getLogger(__name__)

#: crmsync's task names: beat marks its ticks of these only.
TASK_PREFIX = "crmsync."


#: The task whose runs prove a worker (and, for beat's ticks, beat) alive.
DRAIN_TASK = "crmsync.sync_pending_contacts"
JOIN_SECONDS = 3.0


class _State:
    beat_name = ""
    in_pool_child = False
    consumer: Any = None
    stop: threading.Event | None = None
    thread: threading.Thread | None = None


_state = _State()


def beat_tick_header(task_name: str) -> dict[str, str]:
    """The header beat adds to a tick of ``task_name`` (none outside beat)."""
    if _state.beat_name and task_name.startswith(TASK_PREFIX):
        return {heartbeats.BEAT_HEADER: _state.beat_name}
    return {}


def note_task_run(request: Any) -> None:
    """A run of a crmsync task: its worker is alive, and beat too if beat sent it. Never
    raises (the database may be briefly down; the task itself decides what that means)."""
    if request is None or getattr(request, "is_eager", False) or request.called_directly:
        return  # run in-process (no broker): no worker to speak of
    beat = getattr(request, heartbeats.BEAT_HEADER, None) or (
        getattr(request, "headers", None) or {}
    ).get(heartbeats.BEAT_HEADER)
    try:
        name = heartbeats.parent_name() if _state.in_pool_child else worker_name()
        heartbeats.record(WorkerHeartbeat.Kind.WORKER, name)
        if isinstance(beat, str) and beat:
            heartbeats.record(WorkerHeartbeat.Kind.BEAT, beat[:200])
    except Exception as exc:
        logger.warning("crmsync: could not write the heartbeat (%s: %s)", type(exc).__name__, exc)


def _beat_forever(stop: threading.Event) -> None:
    beats = 0
    failing = False
    while True:
        try:
            heartbeats.record()
            if beats % 20 == 0:
                heartbeats.forget_dead()
            if failing:
                logger.info("crmsync: heartbeats written again")
            failing = False
        except Exception as exc:  # the database is down: say so once, keep trying
            if not failing:
                logger.warning(
                    "crmsync: could not write the worker's heartbeat (%s: %s); retrying",
                    type(exc).__name__,
                    exc,
                )
            failing = True
            connection.close()  # a broken connection is not reused by the next beat
        beats += 1
        if stop.wait(heartbeats.interval_seconds()):
            break
    try:
        heartbeats.forget()
    except Exception:  # shutting down with the database gone: the row ages out
        logger.debug("crmsync: could not delete the worker's heartbeat", exc_info=True)
    finally:
        connection.close()


def start_heartbeat() -> threading.Event:
    """Start this process's heartbeat thread (once); returns the event that stops it."""
    if _state.stop is None:
        _state.stop = threading.Event()
        _state.thread = threading.Thread(
            target=_beat_forever, args=(_state.stop,), name="crmsync-heartbeat", daemon=True
        )
        _state.thread.start()
    return _state.stop


def stop_heartbeat() -> None:
    """Stop the thread and wait briefly for it to delete this worker's row."""
    if _state.stop is not None:
        _state.stop.set()
        if _state.thread is not None:
            _state.thread.join(JOIN_SECONDS)
        _state.stop = _state.thread = None


# -- Celery's signals ----------------------------------------------------------------------


def pool_pids(consumer: Any) -> list[int]:
    """The pids of a prefork pool's processes (none for solo and threads pools)."""
    processes = getattr(getattr(getattr(consumer, "pool", None), "_pool", None), "_pool", None)
    return [p.pid for p in processes or [] if getattr(p, "pid", None)]


def worker_stopping(why: str) -> None:
    """Celery's shutdown began (in the worker's main process, from its signal handler): the
    drains of this process, and those of its pool processes, stop after the request they
    have in flight; a second time, a drain still running stops at once."""
    if shutdown.stop_requested():
        for pid in pool_pids(_state.consumer):
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGTERM)
    shutdown.request_stop(why)


def stop_at_once_before_soft_shutdown(controller: Any) -> None:
    """Celery's cold shutdown (SIGQUIT, a second Ctrl+C) first sleeps the whole
    ``worker_soft_shutdown_timeout``, in the main process's signal handler, before it tells
    anyone (``worker_shutting_down`` comes after): after a polite stop, the signal meant
    "now" would wait 40 s. Once a stop was asked, it ends the drains at once instead (the
    rows in flight keep their lease, as after a second SIGTERM) and skips the sleep; the
    first signal being the cold one, the drains are asked to stop after their request in
    flight, and the soft shutdown waits for it as Celery documents."""
    original = getattr(controller, "wait_for_soft_shutdown", None)
    if original is None or getattr(original, "crmsync", False):
        return

    def wait_for_soft_shutdown() -> None:
        if shutdown.stop_requested():
            worker_stopping("Celery's cold shutdown after a stop")
            return
        shutdown.request_stop("Celery's cold shutdown")
        original()

    wait_for_soft_shutdown.crmsync = True  # type: ignore[attr-defined]
    controller.wait_for_soft_shutdown = wait_for_soft_shutdown


@signals.worker_init.connect(dispatch_uid="crmsync_worker_init")
def _worker_init(sender: Any = None, **_: Any) -> None:
    stop_at_once_before_soft_shutdown(sender)


@signals.worker_ready.connect(dispatch_uid="crmsync_worker_ready")
def _worker_ready(sender: Any = None, **_: Any) -> None:
    _state.consumer = sender
    start_heartbeat()


@signals.worker_shutting_down.connect(dispatch_uid="crmsync_worker_shutting_down")
def _worker_shutting_down(sig: Any = "", how: Any = "", **_: Any) -> None:
    worker_stopping(f"Celery's {str(how).lower()} shutdown, {sig}")


@signals.worker_shutdown.connect(dispatch_uid="crmsync_worker_shutdown")
def _worker_shutdown(**_: Any) -> None:
    stop_heartbeat()


@signals.worker_process_init.connect(dispatch_uid="crmsync_worker_process_init")
def _pool_child(**_: Any) -> None:
    _state.in_pool_child = True
    _state.stop = _state.thread = None  # the parent's thread did not survive the fork
    _state.consumer = None


@signals.task_prerun.connect(dispatch_uid="crmsync_task_prerun")
def _task_prerun(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) == DRAIN_TASK:
        note_task_run(getattr(sender, "request", None))


@signals.beat_init.connect(dispatch_uid="crmsync_beat_init")
def _beat_init(**_: Any) -> None:
    _state.beat_name = worker_name()


@signals.before_task_publish.connect(dispatch_uid="crmsync_before_task_publish")
def _before_publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
    if isinstance(headers, dict):
        headers.update(beat_tick_header(str(sender or "")))
