"""The Redis connection the shared limiter uses: fail fast, one pool per URL per process."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .perprocess import PerProcessCache

# Fail fast. A worker that cannot reach the shared limiter stops sending; waiting for Redis
# longer than this only delays that decision. One immediate retry covers a pooled
# connection the server closed while idle.
_REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
_REDIS_SOCKET_TIMEOUT_SECONDS = 0.5

_clients: PerProcessCache[str, redis.Redis] = PerProcessCache("Redis clients")


def connect_redis(url: str) -> redis.Redis:
    """A new client (and connection pool) for ``url`` with the limiter's timeouts."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=_REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=_REDIS_SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def redis_client(url: str) -> redis.Redis:
    """One client (connection pool) per URL per process, shared by every limiter on it."""
    return _clients.get(url, functools.partial(connect_redis, url))


def describe_redis(url: str) -> str:
    """``redis://host:port/db`` without credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
