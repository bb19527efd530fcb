"""How fast crmsync syncs, what it costs per batch, and whether its memory stays flat.

    .venv/bin/python -m bench.throughput [--quick]

Runs against the HubSpot sandbox (``manage.py crmsync_sandbox``, its own process), PostgreSQL
(``--database-url``, default ``postgres://postgres@127.0.0.1:5432/crmsync_bench``, created and
migrated if missing) and Redis (``--redis-url``, with a key prefix of its own per run and
part). Workers are separate processes (``python -m bench._throughput_worker``) that call
``crmsync.services.sync_pending()`` until no row is left. Prints, side by side:

1. rate-limited: 1, 2 and 4 workers against a sandbox window of ``--limit`` requests per
   ``--interval-ms``: contacts/s, share of the ceiling, 429s;
2. unlimited, one worker, CONCURRENCY 1, 2 and 4: contacts/s, worker CPU per contact, SQL
   statements per batch, peak RSS;
3. a naive baseline (one contact per request, one UPDATE per row) and crmsync's ratio to it;
4. one worker draining ``--drain-rows`` (default 1,000,000) rows: RSS every second.

``--profile`` adds a py-spy profile of the unlimited single worker. docs/benchmarks.md says
how each figure is measured and records the latest figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
import redis

from bench import common
from bench._throughput_cpu import CpuMeter
from bench._throughput_profile import read as read_profile
from bench._throughput_profile import report as profile_report
from bench.common import ROOT, BenchError, Sandbox

WORKER = "bench._throughput_worker"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench"
DEFAULT_REDIS_URL = common.DEFAULT_REDIS_URL
TOKEN = "bench-token"
BATCH = 100
#: "No limit" for the sandbox and crmsync alike: far above anything this machine sends.
HUGE = 1_000_000_000

# The targets.
TARGET_CEILING_SHARE = 95.0  # % of the ceiling, from 2 workers up, with no 429
TARGET_CONTACTS_PER_SECOND = 9_500.0  # one worker, unlimited
TARGET_QUERIES_PER_BATCH = 8.0
TARGET_MEMORY_GROWTH_MB = 50.0

TABLES = ("crmsync_syncattempt", "crmsync_syncbatch", "crmsync_contact", "crmsync_pipelinestate")


# -- results -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one run of workers did, from their own reports and from the database."""

    label: str
    workers: list[dict[str, Any]]
    wall: float
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB), worker 0
    sandbox: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False
    #: Exit codes of workers that failed (a traceback on stderr); [0]: one wrote no result.
    failed: list[int] = field(default_factory=list)
    synced: int = 0
    not_synced: int = 0
    #: Sandbox timestamps of the accepted requests (startedAt, completedAt) and their sizes.
    starts: list[float] = field(default_factory=list)
    first_start: float = 0.0
    last_end: float = 0.0
    sent_contacts: int = 0
    #: Milliseconds from a request's rate-limit slot (worker clock) to the sandbox counting
    #: it (its startedAt), for every request of a rate-limited run.
    slot_delays_ms: list[float] = field(default_factory=list)
    #: CPU seconds by group (workers, sandbox, PostgreSQL...) between go and the last exit.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def span(self) -> float:
        return max(self.last_end - self.first_start, 1e-9)

    @property
    def rate(self) -> float:
        """Contacts per second from the first request's start to the last one's answer."""
        return self.synced / self.span

    def total(self, name: str) -> float:
        return float(sum(w.get(name, 0) for w in self.workers))

    @property
    def queries(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self.workers:
            for kind, n in w.get("queries", {}).items():
                out[kind] = out.get(kind, 0) + n
        return out

    @property
    def queries_per_batch(self) -> float:
        batches = self.total("batches")
        return sum(self.queries.values()) / batches if batches else math.nan

    @property
    def cpu_us_per_contact(self) -> float:
        return self.total("cpu_seconds") * 1e6 / self.synced if self.synced else math.nan

    @property
    def peak_rss_mb(self) -> float:
        return max((w.get("max_rss_kb", 0) for w in self.workers), default=0) / 1024


def status(phase: Phase) -> str:
    """The synced count, flagged when the run did not finish normally."""
    text = f"{phase.synced:,}"
    if phase.failed:
        return f"{text} WORKER FAILED"
    return f"{text} TIMED OUT" if phase.timed_out else text


def headroom_ms(interval_ms: int) -> float:
    """The margin crmsync's limiter adds to the window, as crmsync.ratelimit computes it."""
    try:
        from crmsync.ratelimit import HEADROOM_FRACTION, HEADROOM_MIN_SECONDS
    except ImportError:
        return math.nan
    return max(interval_ms * HEADROOM_FRACTION, HEADROOM_MIN_SECONDS * 1000)


def delays(values: Sequence[float], headroom: float) -> str:
    if not values:
        return "n/a"
    s = sorted(values)
    p50 = s[len(s) // 2]
    p99 = s[min(len(s) - 1, math.ceil(len(s) * 0.99) - 1)]
    over = sum(1 for v in s if v > headroom)
    return f"{p50:.0f}/{p99:.0f}/{s[-1]:.0f}, {over} > {headroom:.0f}"


def windowed_rate(starts: Sequence[float], limit: int, contacts_per_request: float) -> float:
    """Steady-state contacts/s of a window-limited run.

    The mean of ``s[i + limit] - s[i]`` over every request i: how long the run took to send
    one window's worth of requests, from any request on. A limiter that sends each window in
    a burst and one that spaces requests evenly both come out at their true long-run rate,
    and neither the first burst nor the last is counted twice. (It equals the time between
    the average start of the first ``limit`` requests and that of the last ``limit``, over
    ``len(starts) - limit`` requests.)
    """
    s = sorted(starts)
    gaps = len(s) - limit
    if gaps < 1:
        return math.nan
    lag = (sum(s[-limit:]) - sum(s[:limit])) / gaps
    return limit / lag * contacts_per_request if lag > 0 else math.inf


def verdict(value: float, target: float, higher_is_better: bool, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    met = value >= target if higher_is_better else value <= target
    if met:
        return "met"
    gap = target - value if higher_is_better else value - target
    percent = 100 * gap / target
    return f"MISSED by {fmt(gap)}{unit} ({percent:.0f} %)"


def fmt(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells))
    return out


# -- the bench -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
        self.tmp = Path(tempfile.mkdtemp(prefix="crmsync-bench-"))
        self.sandbox: Sandbox | None = None
        self.db: psycopg.Connection[tuple[Any, ...]] | None = None
        self.redis = redis.Redis.from_url(args.redis_url)
        self.prefixes: list[str] = []
        self.env = common.child_env(
            database_url=args.database_url,
            redis_url=args.redis_url,
            token=TOKEN,
            # Production settings: with DEBUG on, Django would log every SQL statement.
            extra={"DJANGO_DEBUG": "0"},
        )

    # -- setup and teardown ------------------------------------------------------------------

    def setup(self) -> None:
        self.log(f"database {common.redact(self.args.database_url)}, redis {self.args.redis_url}")
        common.ensure_database(self.args.database_url)
        common.migrate(self.env)
        self.db = common.connect(self.args.database_url)
        self.redis.ping()
        self.start_sandbox()

    def start_sandbox(self) -> None:
        command = ["manage.py", "crmsync_sandbox", "--port", "0"]
        command += ["--token", TOKEN, "--seed", "1", "--rate-limit-max", str(HUGE)]
        command += ["--daily-limit", str(HUGE)]
        self.sandbox = Sandbox.start(command, self.env, self.tmp / "sandbox.log")
        self.env["HUBSPOT_API_BASE_URL"] = self.sandbox.url
        self.log(f"sandbox at {self.sandbox.url} (pid {self.sandbox.pid})")

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
        common.forget_redis_keys(self.args.redis_url, self.prefixes)
        self.redis.close()
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self, message: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)

    # -- the sandbox ----------------------------------------------------------------------

    def sandbox_call(self, method: str, name: str, body: Any = None) -> Any:
        assert self.sandbox is not None
        return self.sandbox.call(method, name, body)

    def sandbox_limits(self, limit: int, interval_ms: int) -> None:
        self.sandbox_call(
            "POST",
            "config",
            {"rate_limit_max": limit, "rate_limit_interval_ms": interval_ms, "daily_limit": HUGE},
        )
        # Empties the store (so every email is new again), the counters and the window.
        self.sandbox_call("POST", "reset", {})

    # -- the database ----------------------------------------------------------------------

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        assert self.db is not None
        with self.db.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def prepare(self, rows: int, tag: str) -> None:
        """Empty crmsync's tables and insert ``rows`` pending contacts, in one statement."""
        started = time.monotonic()
        self.sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        given = {
            "email": "'bench-' || %(tag)s || '-' || g || '@example.com'",
            "firstname": "'Ada'",
            "lastname": "'Lovelace ' || g",
            "phone": "'+1 555 01' || lpad((g %% 100)::text, 2, '0')",
            "company": "'Analytical Engines Ltd'",
            "lifecyclestage": "'lead'",
            "properties": """'{"jobtitle": "Engineer", "city": "London"}'::jsonb""",
            "associations": "'[]'::jsonb",
        }
        # Any other NOT NULL column without a database default (these change as crmsync
        # does) gets its type's empty value.
        empty = {
            "character varying": "''",
            "text": "''",
            "integer": "0",
            "bigint": "0",
            "smallint": "0",
            "boolean": "false",
            "jsonb": "'{}'::jsonb",
            "timestamp with time zone": "now()",
            "uuid": "gen_random_uuid()",
        }
        columns = self.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'crmsync_contact' AND is_nullable = 'NO' "
            "AND column_default IS NULL AND is_identity = 'NO' ORDER BY ordinal_position"
        )
        values = dict(given)
        for name, kind in columns:
            if name not in values:
                values[name] = empty[kind]
        names = ", ".join(values)
        exprs = ", ".join(values.values())
        self.sql(
            f"INSERT INTO crmsync_contact ({names}) "
            f"SELECT {exprs} FROM generate_series(1, %(rows)s) AS g",
            {"tag": tag, "rows": rows},
        )
        self.sql("ANALYZE crmsync_contact")
        self.log(f"inserted {rows:,} pending rows in {time.monotonic() - started:.1f} s")

    def collect(self, phase: Phase) -> None:
        counts = dict(
            self.sql("SELECT sync_status, count(*) FROM crmsync_contact GROUP BY sync_status")
        )
        phase.synced = int(counts.pop("synced", 0))
        phase.not_synced = int(sum(counts.values()))
        batches = self.sql(
            "SELECT started_at, completed_at, success_count, correlation_id "
            "FROM crmsync_syncbatch WHERE started_at <> '' AND completed_at <> ''"
        )
        slots: dict[str, float] = {}
        for worker in phase.workers:
            slots.update(worker.get("slots", {}))
        starts, ends, sent = [], [], 0
        for started, completed, success, correlation_id in batches:
            start = iso_seconds(started)
            starts.append(start)
            ends.append(iso_seconds(completed))
            sent += success
            if correlation_id in slots:
                phase.slot_delays_ms.append((start - slots[correlation_id]) * 1000)
        phase.starts = starts
        phase.sent_contacts = sent
        if starts:
            phase.first_start, phase.last_end = min(starts), max(ends)
        phase.sandbox = self.sandbox_call("GET", "stats")

    # -- workers ---------------------------------------------------------------------------

    def run_workers(
        self,
        label: str,
        workers: int,
        *,
        concurrency: int = 4,
        limit: int = HUGE,
        interval_ms: int = 10_000,
        mode: str = "crmsync",
        timeout: float = 600.0,
        sample_every: float = 1.0,
        profile: Path | None = None,
        profile_gil: bool = False,
    ) -> Phase:
        """Start ``workers`` worker processes, let them go together, wait for them."""
        prefix = f"crmsync-bench:{self.run_id}:{label}"
        self.prefixes.append(prefix)
        env = {
            **self.env,
            **common.crmsync_settings(
                redis_key_prefix=prefix,
                rate_limit_max=limit,
                rate_limit_interval_seconds=interval_ms / 1000,
                rate_limit_daily=0,
                concurrency=concurrency,
            ),
        }
        folder = self.tmp / label
        folder.mkdir()
        go = folder / "go"
        procs = []
        for n in range(workers):
            command = ["-m", WORKER, "--mode", mode, "--go", str(go)]
            command += ["--ready", str(folder / f"ready-{n}")]
            command += ["--result", str(folder / f"result-{n}.json")]
            command += ["--timeout", str(timeout)]
            if limit < HUGE:
                command.append("--slots")
            procs.append(common.start_python(command, env))
        pids = [self.wait_ready(folder / f"ready-{n}", procs[n]) for n in range(workers)]
        spy = None
        if profile is not None:
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pids[0])]
                + ["--format", "raw", "--output", str(profile), "--rate", "250", "--function"]
                + ["--nonblocking"]
                + (["--gil"] if profile_gil else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # let py-spy attach before the clock starts
        meter = CpuMeter(self.cpu_group(pids, spy.pid if spy else None))
        go.touch()
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        timed_out = False
        next_sample = next_meter = started
        while any(p.poll() is None for p in procs):
            now = time.monotonic()
            if now >= next_sample:
                rss = common.rss_mb(pids[0])
                if rss is not None:
                    samples.append((now - started, rss))
                next_sample += sample_every
            if now >= next_meter:
                meter.sample()
                next_meter += 0.25
            if now - started > timeout + 5:
                timed_out = True
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                break
            time.sleep(min(0.05, max(0.0, next_sample - time.monotonic())))
        wall = time.monotonic() - started
        meter.sample()
        for p in procs:
            p.wait(timeout=30)
        if spy is not None:
            spy.wait(timeout=60)
        results = []
        for n in range(workers):
            path = folder / f"result-{n}.json"
            if path.exists():
                results.append(json.loads(path.read_text()))
        cpu = meter.seconds()
        # The workers' own count is exact; sampling misses what they use after the last sample.
        if len(results) == workers:
            cpu["workers"] = sum(r.get("cpu_seconds", 0.0) for r in results)
        phase = Phase(label, results, wall, samples, timed_out=timed_out, cpu=cpu)
        phase.timed_out = timed_out or any(r.get("timed_out") for r in results)
        phase.failed = sorted({p.returncode for p in procs if p.returncode} - {-signal.SIGTERM})
        if timed_out:
            self.log(f"{label}: stopped the workers after {timeout:.0f} s")
        if not timed_out and (phase.failed or len(results) < workers):
            phase.failed = phase.failed or [0]
            self.log(f"{label}: a worker failed (exit codes {phase.failed}); see its traceback")
        self.collect(phase)
        return phase

    def cpu_group(self, workers: Sequence[int], spy: int | None) -> Callable[[int, str], str]:
        database = common.database_name(self.args.database_url)
        sandbox = self.sandbox.pid if self.sandbox else -1
        me = os.getpid()

        def group(pid: int, cmdline: str) -> str:
            if pid in workers:
                return "workers"
            if pid == sandbox:
                return "sandbox"
            if pid in (me, spy):
                return "bench"
            if cmdline.startswith("postgres"):
                return "PostgreSQL" if f" {database} " in cmdline else "PostgreSQL, other"
            if "redis-server" in cmdline:
                return "Redis"
            return "others"

        return group

    def wait_ready(self, path: Path, proc: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + 120
        while not path.exists() or not path.read_text():
            if proc.poll() is not None:
                raise SystemExit(f"a worker exited during setup (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise SystemExit("a worker did not get ready in 120 s")
            time.sleep(0.01)
        return int(path.read_text())


def iso_seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"{memory:.0f} GiB, Python {platform.python_version()}"
    )


# -- the four parts ------------------------------------------------------------------------

Summary = list[tuple[str, str, str]]
CPU_GROUPS = ("workers", "sandbox", "PostgreSQL", "Redis", "PostgreSQL, other", "others", "bench")


def cpu_table(runs: Sequence[tuple[str, Phase]]) -> list[str]:
    """Average cores busy per group over each run (2.00 = this whole machine)."""
    rows = []
    for label, phase in runs:
        wall = max(phase.wall, 1e-9)
        rows.append(
            [label, f"{phase.cpu.get('machine', 0) / wall:.2f}"]
            + [f"{phase.cpu.get(g, 0) / wall:.2f}" for g in CPU_GROUPS]
        )
    lines = [
        "   CPU, in cores busy on average over the run (the machine has "
        f"{os.cpu_count()}; 'others' = processes outside this benchmark):"
    ]
    return lines + ["   " + line for line in table(["run", "machine", *CPU_GROUPS], rows)]


def part_unlimited(bench: Bench, summary: Summary) -> tuple[list[str], dict[int, Phase]]:
    args = bench.args
    rows = args.unlimited_rows
    out = [
        f"2. UNLIMITED, ONE WORKER PROCESS: {rows:,} rows per run; sandbox and crmsync limits "
        f"{HUGE:,} requests per 10 s"
    ]
    phases: dict[int, Phase] = {}
    table_rows = []
    for concurrency in args.concurrency:
        bench.sandbox_limits(HUGE, 10_000)
        bench.prepare(rows, f"{bench.run_id}-u{concurrency}")
        phase = bench.run_workers(
            f"unlimited-{concurrency}", 1, concurrency=concurrency, timeout=max(300.0, rows / 200)
        )
        phases[concurrency] = phase
        bench.log(f"unlimited, CONCURRENCY={concurrency}: {phase.rate:,.0f} contacts/s")
        table_rows.append(
            [
                str(concurrency),
                fmt(phase.rate),
                fmt(phase.cpu_us_per_contact),
                f"{phase.queries_per_batch:.2f}",
                fmt(phase.peak_rss_mb, 1),
                status(phase),
                verdict(phase.rate, TARGET_CONTACTS_PER_SECOND, True, " c/s"),
                verdict(phase.queries_per_batch, TARGET_QUERIES_PER_BATCH, False),
            ]
        )
        summary.append(
            (
                f"(2) >= 9,500 contacts/s, one worker, CONCURRENCY={concurrency}",
                fmt(phase.rate),
                verdict(phase.rate, TARGET_CONTACTS_PER_SECOND, True, " c/s"),
            )
        )
    out += table(
        [
            "CONCURRENCY",
            "contacts/s",
            "worker CPU us/contact",
            "queries/batch",
            "peak RSS MB",
            "synced",
            "target >= 9,500 c/s",
            "target <= 8 q/batch",
        ],
        table_rows,
    )
    worst = max(p.queries_per_batch for p in phases.values())
    summary.append(("(2) <= 8 queries per batch", f"{worst:.2f}", verdict(worst, 8.0, False)))
    fastest = max(phases, key=lambda c: phases[c].rate)
    best = phases[fastest]
    batches = best.total("batches")
    seconds: dict[str, float] = {}
    for worker in best.workers:
        for kind, value in worker.get("query_seconds", {}).items():
            seconds[kind] = seconds.get(kind, 0.0) + value
    out.append(
        f"   statements per batch, by kind, and the worker's wall time in them per batch "
        f"(CONCURRENCY={fastest}):"
    )
    for kind, n in sorted(best.queries.items(), key=lambda kv: -kv[1]):
        ms = 1000 * seconds.get(kind, math.nan) / batches
        out.append(f"     {n / batches:6.2f}  {ms:6.2f} ms  {kind}")
    out += cpu_table([(f"CONCURRENCY={c}", p) for c, p in phases.items()])
    return out, phases


def part_rate_limited(bench: Bench, summary: Summary, capacity: float) -> list[str]:
    args = bench.args
    limit, interval_ms = args.limit, args.interval_ms
    ceiling = limit * 1000 / interval_ms * BATCH
    rows = args.windows * limit * BATCH
    out = [
        f"1. RATE-LIMITED: sandbox window {limit} requests / {interval_ms} ms; crmsync "
        f"RATE_LIMIT_MAX={limit}, RATE_LIMIT_INTERVAL_SECONDS={interval_ms / 1000:g}, "
        f"CONCURRENCY={args.rl_concurrency} per worker; {rows:,} rows per run "
        f"({args.windows} windows at the ceiling); ceiling {fmt(ceiling)} contacts/s"
    ]
    if capacity and ceiling > 0.9 * capacity:
        out.append(
            f"   NOTE: the ceiling is near or above what one worker reached with no limit at "
            f"all ({fmt(capacity)} contacts/s, part 2): the share below then measures this "
            "machine more than the limiter."
        )
    table_rows = []
    runs = []
    for workers in args.workers:
        bench.sandbox_limits(limit, interval_ms)
        bench.prepare(rows, f"{bench.run_id}-rl{workers}")
        phase = bench.run_workers(
            f"rl-{workers}",
            workers,
            concurrency=args.rl_concurrency,
            limit=limit,
            interval_ms=interval_ms,
            timeout=max(120.0, rows / ceiling * 6),
        )
        runs.append((f"{workers} worker(s)", phase))
        per_request = phase.sent_contacts / len(phase.starts) if phase.starts else math.nan
        rate = windowed_rate(phase.starts, limit, per_request)
        share = 100 * rate / ceiling
        limited = int(phase.sandbox.get("rate_limited_total", 0))
        bench.log(f"rate-limited, {workers} worker(s): {rate:,.0f} contacts/s, {limited} x 429")
        if phase.failed or math.isnan(share):
            target = "n/a: the run failed"
            if workers >= 2:
                summary.append((f"(1) {workers} workers ({limit}/{interval_ms} ms)", "n/a", target))
        elif workers >= 2:
            misses = []
            if share < TARGET_CEILING_SHARE:
                misses.append(f"{TARGET_CEILING_SHARE - share:.1f} points short")
            if limited:
                misses.append(f"{limited} x 429")
            target = "MISSED: " + ", ".join(misses) if misses else "met"
            summary.append(
                (
                    f"(1) >= 95 % of ceiling, 0 x 429, {workers} workers "
                    f"({limit}/{interval_ms} ms)",
                    f"{share:.1f} %, {limited} x 429",
                    target,
                )
            )
        else:
            target = "(no target for 1 worker)"
        table_rows.append(
            [
                str(workers),
                fmt(rate),
                f"{share:.1f} %",
                str(limited),
                str(phase.sandbox.get("max_requests_in_window", "?")),
                delays(phase.slot_delays_ms, headroom_ms(interval_ms)),
                fmt(phase.rate),
                f"{phase.span:.1f}",
                status(phase),
                target,
            ]
        )
    out += table(
        [
            "workers",
            "contacts/s",
            "of ceiling",
            "429s",
            "most in a window",
            "slot->sandbox ms p50/p99/max, > headroom",
            "first->last c/s",
            "span s",
            "synced",
            "target >= 95 %, 0 x 429 (2+ workers)",
        ],
        table_rows,
    )
    out += cpu_table(runs)
    return out


def part_naive(bench: Bench, unlimited: dict[int, Phase], summary: Summary) -> list[str]:
    rows = bench.args.naive_rows
    bench.sandbox_limits(HUGE, 10_000)
    bench.prepare(rows, f"{bench.run_id}-naive")
    phase = bench.run_workers("naive", 1, mode="naive", timeout=max(300.0, rows / 20))
    rate = phase.synced / max(phase.total("elapsed"), 1e-9)
    bench.log(f"naive: {rate:,.0f} contacts/s")
    out = [
        f"3. NAIVE BASELINE: one contact per request (single-input batch/create, keep-alive "
        f"session), one UPDATE per row, {rows:,} rows"
    ]
    cells = [
        [
            "naive",
            fmt(rate),
            fmt(phase.cpu_us_per_contact),
            f"{sum(phase.queries.values()) / max(phase.synced, 1):.3f}",
            "1.0 x",
        ]
    ]
    for concurrency, p in sorted(unlimited.items()):
        cells.append(
            [
                f"crmsync, CONCURRENCY={concurrency}",
                fmt(p.rate),
                fmt(p.cpu_us_per_contact),
                f"{sum(p.queries.values()) / max(p.synced, 1):.3f}",
                f"{p.rate / rate:.1f} x" if rate else "n/a",
            ]
        )
    out += table(["", "contacts/s", "worker CPU us/contact", "queries/contact", "vs naive"], cells)
    out += cpu_table([("naive", phase)])
    if unlimited and rate:
        best = max(unlimited.values(), key=lambda p: p.rate)
        summary.append(("(3) crmsync / naive (no target)", f"{best.rate / rate:.1f} x", ""))
    return out


def part_drain(bench: Bench, summary: Summary) -> list[str]:
    args = bench.args
    rows = args.drain_rows
    bench.sandbox_limits(HUGE, 10_000)
    bench.prepare(rows, f"{bench.run_id}-drain")
    phase = bench.run_workers(
        "drain", 1, concurrency=args.drain_concurrency, timeout=args.drain_timeout
    )
    rss = [mb for _, mb in phase.rss_mb]
    start = rss[0] if rss else math.nan
    peak = max(rss) if rss else math.nan
    end = rss[-1] if rss else math.nan
    growth = peak - start
    bench.log(f"drain: {phase.rate:,.0f} contacts/s, RSS growth {growth:.1f} MB")
    stopped = " (stopped at --drain-timeout)" if phase.timed_out else ""
    stopped = " WORKER FAILED" if phase.failed else stopped
    out = [
        f"4. MEMORY WHILE DRAINING {rows:,} ROWS: one worker process, "
        f"CONCURRENCY={args.drain_concurrency}, unlimited; worker RSS sampled every second"
    ]
    out += table(
        [
            "rows synced",
            "contacts/s",
            "seconds",
            "RSS start MB",
            "RSS peak MB",
            "RSS end MB",
            "growth MB",
            "target < 50 MB",
        ],
        [
            [
                f"{phase.synced:,}{stopped}",
                fmt(phase.rate),
                f"{phase.span:.0f}",
                fmt(start, 1),
                fmt(peak, 1),
                fmt(end, 1),
                fmt(growth, 1),
                verdict(growth, TARGET_MEMORY_GROWTH_MB, False, " MB"),
            ]
        ],
    )
    if len(rss) >= 10:
        tenths = [rss[i * (len(rss) - 1) // 10] for i in range(11)]
        out.append("   RSS at each tenth of the run, MB: " + " ".join(f"{x:.1f}" for x in tenths))
    out += cpu_table([("drain", phase)])
    summary.append(
        (
            f"(4) RSS growth < 50 MB draining {rows:,} rows",
            f"{growth:.1f} MB",
            verdict(growth, TARGET_MEMORY_GROWTH_MB, False, " MB"),
        )
    )
    return out


def part_profile(bench: Bench, mode: str) -> list[str]:
    """py-spy one unlimited worker: ``active`` samples every thread that is not idle (where
    the threads spend their time, waits on PostgreSQL and Redis included); ``gil`` only the
    thread holding the GIL (where the worker's CPU goes)."""
    args = bench.args
    rows = args.unlimited_rows
    bench.sandbox_limits(HUGE, 10_000)
    bench.prepare(rows, f"{bench.run_id}-profile-{mode}")
    path = bench.tmp / f"profile-{mode}.txt"
    gil = mode == "gil"
    phase = bench.run_workers(
        f"profile-{mode}",
        1,
        concurrency=args.profile_concurrency,
        timeout=600.0,
        profile=path,
        profile_gil=gil,
    )
    what = "samples of the thread holding the GIL (CPU)" if gil else "samples of non-idle threads"
    out = [
        f"PROFILE ({mode}): py-spy, 250 Hz, non-blocking, {what}; one unlimited worker, "
        f"CONCURRENCY={args.profile_concurrency}, {phase.synced:,} rows, "
        f"{fmt(phase.rate)} contacts/s while profiled"
    ]
    if not path.exists():
        return [*out, "   (py-spy wrote no profile: is it installed, and may it ptrace?)"]
    if args.keep_profile:
        kept = f"{args.keep_profile}.{mode}.txt"
        shutil.copy(path, kept)
        out.append(f"   raw profile kept in {kept}")
    return out + ["   " + line for line in profile_report(read_profile(path))]


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="crmsync throughput, database cost and memory against the sandbox."
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes: a smoke test of every part")
    add("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    add("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    add("--parts", default="1,2,3,4", help="parts to run, e.g. 2,3 (default all)")
    add("--limit", type=int, default=None, help="part 1: requests per window (100)")
    add("--interval-ms", type=int, default=None, help="part 1: window length (5000)")
    add("--windows", type=int, default=None, help="part 1: rows for this many windows (8)")
    add("--workers", default="1,2,4", help="part 1: worker processes to try")
    add("--rl-concurrency", type=int, default=4, help="part 1: CONCURRENCY of each worker")
    add("--concurrency", default="1,2,4", help="part 2: CONCURRENCY values to try")
    add("--unlimited-rows", type=int, default=None, help="part 2: rows per run (50,000)")
    add("--naive-rows", type=int, default=None, help="part 3: rows (5,000)")
    add("--drain-rows", type=int, default=None, help="part 4: rows (1,000,000)")
    add("--drain-concurrency", type=int, default=4, help="part 4: CONCURRENCY")
    add("--drain-timeout", type=float, default=900.0, help="part 4: stop after this many s")
    add(
        "--profile",
        nargs="?",
        const="both",
        choices=("active", "gil", "both"),
        help="also py-spy one unlimited worker: non-idle threads (active), GIL holder, both",
    )
    add("--profile-concurrency", type=int, default=4)
    add("--keep-profile", default="", help="keep py-spy's raw output as PREFIX.<mode>.txt")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "limit": 20 if quick else 100,
        "interval_ms": 1000 if quick else 5000,
        "windows": 3 if quick else 8,
        "unlimited_rows": 4_000 if quick else 50_000,
        "naive_rows": 300 if quick else 5_000,
        "drain_rows": 20_000 if quick else 1_000_000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.parts = {int(p) for p in args.parts.split(",") if p}
    args.workers = [int(x) for x in args.workers.split(",") if x]
    args.concurrency = [int(x) for x in args.concurrency.split(",") if x]
    return args


def revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "crmsync"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{head}{' (crmsync/ modified)' if dirty else ''}"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    bench = Bench(args)
    started = time.monotonic()
    head: list[str] = []
    sections: dict[int, list[str]] = {}
    summary: Summary = []
    try:
        bench.setup()
        pg = bench.sql("SHOW server_version")[0][0]
        # (a cast: redis-py's annotation of info() differs between its releases)
        info = cast(dict[str, Any], bench.redis.info("server"))
        redis_version = info.get("redis_version", "?")
        head.append(
            f"crmsync throughput benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}, commit "
            f"{revision()}" + (" (--quick)" if args.quick else "")
        )
        head.append(f"machine: {machine()}")
        settings = ", ".join(
            f"{name}={bench.sql(f'SHOW {name}')[0][0]}"
            for name in ("shared_buffers", "synchronous_commit")
        )
        head.append(
            f"PostgreSQL {pg} ({settings}), Redis {redis_version}; the sandbox, PostgreSQL, "
            "Redis and the workers all share these cores, with whatever else runs here"
        )
        unlimited: dict[int, Phase] = {}
        # Part 2 runs first: part 1 compares its ceiling with what one worker can do at all.
        if args.parts & {2, 3}:
            sections[2], unlimited = part_unlimited(bench, summary)
        if 1 in args.parts:
            capacity = max((p.rate for p in unlimited.values()), default=0.0)
            sections[1] = part_rate_limited(bench, summary, capacity)
        if 3 in args.parts:
            sections[3] = part_naive(bench, unlimited, summary)
        if 4 in args.parts:
            sections[4] = part_drain(bench, summary)
        modes = ("active", "gil") if args.profile == "both" else (args.profile,)
        for n, mode in enumerate(modes if args.profile else ()):
            sections[5 + n] = part_profile(bench, mode)
    finally:
        bench.close()
    out = head
    for key in sorted(sections):
        out += ["", *sections[key]]
    out += ["", "TARGETS"]
    if args.quick:
        out.append("(--quick: sizes too small to judge the targets; a smoke test only)")
    summary.sort(key=lambda item: item[0][:3])
    out += table(["target", "measured", "verdict"], [list(s) for s in summary])
    out.append(f"(whole run {time.monotonic() - started:.0f} s)")
    print("\n".join(out))


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"throughput: {exc}")
