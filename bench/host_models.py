"""What a registered host model costs: the save path, unchanged saves, one-property updates
under the rate limit, and the backfill.

    .venv/bin/python -m bench.host_models [--quick] [--parts 1,2,3,4]

The host model is the test app's ``tests.hostapp.Customer`` (a ``Company`` ForeignKey),
registered by ``bench/host_registration/hubspot.py`` (settings ``bench.host_settings``) with
six mapped properties, one of them through ``company.name``, one a callable, one a date, and a
create-only ``lifecyclestage``. Django work happens in child processes
(``bench._host_child``, and ``bench._throughput_worker`` for the sync); this process
prepares rows with SQL, runs the sandbox and reads ``/proc``. Parts:

1. a save of a registered model against the same save without crmsync (its receivers
   disconnected): an update that changes a mapped field and one that changes nothing mapped,
   on PostgreSQL (autocommit) and SQLite; median and p90 µs, SQL statements per save;
2. ``--unchanged-saves`` (100,000) saves that change nothing mapped after a full sync:
   requests the sandbox saw (target 0);
3. one property changed on every synced row, then drained by 1, 2 and 4 rate-limited worker
   processes: share of the ceiling and 429s (target >= 95 %, 0 x 429 from 2 workers), and
   whether every request body carried only that property;
4. ``crmsync_backfill`` of ``--backfill-rows`` (1,000,000) bulk-inserted rows: rows/s and the
   command's RSS growth (target < 50 MB).

docs/benchmarks.md ("Registered host models") says how each figure is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import common
from bench._throughput_cpu import CpuMeter
from bench.throughput import (
    BATCH,
    HUGE,
    TARGET_CEILING_SHARE,
    TARGET_MEMORY_GROWTH_MB,
    Bench,
    Phase,
    cpu_table,
    fmt,
    machine,
    revision,
    table,
    verdict,
    windowed_rate,
)

CHILD = "bench._host_child"
SETTINGS = "bench.host_settings"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_bench_host"
HOST_TABLES = ("hostapp_customer", "hostapp_company")
CRMSYNC_TABLES = ("crmsync_syncattempt", "crmsync_syncbatch", "crmsync_contact")
CHANGED_PROPERTY = "jobtitle"  # the registration maps it from Customer.plan
TARGET_SAVE_QUERIES = 2  # the issue: at most 2 queries on the request path
TARGET_UNCHANGED_REQUESTS = 0


class HostBench(Bench):
    """``bench.throughput``'s harness (sandbox, workers, CPU meter) with the host settings."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.queue = f"crmsync-bench-host-{self.run_id}"
        self.env["DJANGO_SETTINGS_MODULE"] = SETTINGS
        self.env["BENCH_CELERY_QUEUE"] = self.queue

    def close(self) -> None:
        # The nudges the saves published: a list under the queue's name, and its binding.
        with contextlib.suppress(Exception):
            self.redis.delete(
                self.queue,
                f"_kombu.binding.{self.queue}",
                f"_kombu.binding_permanent.{self.queue}",
            )
        super().close()

    def truncate(self) -> None:
        self.sql(f"TRUNCATE {', '.join((*CRMSYNC_TABLES, *HOST_TABLES))} RESTART IDENTITY")

    def insert_customers(self, rows: int, tag: str) -> None:
        """``rows`` host rows in one statement, spread over 100 companies; no mirrors."""
        started = time.monotonic()
        self.sql(
            "INSERT INTO hostapp_company (name) "
            "SELECT 'Company ' || g FROM generate_series(1, 100) AS g"
        )
        self.sql(
            "INSERT INTO hostapp_customer "
            "(email, first_name, last_name, company_id, plan, signed_up, is_active) "
            "SELECT 'host-' || %(tag)s || '-' || g || '@example.com', 'Ada', 'Lovelace ' || g, "
            "(SELECT min(id) FROM hostapp_company) + g %% 100, 'free', "
            "date '2024-01-01' + (g %% 365), true FROM generate_series(1, %(rows)s) AS g",
            {"tag": tag, "rows": rows},
        )
        self.sql("ANALYZE hostapp_customer")
        self.log(f"inserted {rows:,} host rows in {time.monotonic() - started:.1f} s")

    def sandbox_window(self, limit: int, interval_ms: int) -> None:
        """Set the sandbox's window without emptying its store (``sandbox_limits`` would)."""
        self.sandbox_call(
            "POST",
            "config",
            {"rate_limit_max": limit, "rate_limit_interval_ms": interval_ms, "daily_limit": HUGE},
        )

    def child(
        self,
        label: str,
        mode: str,
        options: Sequence[str] = (),
        env: dict[str, str] | None = None,
        timeout: float = 3600,
        rss_every: float = 0.0,
    ) -> tuple[dict[str, Any], Phase]:
        """Run ``bench._host_child MODE``: start it, let it prepare, start the CPU meter, let it
        go, wait. Its JSON result and a Phase with the CPU by group (and RSS samples)."""
        folder = self.tmp / label
        folder.mkdir()
        ready, go, result = folder / "ready", folder / "go", folder / "result.json"
        command = ["-m", CHILD, mode, "--ready", str(ready), "--go", str(go)]
        command += ["--result", str(result), *options]
        # Its output (the backfill's progress line, warnings) goes to a log, kept on failure.
        log = folder / "output.log"
        proc = common.start_python(command, env or self.env, log)
        pid = self.wait_ready(ready, proc)
        meter = CpuMeter(self.cpu_group([pid], None))
        go.touch()
        started = time.monotonic()
        samples: list[tuple[float, float]] = []
        next_sample = next_meter = started
        while proc.poll() is None:
            now = time.monotonic()
            if rss_every and now >= next_sample:
                rss = common.rss_mb(pid)
                if rss is not None:
                    samples.append((now - started, rss))
                next_sample += rss_every
            if now >= next_meter:
                meter.sample()
                next_meter += 0.25
            if now - started > timeout:
                common.stop([proc], 10)
                raise common.BenchError(f"{label}: stopped after {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.monotonic() - started
        meter.sample()
        if proc.returncode != 0 or not result.exists():
            tail = log.read_text(errors="replace")[-3000:]
            raise common.BenchError(f"{label}: the child failed ({proc.returncode}):\n{tail}")
        answer: dict[str, Any] = json.loads(result.read_text())
        cpu = meter.seconds()
        cpu["workers"] = answer.get("cpu_seconds", cpu.get("workers", 0.0))
        return answer, Phase(label, [answer], wall, samples, cpu=cpu)


Summary = list[tuple[str, str, str]]


# -- 1. the save path ----------------------------------------------------------------------


def part_saves(bench: HostBench, summary: Summary) -> list[str]:
    args = bench.args
    out = [
        f"1. SAVE PATH: Customer.save() of an existing row, {args.save_reps:,} timed saves per "
        f"case (after {args.save_round} of warm-up), in rounds of {args.save_round} with the "
        "cases shuffled, each case on its own 200 rows; 'without crmsync' = crmsync's "
        "receivers disconnected. Autocommit (no transaction), as a view without ATOMIC_REQUESTS."
    ]
    runs: list[tuple[str, Phase]] = []
    rows = []
    sqlite_url = f"sqlite:///{bench.tmp / 'saves.sqlite3'}"
    for name, url in (("PostgreSQL", args.database_url), ("SQLite", sqlite_url)):
        env = {**bench.env, "DATABASE_URL": url}
        if url == args.database_url:
            bench.truncate()
        else:
            common.migrate(env)
        options = ["--reps", str(args.save_reps), "--round", str(args.save_round)]
        if name == "PostgreSQL":
            options.append("--broker")
        result, phase = bench.child(f"saves-{name}", "saves", options, env=env)
        runs.append((name, phase))
        cases = result["cases"]
        for kind in ("mapped", "nothing mapped"):
            base = cases[f"{kind}, without crmsync"]
            variants = [k for k in cases if k.startswith(f"{kind}, registered")]
            for variant in variants:
                case = cases[variant]
                added_q = case["queries"] - base["queries"]
                target = verdict(case["queries"], TARGET_SAVE_QUERIES, False, " queries")
                rows.append(
                    [
                        name,
                        variant,
                        f"{base['median_us']:.0f} / {base['p90_us']:.0f}",
                        f"{case['median_us']:.0f} / {case['p90_us']:.0f}",
                        f"+{case['median_us'] - base['median_us']:.0f} / "
                        f"+{case['p90_us'] - base['p90_us']:.0f}",
                        f"{base['queries']:.2f} -> {case['queries']:.2f} (+{added_q:.2f})",
                        f"{case['nudges_per_save']:.2f}",
                        target,
                    ]
                )
                if name == "PostgreSQL" and variant.endswith("no broker"):
                    summary.append(
                        (
                            "(1) save of a registered model, mapped change, PostgreSQL",
                            f"+{case['median_us'] - base['median_us']:.0f} µs median, "
                            f"{case['queries']:.0f} queries",
                            f"<= {TARGET_SAVE_QUERIES} queries: {target}",
                        )
                    )
    out += table(
        [
            "database",
            "case",
            "without crmsync µs p50 / p90",
            "registered µs p50 / p90",
            "added µs p50 / p90",
            "queries per save",
            "nudges/save",
            f"target <= {TARGET_SAVE_QUERIES} queries",
        ],
        rows,
    )
    out += cpu_table(runs)
    return out


# -- 2. unchanged saves --------------------------------------------------------------------


def part_unchanged(bench: HostBench, summary: Summary) -> list[str]:
    args = bench.args
    bench.sandbox_limits(HUGE, 10_000)
    bench.truncate()
    bench.insert_customers(args.unchanged_rows, f"{bench.run_id}-unchanged")
    result, phase = bench.child(
        "unchanged", "unchanged", ["--saves", str(args.unchanged_saves)], timeout=3600
    )
    requests = int(result["requests"])
    target = verdict(requests, TARGET_UNCHANGED_REQUESTS, False, " requests")
    summary.append(
        (
            f"(2) {result['saves']:,} saves changing nothing mapped",
            f"{requests} requests",
            f"0: {target}",
        )
    )
    per_save = result["save_seconds"] * 1e6 / max(result["saves"], 1)
    out = [
        f"2. UNCHANGED SAVES: {result['rows']:,} host rows mirrored and synced "
        f"({result['first_sync']['synced']:,} contacts in {result['first_sync_requests']} "
        f"requests), then {result['saves']:,} saves that toggle Customer.is_active (not "
        "mapped), then sync_pending() again until nothing waits."
    ]
    out += table(
        [
            "saves",
            "µs per save",
            "nudges",
            "mirror versions bumped",
            "mirrors waiting after the saves",
            "batches of the 2nd sync",
            "requests to HubSpot",
            "target 0",
        ],
        [
            [
                f"{result['saves']:,}",
                f"{per_save:.0f}",
                str(result["nudges"]),
                str(result["mirror_versions_changed"]),
                str(result["waiting_after_saves"]),
                str(result["second_sync"]["batches"]),
                str(requests),
                target,
            ]
        ],
    )
    out += cpu_table([("unchanged saves", phase)])
    return out


# -- 3. one property changed, rate-limited ------------------------------------------------


def max_in_window(starts: Sequence[float], interval_s: float) -> int:
    s = sorted(starts)
    best = left = 0
    for right, value in enumerate(s):
        while value - s[left] >= interval_s:
            left += 1
        best = max(best, right - left + 1)
    return best


def bodies(bench: HostBench) -> tuple[dict[str, int], int, int]:
    """Requests by endpoint, inputs sent, inputs whose properties are exactly the changed one."""
    endpoints: dict[str, int] = {}
    inputs = only_changed = 0
    for endpoint, body in bench.sql("SELECT endpoint, request_body FROM crmsync_syncbatch"):
        endpoints[endpoint] = endpoints.get(endpoint, 0) + 1
        for item in json.loads(body or "{}").get("inputs", []):
            inputs += 1
            if set(item.get("properties", {})) == {CHANGED_PROPERTY}:
                only_changed += 1
    return endpoints, inputs, only_changed


def part_updates(bench: HostBench, summary: Summary) -> list[str]:
    args = bench.args
    limit, interval_ms = args.limit, args.interval_ms
    ceiling = limit * 1000 / interval_ms * BATCH
    rows = args.windows * limit * BATCH
    out = [
        f"3. ONE PROPERTY CHANGED, RATE-LIMITED: {rows:,} host rows, created in HubSpot by one "
        f"unlimited worker; then, before each run, Customer.objects.update(plan=...) and "
        f"crmsync.queue() change '{CHANGED_PROPERTY}' on every row. Sandbox window {limit} / "
        f"{interval_ms} ms = crmsync's RATE_LIMIT_MAX / _INTERVAL_SECONDS, CONCURRENCY "
        f"{args.rl_concurrency} per worker; ceiling {fmt(ceiling)} contacts/s."
    ]
    bench.sandbox_limits(HUGE, 10_000)
    bench.truncate()
    bench.insert_customers(rows, f"{bench.run_id}-updates")
    queued, _ = bench.child("updates-queue", "change", ["--plan", "free"])
    create = bench.run_workers("updates-create", 1, concurrency=4, timeout=max(600.0, rows / 200))
    bench.log(
        f"created {create.synced:,} of {queued['queued']:,} mirrors at {create.rate:,.0f} c/s"
    )
    if create.synced != rows:
        raise common.BenchError(f"the creates synced {create.synced:,} of {rows:,} rows")
    table_rows = []
    runs: list[tuple[str, Phase]] = []
    for n, workers in enumerate(args.workers):
        plan = ("pro", "team", "enterprise", "basic", "plus")[n % 5]
        bench.sandbox_window(limit, interval_ms)
        bench.sql("TRUNCATE crmsync_syncattempt, crmsync_syncbatch")
        changed, _ = bench.child(f"updates-change-{workers}", "change", ["--plan", plan])
        time.sleep(interval_ms / 1000 + 0.5)  # the last run's requests leave the window
        before = bench.sandbox_call("GET", "stats")
        phase = bench.run_workers(
            f"updates-{workers}",
            workers,
            concurrency=args.rl_concurrency,
            limit=limit,
            interval_ms=interval_ms,
            timeout=max(120.0, rows / ceiling * 6),
        )
        runs.append((f"{workers} worker(s)", phase))
        limited = int(phase.sandbox["rate_limited_total"]) - int(before["rate_limited_total"])
        per_request = phase.sent_contacts / len(phase.starts) if phase.starts else math.nan
        rate = windowed_rate(phase.starts, limit, per_request)
        share = 100 * rate / ceiling
        endpoints, inputs, only = bodies(bench)
        bench.log(f"updates, {workers} worker(s): {rate:,.0f} contacts/s, {limited} x 429")
        if workers >= 2:
            misses = []
            if not share >= TARGET_CEILING_SHARE:
                misses.append(f"{TARGET_CEILING_SHARE - share:.1f} points short")
            if limited:
                misses.append(f"{limited} x 429")
            target = "MISSED: " + ", ".join(misses) if misses else "met"
            summary.append(
                (
                    f"(3) one-property updates, {workers} workers ({limit}/{interval_ms} ms)",
                    f"{share:.1f} %, {limited} x 429",
                    f">= 95 %, 0 x 429: {target}",
                )
            )
        else:
            target = "(no target for 1 worker)"
        table_rows.append(
            [
                str(workers),
                f"{changed['queued']:,}",
                fmt(rate),
                f"{share:.1f} %",
                str(limited),
                str(max_in_window([s for s in phase.starts], interval_ms / 1000)),
                ", ".join(f"{k} {v}" for k, v in sorted(endpoints.items())),
                f"{only:,} / {inputs:,}",
                f"{phase.synced:,}",
                target,
            ]
        )
    out += table(
        [
            "workers",
            "queued",
            "contacts/s",
            "of ceiling",
            "429s",
            "most in a window",
            "requests",
            f"inputs with only {CHANGED_PROPERTY}",
            "synced",
            "target >= 95 %, 0 x 429 (2+ workers)",
        ],
        table_rows,
    )
    out += cpu_table(runs)
    return out


# -- 4. backfill ---------------------------------------------------------------------------


def part_backfill(bench: HostBench, summary: Summary) -> list[str]:
    args = bench.args
    rows = args.backfill_rows
    bench.truncate()
    bench.insert_customers(rows, f"{bench.run_id}-backfill")
    result, phase = bench.child(
        "backfill",
        "backfill",
        ["--batch-size", str(args.batch_size)],
        timeout=args.backfill_timeout,
        rss_every=0.5,
    )
    mirrors = bench.sql("SELECT count(*) FROM crmsync_contact WHERE source = 'hostapp.customer'")
    mirrored = int(mirrors[0][0])
    rate = rows / result["seconds"]
    samples = [mb for _, mb in phase.rss_mb]
    start, peak = (samples[0], max(samples)) if samples else (math.nan, math.nan)
    growth = peak - start
    target = verdict(growth, TARGET_MEMORY_GROWTH_MB, False, " MB")
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] for k in range(11)]
    summary.append(
        (
            f"(4) crmsync_backfill of {rows:,} rows",
            f"{rate:,.0f} rows/s, RSS growth {growth:.1f} MB",
            f"< {TARGET_MEMORY_GROWTH_MB:.0f} MB: {target}",
        )
    )
    out = [
        f"4. BACKFILL: manage.py crmsync_backfill hostapp.Customer --batch-size "
        f"{args.batch_size} over {rows:,} bulk-inserted host rows (no mirrors yet); RSS of the "
        "command sampled every 0.5 s from go (Django set up and connected)."
    ]
    out += table(
        [
            "rows",
            "mirrors written",
            "seconds",
            "rows/s",
            "CPU µs/row (command)",
            "RSS start -> peak MB",
            "growth MB",
            f"target < {TARGET_MEMORY_GROWTH_MB:.0f} MB",
        ],
        [
            [
                f"{rows:,}",
                f"{mirrored:,}",
                f"{result['seconds']:.1f}",
                fmt(rate),
                f"{result['cpu_seconds'] * 1e6 / rows:.0f}",
                f"{start:.1f} -> {peak:.1f}",
                f"{growth:.1f}",
                target,
            ]
        ],
    )
    out.append("   RSS by tenths of the run, MB: " + ", ".join(f"{v:.1f}" for v in tenths))
    out += cpu_table([("backfill", phase)])
    return out


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_HOST_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL; created and migrated when missing; its crmsync and hostapp tables "
        "are emptied",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", common.DEFAULT_REDIS_URL)
    )
    parser.add_argument("--quick", action="store_true", help="every part on small sizes")
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--save-reps", type=int, help="part 1: timed saves per case (3,000)")
    parser.add_argument("--save-round", type=int, default=50)
    parser.add_argument("--unchanged-rows", type=int, help="part 2: host rows (1,000)")
    parser.add_argument("--unchanged-saves", type=int, help="part 2: saves (100,000)")
    parser.add_argument("--limit", type=int, help="part 3: requests per window (100)")
    parser.add_argument("--interval-ms", type=int, help="part 3: the window (5,000)")
    parser.add_argument("--windows", type=int, help="part 3: windows at the ceiling (6)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rl-concurrency", type=int, default=4)
    parser.add_argument("--backfill-rows", type=int, help="part 4 (1,000,000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="part 4")
    parser.add_argument("--backfill-timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "save_reps": (3000, 200),
        "unchanged_rows": (1000, 200),
        "unchanged_saves": (100_000, 2000),
        "limit": (100, 20),
        "interval_ms": (5000, 1000),
        "windows": (6, 2),
        "backfill_rows": (1_000_000, 10_000),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.parts = {int(p) for p in args.parts.split(",") if p}
    args.workers = [int(w) for w in args.workers.split(",") if w]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    bench = HostBench(args)
    began = time.monotonic()
    summary: Summary = []
    report = [
        f"crmsync host-model benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {revision()}",
        f"machine: {machine()}",
        f"database: {common.redact(args.database_url)} (and SQLite for part 1), "
        f"redis: {args.redis_url}, settings {SETTINGS}",
        "",
    ]
    try:
        bench.setup()
        parts = {1: part_saves, 2: part_unchanged, 3: part_updates, 4: part_backfill}
        for number in sorted(args.parts):
            bench.log(f"part {number}")
            report += [*parts[number](bench, summary), ""]
    finally:
        bench.close()
    report.append(f"SUMMARY ({time.monotonic() - began:.0f} s)")
    report += table(["target", "measured", "verdict"], [list(row) for row in summary])
    print("\n".join(report))


if __name__ == "__main__":
    try:
        main()
    except common.BenchError as exc:
        sys.exit(f"bench.host_models: {exc}")
