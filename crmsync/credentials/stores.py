"""Where the shared OAuth access token lives: Redis for many hosts, or one process's memory."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Protocol

import redis

from ..exceptions import ConnectionFailedError


class TokenStore(Protocol):
    def read(self) -> tuple[str, float, float] | None:
        """(access token, seconds it has left, its lifetime), or None."""

    def write(self, access_token: str, lifetime: float, refresh_token: str) -> None: ...
    def refresh_token(self) -> str | None: ...
    def try_lock(self, owner: str, seconds: float) -> bool: ...
    def unlock(self, owner: str) -> None: ...


_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class RedisTokenStore:
    """The token with its lifetime as a key's TTL (Redis's clock, not any host's), a lock
    ``SET NX PX`` released by compare-and-delete, and a refresh token HubSpot handed out."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self._key, self._lock_key, self._refresh_key = key, f"{key}:lock", f"{key}:refresh"

    def __repr__(self) -> str:
        return f"<RedisTokenStore {self._key}>"

    def read(self) -> tuple[str, float, float] | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._key)
        pipe.pttl(self._key)
        raw, ttl_ms = self._call(pipe.execute)
        if raw is None or ttl_ms is None or ttl_ms <= 0:
            return None
        value = json.loads(raw)
        return str(value["access_token"]), ttl_ms / 1000.0, float(value["lifetime"])

    def write(self, access_token: str, lifetime: float, refresh_token: str) -> None:
        value = json.dumps({"access_token": access_token, "lifetime": lifetime})
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._key, value, px=max(int(lifetime * 1000), 1))
        if refresh_token:
            pipe.set(self._refresh_key, refresh_token)
        self._call(pipe.execute)

    def refresh_token(self) -> str | None:
        raw = self._call(self._redis.get, self._refresh_key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def try_lock(self, owner: str, seconds: float) -> bool:
        done = self._call(self._redis.set, self._lock_key, owner, nx=True, px=int(seconds * 1000))
        return bool(done)

    def unlock(self, owner: str) -> None:
        self._call(self._redis.eval, _UNLOCK, 1, self._lock_key, owner)

    @staticmethod
    def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except redis.RedisError as exc:
            raise ConnectionFailedError(
                f"the shared OAuth token store (Redis) cannot be reached ({type(exc).__name__})"
            ) from None


class LocalTokenStore:
    """One process's store, for a project without Redis (one process sends, as the
    in-process rate limiter assumes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: tuple[str, float, float] | None = None  # token, monotonic end, lifetime
        self._refresh = ""
        self._owner: tuple[str, float] | None = None

    def read(self) -> tuple[str, float, float] | None:
        with self._lock:
            if self._token is None or self._token[1] <= time.monotonic():
                return None
            token, end, lifetime = self._token
            return token, end - time.monotonic(), lifetime

    def write(self, access_token: str, lifetime: float, refresh_token: str) -> None:
        with self._lock:
            self._token = (access_token, time.monotonic() + lifetime, lifetime)
            self._refresh = refresh_token or self._refresh

    def refresh_token(self) -> str | None:
        return self._refresh or None

    def try_lock(self, owner: str, seconds: float) -> bool:
        with self._lock:
            if self._owner is not None and self._owner[1] > time.monotonic():
                return False
            self._owner = (owner, time.monotonic() + seconds)
            return True

    def unlock(self, owner: str) -> None:
        with self._lock:
            if self._owner is not None and self._owner[0] == owner:
                self._owner = None


def store_key(prefix: str, client_id: str, refresh_token: str) -> str:
    """The shared key of one grant: a new refresh token in the settings starts afresh."""
    digest = hashlib.sha256(f"{client_id}\0{refresh_token}".encode()).hexdigest()[:16]
    return f"{prefix}:oauth:{digest}"
