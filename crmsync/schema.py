"""HubSpot's contact property schema, fetched at the configured API version and cached per
process for ``CRMSYNC["SCHEMA_TTL_SECONDS"]``.

:func:`current` is what the sync asks before planning a batch. A fetch that fails (5xx, a
timeout, 401, the rate limiter) never blocks syncing: the cached schema is used, however old,
or None (the batch is sent without preflight), and the log says so once until a fetch works
again. A malformed answer is an error in the log, not a crash: its unreadable entries are
skipped. :func:`invalidate` makes the next :func:`current` fetch again (HubSpot answered
``PROPERTY_DOESNT_EXIST`` for a property the schema has).

Per process, and stamped with the pid: a forked child fetches its own. Many workers on many
hosts each fetch once per TTL, one cheap GET (two at a date version: the validation rules).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass

from .client import HubSpotClient
from .conf import get_settings
from .exceptions import HubSpotError
from .propertydefs import Schema, build_schema
from .ratelimit import RateLimiterError

logger = logging.getLogger(__name__)

#: After a failed fetch with nothing cached, wait this long (at most the TTL) before the
#: next try, so a HubSpot that is down does not get one extra request per batch.
RETRY_FAILED_SECONDS = 60.0
#: The schema's reads wait at most this long (for the rate limiter, then for HubSpot): a
#: batch is not held up long by a HubSpot that does not answer.
FETCH_TIMEOUT_SECONDS = 10.0

Key = tuple[int, str, str]


@dataclass
class _Entry:
    schema: Schema | None
    fetched_at: float  # time.monotonic(); -inf: stale
    failed_at: float = -math.inf


_lock = threading.Lock()
_entries: dict[Key, _Entry] = {}
_fetching: set[Key] = set()
#: keys whose failure was logged (once, until a fetch works again)
_warned: set[Key] = set()


def _after_fork_in_child() -> None:
    """A forked child (a Celery prefork worker) starts with a fresh lock and nothing cached,
    as ``ratelimit.perprocess`` caches do: a lock another thread of the parent held at the
    fork would otherwise never be released in the child."""
    global _lock
    _lock = threading.Lock()
    _entries.clear()
    _fetching.clear()
    _warned.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _key(client: HubSpotClient) -> Key:
    return (os.getpid(), client.base_url, client.api_version)


def current(client: HubSpotClient, ttl: float | None = None) -> Schema | None:
    """The schema for this client's portal and API version: cached while younger than
    ``ttl`` (default ``SCHEMA_TTL_SECONDS``), else fetched. None when it could never be
    read (send without preflight)."""
    ttl = get_settings().SCHEMA_TTL_SECONDS if ttl is None else ttl
    key, now = _key(client), time.monotonic()
    with _lock:
        entry = _entries.get(key)
        fresh = entry is not None and now - entry.fetched_at < ttl
        waiting = entry is not None and now - entry.failed_at < min(RETRY_FAILED_SECONDS, ttl)
        if fresh or waiting or key in _fetching:
            # Another thread of this process is fetching: use what there is meanwhile.
            return entry.schema if entry is not None else None
        _fetching.add(key)
    try:
        return _fetch(client, key, entry)
    finally:
        with _lock:
            _fetching.discard(key)


def refresh(client: HubSpotClient, older_than: float = 0.0) -> Schema | None:
    """Fetch again now if the cached schema is older than ``older_than`` seconds (a
    property the schema lacks may have been created since); else the cached one."""
    return current(client, ttl=older_than)


def age(client: HubSpotClient) -> float | None:
    """Seconds since the cached schema was fetched, or None."""
    entry = _entries.get(_key(client))
    if entry is None or entry.schema is None or entry.fetched_at == -math.inf:
        return None
    return time.monotonic() - entry.fetched_at


def invalidate(client: HubSpotClient) -> None:
    """The next :func:`current` fetches again (the cached schema is still used if it fails)."""
    with _lock:
        entry = _entries.get(_key(client))
        if entry is not None:
            entry.fetched_at = -math.inf
            entry.failed_at = -math.inf


def clear() -> None:
    """Forget every cached schema (tests)."""
    with _lock:
        _entries.clear()
        _warned.clear()


def _fetch(client: HubSpotClient, key: Key, entry: _Entry | None) -> Schema | None:
    try:
        properties = client.get_properties(timeout=FETCH_TIMEOUT_SECONDS)
    except (HubSpotError, RateLimiterError) as exc:
        return _failed(key, entry, exc)
    try:
        rules = client.get_validation_rules(timeout=FETCH_TIMEOUT_SECONDS)
    except (HubSpotError, RateLimiterError) as exc:
        # The properties are known: check them, without the portal's rules.
        logger.warning("crmsync: cannot read the portal's validation rules: %s", exc)
        rules = None
    schema, malformed = build_schema(properties, rules)
    if malformed:
        logger.error(
            "crmsync: HubSpot's property schema had %d unreadable entries, skipped: %s",
            len(malformed),
            "; ".join(malformed[:5]),
        )
    if not schema.properties:
        return _failed(key, entry, ValueError("HubSpot's answer listed no property"))
    with _lock:
        _entries[key] = _Entry(schema, time.monotonic())
        if key in _warned:
            _warned.discard(key)
            logger.warning("crmsync: HubSpot's property schema was read again; preflight is on")
    return schema


def _failed(key: Key, entry: _Entry | None, exc: Exception) -> Schema | None:
    cached = entry.schema if entry is not None else None
    with _lock:
        _entries[key] = _Entry(
            cached, entry.fetched_at if entry else -math.inf, failed_at=time.monotonic()
        )
        first = key not in _warned
        _warned.add(key)
    if first:
        if cached is not None:
            logger.warning(
                "crmsync: cannot read HubSpot's property schema (%s); using the cached one", exc
            )
        else:
            logger.warning(
                "crmsync: cannot read HubSpot's property schema (%s); sending without "
                "preflight checks until it can be read",
                exc,
            )
    return cached
