"""The Redis connection the shared limiter uses: fail fast, one pool per URL per process."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Fail fast. A worker that cannot reach the shared limiter stops sending; waiting for Redis
# longer than this only delays that decision. One immediate retry covers a pooled
# connection the server closed while idle.
_REDIS_CONNECT_TIMEOUT_SECONDS = 0.5
_REDIS_SOCKET_TIMEOUT_SECONDS = 0.5

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


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
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = connect_redis(url)
        return client


def after_fork_in_child() -> None:
    global _clients_lock
    _clients_lock = threading.Lock()
    _clients.clear()


def describe_redis(url: str) -> str:
    """``redis://host:port/db`` without credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
