"""The objects each process keeps for itself: HubSpot clients, rate limiters, Redis clients.

Everything here is per process and never crosses a fork. A Celery prefork child that
asks for a client gets one it built itself, with its own HTTP session, its own limiter and
its own Redis pool, whatever its parent had made before forking: every cached object is
stamped with the pid that made it, and an at-fork hook empties the caches in the child
(``crmsync.ratelimit.perprocess`` explains both guards).

Layering: this module sits above ``crmsync.client``, ``crmsync.ratelimit`` and
``crmsync.conf`` and below the service layer. It never imports services, models or db,
and nothing it imports imports it.
"""

from __future__ import annotations

import os
import socket

import redis

from crmsync.client import HubSpotClient
from crmsync.conf import CrmSyncSettings, get_settings
from crmsync.credentials import build_credentials
from crmsync.ratelimit import RateLimiter
from crmsync.ratelimit import get_rate_limiter as _get_rate_limiter
from crmsync.ratelimit.perprocess import PerProcessCache, clear_all
from crmsync.ratelimit.perprocess import pid_of as _pid_of
from crmsync.ratelimit.redis_connection import redis_client as _redis_client

__all__ = ["get_client", "get_rate_limiter", "made_by", "redis_client", "reset", "worker_name"]

# Keyed by the whole (frozen) settings: the client holds the limiter built from them, so a
# change to any limiter setting (key prefix, daily cap, time zone) needs a new client.
_clients: PerProcessCache[CrmSyncSettings, HubSpotClient] = PerProcessCache("HubSpot clients")


def _build_client(conf: CrmSyncSettings) -> HubSpotClient:
    return HubSpotClient(
        base_url=conf.API_BASE_URL,
        credentials=build_credentials(
            conf, _redis_client(conf.REDIS_URL) if conf.REDIS_URL else None
        ),
        timeout=conf.HTTP_TIMEOUT_SECONDS,
        api_version=conf.API_VERSION,
        limiter=get_rate_limiter(conf),
        pool_size=max(conf.CONCURRENCY, 1) + 2,
    )


def get_client(conf: CrmSyncSettings | None = None) -> HubSpotClient:
    """This process's client for ``conf`` (default: the settings now): one session, its
    connections kept alive, shared by the process's threads. The settings are not checked
    here: the service layer validates them (``conf.validated_settings``) before it asks.
    """
    conf = conf or get_settings()
    return _clients.get(conf, lambda: _build_client(conf))


def get_rate_limiter(conf: CrmSyncSettings | None = None) -> RateLimiter:
    """This process's limiter for ``conf``; the very one ``crmsync.ratelimit.get_rate_limiter``
    returns and the one :func:`get_client` hands its client."""
    return _get_rate_limiter(conf)


def redis_client(url: str) -> redis.Redis:
    """This process's Redis client (connection pool) for ``url``, with the limiter's short
    timeouts; the one the Redis rate limiter on that URL uses."""
    return _redis_client(url)


def worker_name() -> str:
    """``hostname:pid`` of the calling process, read now: a prefork child names itself,
    not the master it was forked from."""
    return f"{socket.gethostname()}:{os.getpid()}"


def made_by(obj: object) -> int | None:
    """The pid that made ``obj``, if it is one of this module's cached objects."""
    return _pid_of(obj)


def reset() -> None:
    """Forget every cached client, limiter and Redis client of this process (tests).

    Objects already handed out keep working; the next lookup builds new ones. Shared
    limiter state in Redis is untouched: ``get_rate_limiter().reset()`` clears that.
    """
    clear_all()
