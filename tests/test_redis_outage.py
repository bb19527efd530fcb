"""The rate limiter's Redis lost and regained, with a throwaway ``redis-server`` this test
starts and kills: sending stops within a second, resumes by itself when Redis is back
(empty), and the restart is no burst of 429s against a sandbox with a tight rate limit."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from django.db import connection
from django.test import override_settings

from crmsync import runtime, services
from crmsync.models import Contact, SyncStatus
from tests.factories import ContactFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the drain's threads see committed rows only
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

#: The sandbox's limit, and the workers' setting: 10 requests per rolling 2 s.
LIMIT, INTERVAL_MS = 10, 2000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayRedis:
    """A ``redis-server`` that keeps nothing on disk: a restart comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()
    runtime.reset()  # forget the clients on its port


class Arrivals:
    """The sandbox's request count, sampled every 10 ms: when each request arrived."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.times: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seen = 0
        while not self.stop.is_set():
            total = self.sandbox.stats()["requests_total"]
            now = time.monotonic()
            self.times.extend([now] * (total - seen))
            seen = total
            time.sleep(0.01)

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in self.times if start < t <= end)


def drain_into(result: dict[str, object]) -> None:
    try:
        result["summary"] = services.sync_pending()
    finally:
        connection.close()


# The drain runs in a thread of its own with CONCURRENCY 2: SQLite's in-memory test database,
# shared between threads, answers "table is locked" now and then where a server waits.
@pytest.mark.postgres
@pytest.mark.hubspot_sandbox(rate_limit_max=LIMIT, rate_limit_interval_ms=INTERVAL_MS)
def test_redis_lost_and_regained_empty(crmsync_settings, hubspot_sandbox, throwaway_redis):
    conf = {
        **crmsync_settings,
        "REDIS_URL": throwaway_redis.url,
        "REDIS_KEY_PREFIX": "crmsync-outage",
        "RATE_LIMIT_MAX": LIMIT,
        "RATE_LIMIT_INTERVAL_SECONDS": INTERVAL_MS / 1000,
        "BATCH_SIZE": 5,
        "CONCURRENCY": 2,
        "REDIS_OUTAGE_WAIT_SECONDS": 30,
    }
    ContactFactory.create_batch(250)  # 50 requests: about 10 s at the limit
    arrivals = Arrivals(hubspot_sandbox)
    arrivals.thread.start()
    result: dict[str, object] = {}
    with override_settings(CRMSYNC=conf):
        drain = threading.Thread(target=drain_into, args=(result,))
        drain.start()
        deadline = time.monotonic() + 30
        while len(arrivals.times) < LIMIT + 5:  # HubSpot's window is full now
            assert time.monotonic() < deadline
            time.sleep(0.01)
        killed = time.monotonic()
        throwaway_redis.kill()
        time.sleep(1.3)
        assert drain.is_alive()  # waiting for Redis, not given up
        restarted = time.monotonic()
        throwaway_redis.start()  # empty: no window, no cool-down, nothing
        drain.join(60)
        arrivals.stop.set()
        arrivals.thread.join(5)
    assert not drain.is_alive()
    stats = hubspot_sandbox.stats()
    # Sending stopped within a second of the loss (requests already under way may land).
    assert arrivals.between(killed + 1.0, restarted) == 0
    # It resumed by itself, in the same drain, and sent everything.
    assert arrivals.between(restarted, time.monotonic()) > 0
    assert Contact.objects.filter(sync_status=SyncStatus.SYNCED).count() == 250
    assert result["summary"].synced == 250  # type: ignore[attr-defined]
    # The restart was no burst: HubSpot's window still held what was sent before the loss.
    assert stats["rate_limited_total"] == 0, stats
    assert stats["max_requests_in_window"] <= LIMIT
