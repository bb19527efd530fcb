"""The shared rate limiter, in-process and on a real Redis (no database needed).

Timing is asserted only in the safe direction (a limiter can never make things faster than
its window), with margins; everything else is counts, reasons and ordering.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import redis
from django.test import override_settings
from requests.structures import CaseInsensitiveDict

from crmsync.conf import CrmSyncSettings
from crmsync.exceptions import ConfigurationError
from crmsync.ratelimit import (
    HEADROOM_FRACTION,
    HEADROOM_MIN_SECONDS,
    DailyLimitExhaustedError,
    LocalRateLimiter,
    RateLimiter,
    RateLimiterError,
    RateLimiterUnavailableError,
    RateLimitWaitTimeoutError,
    RedisRateLimiter,
    build_rate_limiter,
    get_rate_limiter,
)
from crmsync.ratelimit.headers import HeaderReport
from crmsync.ratelimit.policy import Limit

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL", "")

Make = Callable[..., RateLimiter]

#: The window enforced for the 5 per 0.5 s used below: the interval plus the headroom.
WINDOW = 0.5 + max(0.5 * HEADROOM_FRACTION, HEADROOM_MIN_SECONDS)


def redis_url_or_skip() -> str:
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set; run with REDIS_URL=redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at REDIS_URL is unreachable ({type(exc).__name__})")
    return REDIS_URL


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def next_midnights(zone: str) -> set[datetime]:
    """The next local midnight, computed independently; both sides of a midnight crossing."""
    tz = ZoneInfo(zone)
    out = set()
    for now in (datetime.now(tz), datetime.now(tz) + timedelta(seconds=5)):
        day = now.date() + timedelta(days=1)
        out.add(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
    return out


def settings_for(url: str, prefix: str, **overrides: Any) -> CrmSyncSettings:
    values: dict[str, Any] = {
        "REDIS_URL": url,
        "REDIS_KEY_PREFIX": prefix,
        "RATE_LIMIT_MAX": 5,
        "RATE_LIMIT_INTERVAL_SECONDS": 0.5,
        "RATE_LIMIT_DAILY": 0,
        "ACCOUNT_TIME_ZONE": "UTC",
    }
    values.update(overrides)
    return CrmSyncSettings(**values)


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str:
    """ "" for the in-process limiter, the Redis URL for the shared one."""
    return "" if request.param == "local" else redis_url_or_skip()


@pytest.fixture
def prefix() -> str:
    return f"crmsync-test-{uuid.uuid4().hex}"


@pytest.fixture
def make(backend: str, prefix: str) -> Iterator[Make]:
    """Build limiters on one backend and key prefix; clean their shared state afterwards."""
    made: list[RateLimiter] = []

    def build(**overrides: Any) -> RateLimiter:
        limiter = build_rate_limiter(settings_for(backend, prefix, **overrides))
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        limiter.reset()


@pytest.fixture
def pair(make: Make) -> Callable[..., tuple[RateLimiter, RateLimiter]]:
    """Two workers' views of one limit: two objects on Redis; in-process, the one object
    all threads of a process share."""

    def build(**overrides: Any) -> tuple[RateLimiter, RateLimiter]:
        first = make(**overrides)
        second = make(**overrides) if isinstance(first, RedisRateLimiter) else first
        return first, second

    return build


def soon(seconds: float = 0.2) -> float:
    return time.monotonic() + seconds


# -- the window ------------------------------------------------------------------------------


def test_window_admits_max_then_times_out(make: Make) -> None:
    limiter = make()
    for _ in range(5):
        limiter.acquire(deadline=soon())
    started = time.monotonic()
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        limiter.acquire(deadline=soon())
    # The next slot is known to be beyond the deadline: raise now, not after waiting.
    assert time.monotonic() - started < 0.15
    assert info.value.reason == "window"
    assert 0.2 < info.value.wait_seconds <= WINDOW


def test_blocking_acquire_sleeps_until_a_slot_frees(make: Make) -> None:
    limiter = make()
    attempts = 0
    original = limiter._attempt

    def counting() -> Any:
        nonlocal attempts
        attempts += 1
        return original()

    limiter._attempt = counting  # type: ignore[method-assign]
    started = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    limiter.acquire()
    assert time.monotonic() - started >= 0.5
    # Six takes, one sleep to the computed free time and a retry or two: not a poll loop.
    assert 7 <= attempts <= 10


def test_n_plus_k_acquires_keep_n_per_interval(make: Make) -> None:
    limiter = make()
    stamps = []
    for _ in range(12):
        limiter.acquire()
        stamps.append(time.monotonic())
    # Any 6 consecutive takes span at least the interval (the window's headroom
    # covers the gap between taking a slot and reading the clock here).
    assert all(b - a >= 0.5 for a, b in zip(stamps, stamps[5:], strict=False))


def wait_for_next_slot(limiter: RateLimiter) -> float:
    """Seconds until the next slot frees, as the limiter computes it (nothing is taken)."""
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        limiter.acquire(deadline=time.monotonic())
    return info.value.wait_seconds


def test_an_answered_slot_frees_one_interval_after_the_answer(make: Make) -> None:
    """HubSpot counted the request before answering it: no margin is needed after that."""
    limiter = make(RATE_LIMIT_MAX=2, RATE_LIMIT_INTERVAL_SECONDS=1.0)
    slots = [limiter.acquire(), limiter.acquire()]
    answered_at = time.monotonic()
    for slot in slots:
        limiter.answered(slot)
    wait = wait_for_next_slot(limiter) + (time.monotonic() - answered_at)
    # One interval from the answer (Redis rounds the wait up to the millisecond), not the
    # 1.1 s window of the headroom; and never sooner than the interval.
    assert 0.95 <= wait <= 1.0 + 0.02


def test_an_unanswered_slot_keeps_the_headroom(make: Make) -> None:
    """A request without an answer (timeout, dropped connection) may still be in flight."""
    limiter = make(RATE_LIMIT_MAX=2, RATE_LIMIT_INTERVAL_SECONDS=1.0)
    limiter.acquire()
    limiter.acquire()
    taken_at = time.monotonic()
    # Neither answered: the window of 1.1 s from the take.
    assert wait_for_next_slot(limiter) + (time.monotonic() - taken_at) > 1.05


def test_a_late_answer_never_holds_a_slot_longer(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=1, RATE_LIMIT_INTERVAL_SECONDS=1.0)
    slot = limiter.acquire()
    taken_at = time.monotonic()
    time.sleep(0.2)  # an answer after more than the 0.1 s headroom
    limiter.answered(slot)
    # Still the window from the take (1.1 s), not one interval from the answer (1.2 s).
    assert wait_for_next_slot(limiter) + (time.monotonic() - taken_at) <= 1.1 + 0.03


def test_answered_for_a_slot_gone_or_another_limiters_changes_nothing(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=1, RATE_LIMIT_INTERVAL_SECONDS=0.5)
    slot = limiter.acquire()
    limiter.reset()
    held = limiter.acquire()
    limiter.answered(slot)  # taken before the reset: not the slot held now
    taken_at = time.monotonic()
    assert wait_for_next_slot(limiter) + (time.monotonic() - taken_at) > 0.5 + 0.05
    limiter.answered(held)
    assert wait_for_next_slot(limiter) <= 0.5 + 0.01


def test_deadline_passing_while_waiting(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=1, RATE_LIMIT_INTERVAL_SECONDS=1.0)
    limiter.acquire()
    with pytest.raises(RateLimitWaitTimeoutError):
        limiter.acquire(deadline=soon(0.5))
    limiter.cool_down(0.05)
    with pytest.raises(RateLimitWaitTimeoutError):
        limiter.acquire(deadline=soon(0.3))  # cool-down ends in time, the window does not


def test_threads_share_one_limiter(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=20, RATE_LIMIT_INTERVAL_SECONDS=2.0)
    taken = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        deadline = soon(0.5)
        count = 0
        while True:
            try:
                limiter.acquire(deadline=deadline)
            except RateLimitWaitTimeoutError:
                break
            count += 1
        with lock:
            taken.append(count)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken) == 20


def test_reset_clears_window_and_cool_down(pair: Callable[..., tuple[RateLimiter, ...]]) -> None:
    first, second = pair()
    for _ in range(5):
        first.acquire()
    first.cool_down(30)
    second.reset()
    first.acquire(deadline=soon(0.05))


# -- shared across workers -------------------------------------------------------------------


@pytest.mark.redis
def test_two_objects_share_one_window(prefix: str) -> None:
    url = redis_url_or_skip()
    first = build_rate_limiter(settings_for(url, prefix))
    second = build_rate_limiter(settings_for(url, prefix))
    try:
        for _ in range(3):
            first.acquire(deadline=soon())
        for _ in range(2):
            second.acquire(deadline=soon())
        for limiter in (first, second):
            with pytest.raises(RateLimitWaitTimeoutError):
                limiter.acquire(deadline=soon(0.1))
    finally:
        first.reset()


@pytest.mark.redis
def test_window_entries_are_stamped_with_redis_clock(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_url_or_skip()
    client = redis.Redis.from_url(url)
    limiter = build_rate_limiter(settings_for(url, prefix))
    try:
        # This host's clock an hour fast: the stamp must still be the server's time.
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
        limiter.acquire(deadline=soon())
        seconds, micros = cast(tuple[int, int], client.time())
        (member,) = cast(list[bytes], client.zrange(f"{prefix}:ratelimit:slots", -1, -1))
        stamp = int(member.split(b":")[0])
        assert 0 <= seconds * 1_000_000 + micros - stamp < 1_000_000
    finally:
        limiter.reset()


def window_stamps(client: redis.Redis, key: str) -> Counter[int]:
    """The take stamps of the slots held (each member is "<taken at, us>:<id>")."""
    members = cast(list[bytes], client.zrange(key, 0, -1))
    return Counter(int(member.split(b":")[0]) for member in members)


CHILD = """
import sys, time
from crmsync.conf import CrmSyncSettings
from crmsync.ratelimit import build_rate_limiter

url, prefix, start_at, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
limiter = build_rate_limiter(CrmSyncSettings(
    REDIS_URL=url, REDIS_KEY_PREFIX=prefix, RATE_LIMIT_MAX=5,
    RATE_LIMIT_INTERVAL_SECONDS=0.5, RATE_LIMIT_DAILY=0))
time.sleep(max(0.0, start_at - time.time()))
first = time.time()
for _ in range(count):
    limiter.acquire(deadline=time.monotonic() + 30)
print(first, time.time())
"""


@pytest.mark.redis
def test_two_processes_share_one_window(prefix: str) -> None:
    url = redis_url_or_skip()
    client = redis.Redis.from_url(url)
    key = f"{prefix}:ratelimit:slots"
    start_at = time.time() + 2.0
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, prefix, str(start_at), "8"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    # Every take is stamped in the window list with Redis' clock; the list lives until a
    # whole window after its newest entry, so sampling it every 50 ms sees every stamp.
    # Checking the rolling window on the server's own record is independent of scheduling.
    seen: Counter[int] = Counter()
    try:
        while any(child.poll() is None for child in children):
            seen |= window_stamps(client, key)
            time.sleep(0.05)
        seen |= window_stamps(client, key)
        spans = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            spans.append([float(v) for v in out.split()])
        # The two processes really competed: their busy periods overlap.
        assert max(first for first, _ in spans) < min(last for _, last in spans)
        stamps = sorted(seen.elements())
        assert len(stamps) == 16
        window_us = WINDOW * 1_000_000
        assert all(new - old >= window_us for old, new in zip(stamps, stamps[5:], strict=False))
    finally:
        for child in children:
            child.kill()
        build_rate_limiter(settings_for(url, prefix)).reset()


def test_cool_down_is_honoured_by_every_worker(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair()
    first.cool_down(0.4)
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        second.acquire(deadline=soon(0.05))
    assert info.value.reason == "cool-down"
    assert 0.2 < info.value.wait_seconds <= 0.4
    started = time.monotonic()
    second.acquire()
    assert time.monotonic() - started >= 0.15


def test_shorter_cool_down_does_not_cut_a_longer_one(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair()
    first.cool_down(5)
    second.cool_down(0.1)
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        first.acquire(deadline=soon(1))
    assert info.value.wait_seconds > 4


# -- tuning from HubSpot's headers -----------------------------------------------------------


def test_lower_max_from_headers_is_honoured_by_every_worker(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair()
    first.observe(
        {
            "X-HubSpot-RateLimit-Max": "2",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "500",
            "X-HubSpot-RateLimit-Remaining": "2",
        }
    )
    assert second.current_limit() == (2, 0.5)
    second.acquire(deadline=soon())
    second.acquire(deadline=soon())
    with pytest.raises(RateLimitWaitTimeoutError):
        second.acquire(deadline=soon())


def test_max_lowered_mid_window_waits_for_the_surplus_to_expire(make: Make) -> None:
    limiter = make()
    for _ in range(5):
        limiter.acquire()
    limiter.observe({"X-HubSpot-RateLimit-Max": "2", "X-HubSpot-RateLimit-Remaining": "3"})
    attempts = 0
    original = limiter._attempt

    def counting() -> Any:
        nonlocal attempts
        attempts += 1
        return original()

    limiter._attempt = counting  # type: ignore[method-assign]
    with pytest.raises(RateLimitWaitTimeoutError):
        limiter.acquire(deadline=soon(0.1))
    started = time.monotonic()
    limiter.acquire()
    limiter.acquire()
    assert time.monotonic() - started >= 0.3
    with pytest.raises(RateLimitWaitTimeoutError):
        limiter.acquire(deadline=soon(0.1))
    assert attempts <= 12


def test_every_worker_adopts_the_limit_hubspot_reports(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair()
    assert second.current_limit() == (5, 0.5)
    # A higher tier than configured (e.g. Professional on the Starter default) is adopted.
    first.observe(
        {"X-HubSpot-RateLimit-Max": "50", "X-HubSpot-RateLimit-Interval-Milliseconds": "100"}
    )
    assert second.current_limit() == (50, 0.1)
    # A header missing from a later answer falls back to the setting for that half only.
    first.observe({"x-hubspot-ratelimit-interval-milliseconds": "1000"})
    assert second.current_limit() == (5, 1.0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"X-HubSpot-RateLimit-Max": "abc", "X-HubSpot-RateLimit-Remaining": ""},
        {"X-HubSpot-RateLimit-Max": "-3", "X-HubSpot-RateLimit-Interval-Milliseconds": "0"},
        {"X-HubSpot-RateLimit-Max": "1e3", "X-HubSpot-RateLimit-Remaining": "-1"},
        {"X-HubSpot-RateLimit-Daily-Remaining": "none"},
    ],
)
def test_missing_or_malformed_headers_change_nothing(make: Make, headers: dict[str, str]) -> None:
    limiter = make()
    limiter.observe(CaseInsensitiveDict(headers))
    assert limiter.current_limit() == (5, 0.5)
    for _ in range(5):
        limiter.acquire(deadline=time.monotonic())


def test_falling_remaining_pauses_every_worker(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair(RATE_LIMIT_MAX=100, RATE_LIMIT_INTERVAL_SECONDS=10.0)
    headers = CaseInsensitiveDict(
        {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    )

    first.observe({**headers, "X-HubSpot-RateLimit-Remaining": "50"})
    second.acquire(deadline=time.monotonic())  # plenty left: no pause

    # 3 left of the 5 % (5 slots) threshold: pause while HubSpot frees 2 slots (0.2 s).
    first.observe({**headers, "X-HubSpot-RateLimit-Remaining": "3"})
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        second.acquire(deadline=time.monotonic())
    assert info.value.reason == "cool-down"
    assert 0.05 < info.value.wait_seconds <= 0.2

    # None left: pause longer (0.5 s).
    first.observe({**headers, "X-HubSpot-RateLimit-Remaining": "0"})
    with pytest.raises(RateLimitWaitTimeoutError) as info:
        second.acquire(deadline=time.monotonic())
    assert 0.3 < info.value.wait_seconds <= 0.5


@pytest.mark.parametrize(
    ("headers", "report"),
    [
        ({"Content-Type": "application/json"}, None),
        ({"X-HubSpot-RateLimit-Max": "abc"}, HeaderReport()),
        (
            {
                "X-HubSpot-RateLimit-Max": "190",
                "x-hubspot-ratelimit-interval-milliseconds": " 10000 ",
                "X-HUBSPOT-RATELIMIT-REMAINING": "0",
                "X-HubSpot-RateLimit-Daily-Remaining": "12",
            },
            HeaderReport(max=190, interval_ms=10000, remaining=0, daily_remaining=12),
        ),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "86400001"}, HeaderReport()),
    ],
)
def test_header_report_parsing(headers: dict[str, str], report: HeaderReport | None) -> None:
    assert HeaderReport.parse(headers) == report


CONFIGURED = Limit(100, 10_000)


@pytest.mark.parametrize(
    ("report", "limit", "pause", "daily_exhausted"),
    [
        (HeaderReport(), None, None, False),
        (HeaderReport(max=190), Limit(190, 10_000), None, False),
        (HeaderReport(interval_ms=1000), Limit(100, 1000), None, False),
        (HeaderReport(remaining=5), None, None, False),  # at 5 % of 100: no pause yet
        (HeaderReport(remaining=3), None, 0.2, False),  # 2 slots short at 10 per s
        (HeaderReport(max=10, interval_ms=1000, remaining=0), Limit(10, 1000), 0.1, False),
        (HeaderReport(daily_remaining=0), None, None, True),
    ],
)
def test_header_report_decisions(
    report: HeaderReport, limit: Limit | None, pause: float | None, daily_exhausted: bool
) -> None:
    assert report.limit(CONFIGURED) == limit
    assert report.low_remaining_pause(CONFIGURED) == (
        None if pause is None else pytest.approx(pause)
    )
    assert report.daily_exhausted is daily_exhausted


# -- the daily cap ---------------------------------------------------------------------------


def test_daily_cap_raises_with_next_local_midnight(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=100, RATE_LIMIT_DAILY=3, ACCOUNT_TIME_ZONE="Asia/Kolkata")
    for _ in range(3):
        limiter.acquire()
    with pytest.raises(DailyLimitExhaustedError) as info:
        limiter.acquire()  # no deadline: it must raise, not wait for tomorrow
    resume_at = info.value.resume_at
    assert resume_at.astimezone(UTC) in next_midnights("Asia/Kolkata")
    assert resume_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert (resume_at.hour, resume_at.minute) == (0, 0)
    assert isinstance(info.value, RateLimiterError)


def test_daily_remaining_zero_stops_every_worker(
    pair: Callable[..., tuple[RateLimiter, ...]],
) -> None:
    first, second = pair(ACCOUNT_TIME_ZONE="America/New_York")
    first.observe(
        {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "0"}
    )
    with pytest.raises(DailyLimitExhaustedError) as info:
        second.acquire()
    assert info.value.resume_at.astimezone(UTC) in next_midnights("America/New_York")


def test_exhaust_daily_until_given_time(pair: Callable[..., tuple[RateLimiter, ...]]) -> None:
    first, second = pair(ACCOUNT_TIME_ZONE="Europe/Berlin")
    resume_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    first.exhaust_daily(resume_at=resume_at)
    first.exhaust_daily(resume_at=resume_at - timedelta(minutes=30))  # earlier: kept later
    with pytest.raises(DailyLimitExhaustedError) as info:
        second.acquire()
    assert info.value.resume_at == resume_at
    assert info.value.resume_at.tzinfo == ZoneInfo("Europe/Berlin")
    with pytest.raises(ValueError):
        first.exhaust_daily(resume_at=datetime.now())  # naive


def test_exhaust_daily_in_the_past_is_ignored(make: Make) -> None:
    limiter = make()
    limiter.exhaust_daily(resume_at=datetime.now(UTC) - timedelta(seconds=1))
    limiter.acquire(deadline=time.monotonic())


# -- Redis down, in-process fallback, settings -----------------------------------------------


def test_redis_refusing_connections_raises_unavailable_quickly(prefix: str) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{unused_port()}/0"
    limiter = build_rate_limiter(settings_for(url, prefix))
    started = time.monotonic()
    with pytest.raises(RateLimiterUnavailableError) as info:
        limiter.acquire()
    assert time.monotonic() - started < 3
    assert isinstance(info.value, RateLimiterError)
    assert "hunter2" not in str(info.value)
    assert "127.0.0.1" in str(info.value)
    # Reporting calls are best-effort: they never turn a response into an error.
    limiter.observe({"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "0"})
    limiter.cool_down(1)
    limiter.exhaust_daily()
    with pytest.raises(RateLimiterUnavailableError):
        limiter.current_limit()


def test_redis_not_answering_raises_unavailable_after_short_timeouts(prefix: str) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        limiter = build_rate_limiter(settings_for(f"redis://127.0.0.1:{port}/0", prefix))
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailableError):
            limiter.acquire()
        assert time.monotonic() - started < 5


def test_in_process_limiter_without_redis() -> None:
    conf = {"REDIS_URL": "", "RATE_LIMIT_MAX": 3, "RATE_LIMIT_INTERVAL_SECONDS": 0.5}
    with override_settings(CRMSYNC=conf):
        limiter = get_rate_limiter()
        limiter.reset()
        assert isinstance(limiter, LocalRateLimiter)
        assert get_rate_limiter() is limiter
        for _ in range(3):
            limiter.acquire(deadline=soon())
        with pytest.raises(RateLimitWaitTimeoutError):
            limiter.acquire(deadline=soon())
    with override_settings(CRMSYNC={**conf, "RATE_LIMIT_MAX": 4}):
        assert get_rate_limiter() is not limiter
        assert get_rate_limiter().current_limit() == (4, 0.5)
    limiter.reset()


@pytest.mark.redis
def test_settings_with_redis_url_build_the_shared_limiter(prefix: str) -> None:
    url = redis_url_or_skip()
    with override_settings(CRMSYNC={"REDIS_URL": url, "REDIS_KEY_PREFIX": prefix}):
        limiter = get_rate_limiter()
        assert isinstance(limiter, RedisRateLimiter)
        assert get_rate_limiter() is limiter
        assert limiter.current_limit() == (100, 10.0)
        limiter.acquire(deadline=soon())
        limiter.reset()


@pytest.mark.parametrize(
    "overrides",
    [
        {"RATE_LIMIT_MAX": 0},
        {"RATE_LIMIT_INTERVAL_SECONDS": 0},
        {"RATE_LIMIT_DAILY": -1},
        {"ACCOUNT_TIME_ZONE": "Mars/Olympus_Mons"},
    ],
)
def test_bad_settings_are_configuration_errors(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        build_rate_limiter(settings_for("", "x", **overrides))


def test_errors_pickle_with_their_details() -> None:
    resume_at = datetime(2030, 1, 2, tzinfo=ZoneInfo("Asia/Tokyo"))
    errors = [
        RateLimiterUnavailableError("redis://127.0.0.1:6379/0", "ConnectionError: refused"),
        DailyLimitExhaustedError(resume_at),
        RateLimitWaitTimeoutError(1.5, "window"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert isinstance(copy, RateLimiterError)
    assert "2030-01-02T00:00:00+09:00" in str(errors[1])
    assert pickle.loads(pickle.dumps(errors[1])).resume_at == resume_at


def test_a_429_widens_every_workers_headroom_up_to_a_cap(
    pair: Callable[..., tuple[RateLimiter, RateLimiter]],
) -> None:
    first, second = pair(RATE_LIMIT_INTERVAL_SECONDS=10)
    _, interval = second.current_limit()
    assert second.extra_headroom() == 0
    first.cool_down(0.001)  # a 429 came in spite of the headroom
    step = second.extra_headroom()
    assert step > 0
    first.cool_down(0.001)
    assert second.extra_headroom() == pytest.approx(2 * step)
    for _ in range(100):
        first.cool_down(0.001)
    assert second.extra_headroom() == pytest.approx(max(step, interval * 0.2))


def test_a_wider_headroom_holds_slots_longer(make: Make) -> None:
    limiter = make(RATE_LIMIT_MAX=2, RATE_LIMIT_INTERVAL_SECONDS=0.5)
    limiter.acquire()
    limiter.acquire()
    for _ in range(10):
        limiter.cool_down(0.001)  # widened to the cap: 0.1 s more on a 0.5 s window
    time.sleep(0.01)  # the cool-downs lapse
    started = time.monotonic()
    limiter.acquire(deadline=started + 5)
    waited = time.monotonic() - started
    # base window 0.5 s + 0.1 s floor headroom + 0.1 s extra, counted from the first slot
    assert waited >= 0.5 + 0.1 + 0.1 - 0.05


# -- Redis lost and regained ------------------------------------------------------------------


@pytest.mark.redis
def test_a_redis_that_lost_the_state_makes_every_worker_wait_one_window(prefix: str) -> None:
    """HubSpot's window may still be full of what was sent before Redis restarted empty."""
    url = redis_url_or_skip()
    first = build_rate_limiter(settings_for(url, prefix))
    first.acquire(deadline=soon())  # a fresh Redis (no state yet): no wait
    client = redis.Redis.from_url(url)
    try:
        client.delete(*client.keys(f"{prefix}:*"))  # restarted empty, as far as we can tell
        with pytest.raises(RateLimitWaitTimeoutError) as info:
            first.acquire(deadline=soon())
        assert info.value.reason == "cool-down"
        assert WINDOW - 0.05 < info.value.wait_seconds <= WINDOW + 0.01
        # The cool-down is shared: a limiter that never saw this Redis waits too.
        with pytest.raises(RateLimitWaitTimeoutError):
            build_rate_limiter(settings_for(url, prefix)).acquire(deadline=soon())
        # An explicit reset is a fresh start, not a lost state.
        first.reset()
        first.acquire(deadline=soon())
    finally:
        first.reset()


def test_wait_until_available_reports_a_backend_that_stays_away(prefix: str) -> None:
    limiter = build_rate_limiter(settings_for(f"redis://127.0.0.1:{unused_port()}/0", prefix))
    started = time.monotonic()
    assert limiter.wait_until_available(0.5) is False
    assert 0.5 <= time.monotonic() - started < 3
    assert LocalRateLimiter(settings_for("", prefix)).wait_until_available(0) is True


def test_the_redis_limiters_day_is_redis_s_not_this_hosts(prefix: str) -> None:
    """Every host keys its daily count, and ends a daily pause, by the shared clock: a host
    whose own clock is 10 minutes fast at 23:55 must not think the day is already over
    (it would key its requests to tomorrow and pause until the midnight after)."""
    url = redis_url_or_skip()
    limiter = build_rate_limiter(settings_for(url, prefix, ACCOUNT_TIME_ZONE="UTC"))
    shared = datetime(2027, 6, 1, 23, 55, tzinfo=UTC).timestamp()
    limiter._redis.time = lambda: (int(shared), 0)  # type: ignore[attr-defined]
    with mock.patch("crmsync.ratelimit.base.datetime") as local:
        local.now.return_value = datetime(2027, 6, 2, 0, 5, tzinfo=UTC)  # 10 minutes fast
        assert limiter.exhaust_daily() == datetime(2027, 6, 2, 0, 0, tzinfo=UTC)
