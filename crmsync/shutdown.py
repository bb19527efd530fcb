"""A polite stop: this process was asked to stop (SIGTERM, Ctrl+C, Celery's warm shutdown).

A drain that sees the request lets the HTTP request in flight finish, writes its answer back,
puts the rows it has not sent back in the queue and claims nothing more (``sync/run.py``,
``sync/calls.ensure_lease``). A second request while a drain is still running stops the
process at once: its rows stay in flight until their lease expires, and
``release_expired_leases`` puts them back (creates looked up by email first), as after a
SIGKILL.

The flag is this process's, shared with the processes it forks later (a byte of memory
mapped before the fork): a Celery worker's main process gets the signal, and the drains run
in its prefork pool's processes. Every other state of a drain lives in the database.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

logger = logging.getLogger(__name__)

#: Exit status of a process stopped by a second signal mid-drain (the shell's 128 + N is
#: for a process the signal killed; this one chose to stop).
EXIT_STOPPED_AT_ONCE = 1


class StopRequestedError(Exception):
    """Raised before a request is sent once a stop was asked: nothing of it went out."""


#: 1 once a stop was asked of this process or the one that forked it (anonymous shared
#: memory survives a fork; made at import, before a Celery worker starts its pool).
_shared = mmap.mmap(-1, 1)


class _State:
    def __init__(self) -> None:
        self.requested = threading.Event()
        self.reason = ""
        self.lock = threading.Lock()
        self.drains = 0  # drains running in this process now
        self.pid = os.getpid()


_state = _State()


def _current() -> _State:
    global _state
    if _state.pid != os.getpid():  # a forked child (a Celery pool process) starts afresh
        _state = _State()
    return _state


def stop_requested() -> bool:
    return _current().requested.is_set() or _shared[0] == 1


def reason() -> str:
    return _current().reason or ("the worker is shutting down" if _shared[0] == 1 else "")


def stopped_reason() -> str:
    """What a drain stopped by a request says (its RunSummary's ``stopped_reason``)."""
    return f"shutting down ({reason() or 'asked to stop'}); rows not sent went back to the queue"


def raise_if_requested() -> None:
    if stop_requested():
        raise StopRequestedError(reason())


def request_stop(why: str = "asked to stop") -> None:
    """The first call asks every drain of this process to stop after its request in flight;
    a later one, while a drain is still running, ends the process at once."""
    state = _current()
    if state.requested.is_set():
        if state.drains:
            # Not logging: this may run in a signal handler, with the logging lock held.
            os.write(2, b"crmsync: stopping at once; rows in flight wait for their lease\n")
            os._exit(EXIT_STOPPED_AT_ONCE)
        return
    state.reason = why
    state.requested.set()
    _shared[0] = 1


def clear() -> None:
    """Forget a stop request (tests; a process that goes on after one)."""
    state = _current()
    state.requested.clear()
    state.reason = ""
    _shared[0] = 0


@contextlib.contextmanager
def draining() -> Iterator[None]:
    """Marks a drain running in this process (a second stop request ends it at once)."""
    state = _current()
    with state.lock:
        state.drains += 1
    try:
        yield
    finally:
        with state.lock:
            state.drains -= 1


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    request_stop(f"{signal.Signals(signum).name} received")


@contextlib.contextmanager
def signals_stop_drain(*signums: int) -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM and SIGINT (or ``signums``) ask for
    a polite stop; the handlers in force before come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python lets only the main thread set handlers: leave them as they are
        return
    signums = signums or (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, _on_signal) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
