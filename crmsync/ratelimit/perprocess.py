"""Caches of per-process objects that a forked child never inherits.

A Celery prefork child starts as a copy of its parent. Left alone it would reuse the
parent's HTTP sessions and Redis pools (two processes reading answers off one socket), share
nothing of its in-process limiter window but believe it does, and could inherit a lock that
another thread of the parent held at the moment of the fork. So two guards, each enough on
its own for the case it covers:

- every entry is stamped with the pid that made it, and a lookup from any other pid throws
  away every entry that process did not make (a fork that skipped the Python at-fork
  hooks, such as one made by C code, is caught here);
- an ``os.register_at_fork`` hook empties every cache in the child and gives it new locks.

Entries are dropped, never closed: the parent still uses the connections they hold.

This sits in the limiter package, the lowest layer that caches anything, so that
``crmsync.ratelimit.get_rate_limiter`` can use it without importing ``crmsync.runtime``
(which is built on top of this package and gathers every cache behind one API).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    pid: int


class PerProcessCache(Generic[K, V]):
    """``key -> object`` for this process only; thread-safe."""

    def __init__(self, what: str) -> None:
        #: What it holds, for logs ("HubSpot clients").
        self.what = what
        self._entries: dict[K, _Entry[V]] = {}
        self._lock = threading.Lock()
        _caches.add(self)

    def get(self, key: K, build: Callable[[], V]) -> V:
        """The object for ``key`` made by this process; ``build()`` makes it the first time."""
        pid = os.getpid()
        entry = self._entries.get(key)
        if entry is not None and entry.pid == pid:
            return entry.value
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.pid != pid:
                self._drop_foreign(pid)
                entry = self._entries[key] = _Entry(build(), pid)
            return entry.value

    def _drop_foreign(self, pid: int) -> None:
        foreign = [key for key, entry in self._entries.items() if entry.pid != pid]
        if foreign:
            logger.debug("dropping %d %s made by another process", len(foreign), self.what)
        for key in foreign:
            del self._entries[key]

    def pid_of(self, value: object) -> int | None:
        """The pid that made ``value``, if this cache holds it."""
        for entry in list(self._entries.values()):
            if entry.value is value:
                return entry.pid
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def _after_fork_in_child(self) -> None:
        # The child has one thread: no lock is needed, and the old one may be held forever.
        self._entries = {}
        self._lock = threading.Lock()


_caches: weakref.WeakSet[PerProcessCache[Any, Any]] = weakref.WeakSet()


def clear_all() -> None:
    """Empty every cache in this process (tests; objects in use elsewhere stay usable)."""
    for cache in list(_caches):
        cache.clear()


def pid_of(value: object) -> int | None:
    """The pid that made ``value``, if any cache holds it."""
    for cache in list(_caches):
        pid = cache.pid_of(value)
        if pid is not None:
            return pid
    return None


def _after_fork_in_child() -> None:
    for cache in list(_caches):
        cache._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
