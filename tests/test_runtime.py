"""The per-process runtime: one client, limiter and Redis client per settings, per process.

No database and no network: building a Redis client or a Redis limiter connects nowhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from crmsync import ratelimit, runtime
from crmsync.conf import CrmSyncSettings
from crmsync.ratelimit import LocalRateLimiter, RedisRateLimiter, perprocess

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def settings(**overrides: Any) -> CrmSyncSettings:
    values: dict[str, Any] = {
        "ACCESS_TOKEN": "runtime-test-token",
        "API_BASE_URL": "http://127.0.0.1:9",
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"crmsync-test-{uuid.uuid4().hex}",
        "RATE_LIMIT_DAILY": 0,
    }
    values.update(overrides)
    return CrmSyncSettings(**values)


def in_child(conf: CrmSyncSettings, parent: dict[str, Any]) -> dict[str, Any]:
    """What a forked child sees when it asks the runtime for the objects ``parent`` holds."""
    client = runtime.get_client(conf)
    limiter = runtime.get_rate_limiter(conf)
    redis_client = runtime.redis_client(conf.REDIS_URL)
    pid = os.getpid()
    return {
        "pid": pid,
        "new": {
            "client": client is not parent["client"],
            "session": client.session is not parent["client"].session,
            "limiter": limiter is not parent["limiter"],
            "redis": redis_client is not parent["redis"],
        },
        "wired": {
            "client holds the child's limiter": client.limiter is limiter,
            "limiter holds the child's Redis": limiter._redis is redis_client,  # type: ignore[attr-defined]
        },
        "stamps": [runtime.made_by(obj) for obj in (client, limiter, redis_client)],
        "parent stamps": [runtime.made_by(obj) for obj in parent.values()],
        "worker": runtime.worker_name(),
    }


def fork_and_report(conf: CrmSyncSettings, parent: dict[str, Any]) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 0
        try:
            os.close(read_end)
            report = in_child(conf, parent)
        except BaseException as exc:
            report, code = {"error": repr(exc)}, 1
        try:
            with os.fdopen(write_end, "w") as out:
                json.dump(report, out)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as received:
        report = json.loads(received.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    assert report["pid"] == pid
    return report


def test_a_forked_child_builds_its_own_client_limiter_and_redis_client() -> None:
    conf = settings()
    parent = {
        "client": runtime.get_client(conf),
        "limiter": runtime.get_rate_limiter(conf),
        "redis": runtime.redis_client(conf.REDIS_URL),
    }
    assert isinstance(parent["limiter"], RedisRateLimiter)
    assert parent["client"].limiter is parent["limiter"]
    assert [runtime.made_by(obj) for obj in parent.values()] == [os.getpid()] * 3

    report = fork_and_report(conf, parent)

    child = report["pid"]
    assert child != os.getpid()
    assert report["new"] == dict.fromkeys(report["new"], True)
    assert report["wired"] == dict.fromkeys(report["wired"], True)
    assert report["stamps"] == [child] * 3
    assert report["parent stamps"] == [None] * 3  # the child's caches never held them
    assert report["worker"].rsplit(":", 1)[1] == str(child)
    # The parent keeps its own.
    assert runtime.get_client(conf) is parent["client"]
    assert runtime.worker_name().rsplit(":", 1)[1] == str(os.getpid())


def test_equal_settings_share_objects_and_changed_ones_get_new_ones() -> None:
    conf = settings()
    client = runtime.get_client(conf)
    assert runtime.get_client(conf.replace()) is client  # equal value, another object
    assert runtime.redis_client(REDIS_URL) is runtime.redis_client(REDIS_URL)

    # A setting outside the limiter: a new client, the same limiter.
    bigger = runtime.get_client(conf.replace(CONCURRENCY=9))
    assert bigger is not client
    assert bigger.limiter is client.limiter
    assert bigger.session.get_adapter("http://x").poolmanager.connection_pool_kw["maxsize"] == 11

    # A limiter setting: a new client with a new limiter, on the same Redis client.
    slower = runtime.get_client(conf.replace(RATE_LIMIT_MAX=7))
    assert slower.limiter is not client.limiter
    assert slower.limiter is runtime.get_rate_limiter(conf.replace(RATE_LIMIT_MAX=7))
    assert slower.limiter._redis is client.limiter._redis  # type: ignore[union-attr]
    assert runtime.redis_client("redis://127.0.0.1:6379/14") is not runtime.redis_client(REDIS_URL)


def test_settings_are_read_at_call_time() -> None:
    conf = {"ACCESS_TOKEN": "t", "API_BASE_URL": "http://127.0.0.1:9", "REDIS_URL": ""}
    with override_settings(CRMSYNC=conf):
        client = runtime.get_client()
        assert runtime.get_client() is client
        assert isinstance(client.limiter, LocalRateLimiter)
        # The limiter's public name in crmsync.ratelimit is the runtime's: one cache.
        assert ratelimit.get_rate_limiter() is client.limiter is runtime.get_rate_limiter()
    with override_settings(CRMSYNC={**conf, "API_VERSION": "2026-09"}):
        assert runtime.get_client() is not client
        assert runtime.get_client().api_version == "2026-09"


def test_an_object_cached_under_another_pid_is_not_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = settings()
    real_pid = os.getpid()
    parent = (
        runtime.get_client(conf),
        runtime.get_rate_limiter(conf),
        runtime.redis_client(REDIS_URL),
    )

    # As if forked without the at-fork hook running (a fork made by C code).
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 100_000)
    other = (
        runtime.get_client(conf),
        runtime.get_rate_limiter(conf),
        runtime.redis_client(REDIS_URL),
    )
    for theirs, ours in zip(parent, other, strict=True):
        assert ours is not theirs
        assert runtime.made_by(ours) == real_pid + 100_000
        assert runtime.made_by(theirs) is None  # discarded, not kept beside the new one
    assert other[0].limiter is other[1]
    assert runtime.worker_name().endswith(f":{real_pid + 100_000}")


def test_the_fork_hook_empties_caches_and_replaces_a_held_lock() -> None:
    cache: perprocess.PerProcessCache[str, object] = perprocess.PerProcessCache("test objects")
    before = cache.get("key", object)
    # Another thread of the parent held the lock at the moment of the fork.
    assert cache._lock.acquire(blocking=False)
    perprocess._after_fork_in_child()
    after = cache.get("key", object)  # would block for ever on the inherited lock
    assert after is not before
    assert cache.get("key", object) is after


def test_a_failed_build_caches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from crmsync import client as client_module

    real = client_module.HubSpotClient

    def fail_once(**kwargs: Any) -> Any:
        monkeypatch.setattr(runtime, "HubSpotClient", real)
        raise RuntimeError("could not build")

    monkeypatch.setattr(runtime, "HubSpotClient", fail_once)
    with pytest.raises(RuntimeError, match="could not build"):
        runtime.get_client(settings())
    assert runtime.get_client(settings()).limiter is not None


def test_layering_runtime_sits_above_the_client_and_limiter() -> None:
    code = (
        "import sys, crmsync.ratelimit, crmsync.client;"
        "assert 'crmsync.runtime' not in sys.modules;"
        "import crmsync.runtime;"
        "print(sorted(m for m in sys.modules if m in"
        " ('crmsync.services', 'crmsync.models', 'crmsync.db')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_schema_cache_is_emptied_and_unlocked_in_a_forked_child() -> None:
    """The property schema's per-process cache (crmsync.schema) gets the same fork hook."""
    from crmsync import schema

    held = schema._lock
    assert held.acquire(blocking=False)  # another thread of the parent, at the fork
    try:
        schema._warned.add((1, "http://x", "2026-03"))
        schema._after_fork_in_child()
        assert schema._lock is not held and schema._lock.acquire(blocking=False)
        schema._lock.release()
        assert not schema._warned
    finally:
        held.release()
