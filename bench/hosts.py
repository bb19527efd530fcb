"""Several hosts on one machine: the chaos harness's run, with workers on two or three network
namespaces and faults between them (as root; docs/chaos.md, "Several hosts").

    .venv/bin/python -m bench.hosts [--hosts 3] [--contacts 10000] [--seed S]
        [--fault KIND@SECONDS[:HOST][/DURATION]]... [--skew HOST:OFFSET]
        [--no-host-faults | --compare]

Each host is a namespace (bench.netns) running ``manage.py crmsync_sync --drain`` workers,
started again whenever one exits. PostgreSQL (through a socat forwarder), a Redis of the
harness's own and the sandbox are reachable over the hosts' veth links, at their own
addresses in 10.231.<k>.0/24, so a host can be cut from any one of them. On top of
bench.chaos's HubSpot faults (5xx, 423, dropped and late answers, a neighbour eating the rate
limit) and the host project's edits, the fault plan (``--fault``, default ``DEFAULT_PLAN``):

    hubspot@T:H/D   host H cannot reach the sandbox for D s (packets dropped)
    redis@T:H/D     ... Redis;  postgres@T:H/D ... PostgreSQL
    terminate@T     pg_terminate_backend on every worker's PostgreSQL connection
    redis-restart@T the harness's Redis SIGKILLed, back empty 2 s later
    sigterm@T:H     one worker of host H stopped politely (it finishes its request)
    sigkill@T:H     one worker of host H killed

and ``--skew H:+10m``: host H's workers run with their clock that far off (libfaketime) for
the whole run. HubSpot's faults stay on until the last host fault is over (its cut healed),
with or without host faults: ``--no-host-faults`` runs the same HubSpot fault schedule for
the same time, the like-for-like baseline, and ``--compare`` runs that baseline, then the run
with host faults, and prints both side by side. Then it checks the end state with
bench.chaos's checker and prints the host faults beside the results. Exit status 1 when
anything was lost, duplicated, wrong, stale or stuck, 2 when it cannot run (not root, no
``ip netns``...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import chaos, common
from bench.chaos import IN_FLIGHT, PENDING, ChaosOptions, ChaosReport
from bench.common import BenchError, database_name, ensure_database
from bench.hosts_procs import Forwarder, HostWorkers, RedisServer, free_port, measured_skew
from bench.netns import Network, Service

HARNESS_APP = "crmsync-hosts-harness"
#: The workers' connections carry this application_name (DATABASE_URL's query, which
#: dj-database-url passes to psycopg): ``terminate`` ends theirs, not the editor's.
WORKER_APP = "crmsync-hosts-worker"
KINDS = ("hubspot", "redis", "postgres", "terminate", "redis-restart", "sigterm", "sigkill")
CUTS = ("hubspot", "redis", "postgres")
REDIS_DOWN_SECONDS = 2.0
#: The issue's run (3 hosts): each host fault at least once, spread over the first minute.
DEFAULT_PLAN = (
    "terminate@4",
    "hubspot@6:2/20",
    "sigterm@10:3",
    "redis-restart@14",
    "terminate@18",
    "postgres@22:3/20",
    "sigkill@26:1",
    "redis@30:1/10",
    "redis-restart@36",
    "sigterm@40:2",
    "terminate@44",
    "sigkill@48:3",
)
DEFAULT_SKEW = "1:+10m"


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float
    host: int = 0
    seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Fault:
        kind, sep, rest = text.partition("@")
        if not sep or kind not in KINDS:
            raise ValueError(f"{text!r}: KIND@SECONDS[:HOST][/DURATION], KIND one of {KINDS}")
        rest, _, seconds = rest.partition("/")
        at, _, host = rest.partition(":")
        fault = cls(kind, float(at), int(host or 0), float(seconds or 0))
        if kind in (*CUTS, "sigterm", "sigkill") and fault.host < 1:
            raise ValueError(f"{text!r}: {kind} needs a host (:H)")
        if kind in CUTS and fault.seconds <= 0:
            raise ValueError(f"{text!r}: a cut needs a duration (/SECONDS)")
        return fault

    def describe(self) -> str:
        if self.kind in CUTS:
            return f"host {self.host} cut from {_SERVICE_NAMES[self.kind]} for {self.seconds:g} s"
        return {
            "terminate": "pg_terminate_backend on every worker connection",
            "redis-restart": f"Redis SIGKILLed, back empty {REDIS_DOWN_SECONDS:g} s later",
            "sigterm": f"SIGTERM to a worker of host {self.host}",
            "sigkill": f"SIGKILL to a worker of host {self.host}",
        }[self.kind]


_SERVICE_NAMES = {"hubspot": "HubSpot", "redis": "Redis", "postgres": "PostgreSQL"}
#: A fault's kind -> its name in bench.chaos's table (``chaos.HOST_FAULTS``).
TABLE_NAMES = {
    "terminate": "pg_terminate_backend",
    "redis-restart": "Redis restart",
    "sigterm": "SIGTERM",
    "sigkill": "SIGKILL",
    **{kind: f"cut from {name}" for kind, name in _SERVICE_NAMES.items()},
}


def host_fault_counts(injected: Sequence[Fault], skews: int) -> dict[str, int]:
    """The host faults as bench.chaos's table counts them (a skewed host is one)."""
    counts = Counter(TABLE_NAMES[f.kind] for f in injected)
    if skews:
        counts["clock skew"] = skews
    return dict(counts)


@dataclass
class HostsOptions:
    hosts: int = 3
    workers_per_host: int = 1
    plan: list[Fault] = field(default_factory=lambda: [Fault.parse(f) for f in DEFAULT_PLAN])
    #: host -> libfaketime offset ("+10m").
    skews: dict[int, str] = field(default_factory=lambda: {1: "+10m"})
    #: bench.chaos's options: the rows, the sandbox's faults, the workers' settings.
    chaos: ChaosOptions = field(
        default_factory=lambda: ChaosOptions(sandbox_rate_limit=10, deadline_seconds=900)
    )
    #: HubSpot's faults stay on at least this long (seconds from the start); None: until the
    #: plan's last fault is over. A baseline without host faults keeps the faulty run's.
    faults_until: float | None = None

    @property
    def hubspot_faults_until(self) -> float:
        if self.faults_until is not None:
            return self.faults_until
        return plan_length(self.plan)

    def without_host_faults(self) -> HostsOptions:
        """The same run, HubSpot's faults on for as long, without a host fault or skew."""
        return replace(self, plan=[], skews={}, faults_until=self.hubspot_faults_until)

    def check(self) -> None:
        self.chaos.check()
        if not 1 <= self.hosts <= 9 or self.workers_per_host < 1:
            raise BenchError("1 to 9 hosts, at least 1 worker each")
        for fault in self.plan:
            if fault.host > self.hosts:
                raise BenchError(f"{fault.kind}@{fault.at:g}: no host {fault.host}")
        if any(h > self.hosts or h < 1 for h in self.skews):
            raise BenchError(f"--skew: hosts are 1..{self.hosts}")


def plan_length(plan: Sequence[Fault]) -> float:
    """Seconds from the start until the plan's last fault is over (a cut healed)."""
    return max((f.at + f.seconds for f in plan), default=0.0)


def phase_one_over(
    now: float, options: HostsOptions, *, pending_faults: bool, settled: bool, editing: bool
) -> bool:
    """Whether HubSpot's faults go off now: the edits are done and either every row is
    settled or every host fault is over and the HubSpot faults' time (the same with or
    without host faults) is up."""
    if editing:
        return False
    return settled or (not pending_faults and now >= options.hubspot_faults_until)


@dataclass
class Injected:
    """One host fault as it happened."""

    at: float
    fault: Fault
    result: str


@dataclass
class HostsReport:
    chaos: ChaosReport
    hosts: int = 0
    workers_per_host: int = 0
    injected: list[Injected] = field(default_factory=list)
    not_injected: list[Fault] = field(default_factory=list)
    skews: dict[int, str] = field(default_factory=dict)
    #: host -> seconds its clock read ahead of the harness's, measured at the start.
    measured_skews: dict[int, float] = field(default_factory=dict)
    worker_exits: dict[str, int] = field(default_factory=dict)
    worker_starts: int = 0
    cut_method: str = ""

    @property
    def wrong(self) -> int:
        failed_in_hubspot = sum(1 for p in self.chaos.problems if p.what == "failed row in HubSpot")
        return self.chaos.wrong_id + failed_in_hubspot + self.chaos.orphans

    @property
    def stale(self) -> int:
        return sum(1 for p in self.chaos.problems if p.what == "wrong data")

    @property
    def ok(self) -> bool:
        return self.chaos.ok


class _Run:
    """What one run holds while faults are injected."""

    def __init__(self, options: HostsOptions, net: Network, redis: RedisServer) -> None:
        self.options = options
        self.net = net
        self.redis = redis
        self.workers: HostWorkers | None = None
        self.heal_at: list[tuple[float, int, Service]] = []
        self.pg = common.connect(_with_app(options.chaos.database_url))

    def inject(self, fault: Fault, now: float) -> str:
        if fault.kind in CUTS:
            service = self._service(fault.kind)
            self.net.cut(fault.host, service)
            self.heal_at.append((now + fault.seconds, fault.host, service))
            return f"{self.net.how_cut()} to {service.address}:{service.port}"
        if fault.kind == "terminate":
            row = self.pg.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND application_name LIKE %s",
                [database_name(self.options.chaos.database_url), f"{WORKER_APP}%"],
            ).fetchone()
            return f"{row[0] if row else 0} connections terminated"
        if fault.kind == "redis-restart":
            self.redis.restart(REDIS_DOWN_SECONDS)
            return "restarted empty"
        assert self.workers is not None
        signum = signal.SIGTERM if fault.kind == "sigterm" else signal.SIGKILL
        pid = self.workers.signal(fault.host, signum)
        return f"pid {pid}" if pid else "no worker running on that host: none signalled"

    def _service(self, kind: str) -> Service:
        return {
            "hubspot": self.net.sandbox,
            "redis": self.net.redis,
            "postgres": self.net.postgres,
        }[kind]

    def heal_due(self, now: float, everything: bool = False) -> None:
        for item in list(self.heal_at):
            if everything or now >= item[0]:
                self.net.heal(item[1], item[2])
                self.heal_at.remove(item)

    def close(self) -> None:
        self.heal_due(0, everything=True)
        if self.workers is not None:
            self.workers.stop()
        self.pg.close()


def _with_app(url: str) -> str:
    """The harness's own connections carry an application_name, so ``terminate`` spares them."""
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}application_name={HARNESS_APP}"


def _worker_env(
    options: HostsOptions, net: Network, redis: RedisServer, prefix: str
) -> dict[str, str]:
    sandbox_url = f"http://{net.sandbox.address}:{net.sandbox.port}"
    env = chaos.child_env(options.chaos, sandbox_url, prefix)
    parts = urlsplit(options.chaos.database_url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@" if auth else ""
    env["DATABASE_URL"] = (
        f"{parts.scheme}://{netloc}{net.postgres.address}:{net.postgres.port}{parts.path}"
        f"?application_name={WORKER_APP}"
    )
    env["REDIS_URL"] = redis.url
    return env


def run_hosts(options: HostsOptions) -> HostsReport:
    """One whole run; ``report.ok`` is the verdict. Raises BenchError when it cannot run."""
    options.check()
    copts = options.chaos
    started = time.monotonic()
    work = copts.work_dir or Path(tempfile.mkdtemp(prefix="crmsync-hosts-"))
    work.mkdir(parents=True, exist_ok=True)
    copts = replace(copts, work_dir=work)
    report = HostsReport(
        ChaosReport(seed=copts.seed, workers=options.hosts * options.workers_per_host),
        hosts=options.hosts,
        workers_per_host=options.workers_per_host,
        skews=dict(options.skews),
    )
    report.chaos.work_dir = str(work)
    say = copts.progress or (lambda _line: None)
    prefix = f"crmsync-hosts-{uuid.uuid4().hex[:12]}"
    ensure_database(copts.database_url)
    common.migrate(chaos.child_env(copts))
    rows, seeded = chaos.plan_rows(copts)
    report.chaos.rows = len(rows)
    report.chaos.kinds = dict(Counter(r.kind for r in rows))

    with contextlib.ExitStack() as stack:
        net = stack.enter_context(Network(options.hosts))
        report.cut_method = net.how_cut()
        pg_target = urlsplit(copts.database_url)
        pg_address = (pg_target.hostname or "127.0.0.1", pg_target.port or 5432)
        net.set_port(net.postgres, pg_address[1])
        net.set_port(net.redis, free_port())
        names = ", ".join(net.namespace(n) for n in range(1, options.hosts + 1))
        say(f"hosts {names} on {net.subnet}.0/24")
        for host, offset in options.skews.items():
            report.measured_skews[host] = measured_skew(net, host, offset)
        stack.callback(Forwarder(net.postgres, pg_address, work / "socat-postgres.log").stop)
        redis = RedisServer(net.redis, work / "redis.log")
        stack.callback(redis.stop)
        copts = replace(copts, redis_url=redis.loopback_url)
        # The sandbox listens on loopback only (it refuses any other address): a second
        # forwarder puts it on the bridge.
        sandbox = chaos.start_sandbox(copts, chaos.child_env(copts), work)
        stack.callback(sandbox.stop)
        sandbox_port = int(urlsplit(sandbox.url).port or 0)
        net.set_port(net.sandbox, sandbox_port)
        forwarder = Forwarder(net.sandbox, ("127.0.0.1", sandbox_port), work / "socat-hubspot.log")
        stack.callback(forwarder.stop)
        run = _Run(options, net, redis)
        stack.callback(run.close)
        final, records, stats = _run_phases(
            options, copts, run, sandbox, rows, seeded, prefix, report
        )
    chaos.analyse(report.chaos, rows, final["contacts"], records)
    c = report.chaos
    c.attempt_outcomes = dict(final.get("attempt_outcomes") or {})
    c.workers_killed = sum(1 for i in report.injected if i.fault.kind == "sigkill")
    c.host_faults = host_fault_counts([i.fault for i in report.injected], len(report.skews))
    c.requests = int(stats.get("requests_total", 0))
    c.faults = chaos._fault_counts(stats)
    by_endpoint = stats.get("requests_by_endpoint") or {}
    c.rate_limited_workers = sum(
        int(codes.get("429", 0)) for name, codes in by_endpoint.items() if name != "companies.get"
    )
    c.wall_seconds = time.monotonic() - started
    return report


def _run_phases(
    options: HostsOptions,
    copts: ChaosOptions,
    run: _Run,
    sandbox: common.Sandbox,
    rows: Sequence[chaos.PlannedRow],
    seeded: Sequence[dict[str, str]],
    prefix: str,
    report: HostsReport,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    say = copts.progress or (lambda _line: None)
    work = Path(report.chaos.work_dir)
    env = chaos.child_env(copts)
    for start in range(0, len(seeded), 500):
        sandbox.post("contacts", {"contacts": list(seeded[start : start + 500])})
    rows_file = work / "rows.json"
    rows_file.write_text(json.dumps([r.fields for r in rows]), encoding="utf-8")
    filled = json.loads(common.run_python(["-m", chaos.CHILD, "fill", str(rows_file)], env, 600))
    counter = chaos.StatusCounter(_with_app(copts.database_url), filled["table"])
    say(f"{len(rows):,} rows in the database, {len(seeded)} contacts in HubSpot")
    editor_env = chaos.child_env(copts, sandbox.url, prefix)
    neighbour = None
    editor = None
    try:
        t0 = time.monotonic()
        deadline = t0 + copts.deadline_seconds
        run.workers = HostWorkers(
            run.net,
            options.workers_per_host,
            _worker_env(options, run.net, run.redis, prefix),
            work,
            skews=options.skews,
        )
        if copts.neighbour:
            neighbour = chaos.Neighbour(sandbox.url, copts.sandbox_rate_limit // 2, copts.seed)
            neighbour.start()
        editor = chaos._start_editor(copts, rows, editor_env, work)
        plan = sorted(options.plan, key=lambda f: f.at)
        last_note = 0.0
        # Phase 1: HubSpot's faults on, the host faults at their times, edits meanwhile.
        while time.monotonic() < deadline:
            now = time.monotonic() - t0
            while plan and plan[0].at <= now:
                fault = plan.pop(0)
                result = run.inject(fault, now)
                report.injected.append(Injected(round(now, 1), fault, result))
                say(f"[{now:6.1f} s] {fault.describe()}: {result}")
            run.heal_due(now)
            run.workers.tend()
            counts = counter.counts()
            if now - last_note >= 5:
                last_note = now
                say(chaos._progress_line(now, counts, report.chaos.workers_killed))
            editing = editor is not None and editor.poll() is None
            settled = counts[PENDING] + counts[IN_FLIGHT] == 0
            pending_faults = bool(plan or run.heal_at)
            if phase_one_over(
                now, options, pending_faults=pending_faults, settled=settled, editing=editing
            ):
                break
            time.sleep(0.2)
        report.not_injected = plan
        report.chaos.kill_phase_seconds = time.monotonic() - t0
        if editor is not None:
            common.stop([editor], 30)
            report.chaos.edits = chaos._edit_counts(work / "edits.json")
        if neighbour is not None:
            neighbour.halt.set()
            neighbour.join(15)
        run.heal_due(0, everything=True)
        sandbox.post(
            "config",
            {
                "fault_5xx_rate": 0,
                "fault_423_rate": 0,
                "drop_after_commit_rate": 0,
                "slow_after_commit_rate": 0,
            },
        )
        say(f"host and HubSpot faults off after {report.chaos.kill_phase_seconds:.0f} s; settling")
        # Phase 2: every link healed; leases of stopped workers expire and are taken back.
        settle_started = time.monotonic()
        while time.monotonic() < deadline:
            run.workers.tend()
            counts = counter.counts()
            if counts[PENDING] + counts[IN_FLIGHT] == 0:
                report.chaos.converged = True
                break
            now = time.monotonic() - t0
            if now - last_note >= 5:
                last_note = now
                say(chaos._progress_line(now, counts, report.chaos.workers_killed))
            time.sleep(0.3)
        report.chaos.settle_seconds = time.monotonic() - settle_started
        run.workers.stop()
        report.worker_exits = dict(run.workers.exits)
        report.worker_starts = run.workers.starts
        dump_file = work / "dump.json"
        common.run_python(["-m", chaos.CHILD, "dump", str(dump_file)], env, timeout=600)
        final = json.loads(dump_file.read_text(encoding="utf-8"))
        records = sandbox.get("contacts")["results"]
        stats = sandbox.get("stats")
        (work / "sandbox_contacts.json").write_text(json.dumps(records), encoding="utf-8")
        (work / "sandbox_stats.json").write_text(json.dumps(stats, indent=1), encoding="utf-8")
        return final, records, stats
    finally:
        if neighbour is not None:
            neighbour.halt.set()
        if editor is not None:
            common.stop([editor], 5)
        counter.close()


# -- the table -------------------------------------------------------------------------------


def format_report(report: HostsReport) -> str:
    c = report.chaos
    title = (
        f"crmsync hosts: {report.hosts} hosts x {report.workers_per_host} worker(s) "
        f"(crmsync_sync --drain), {c.rows:,} contacts, seed {c.seed}"
    )
    out = [title, "=" * len(title), "host faults injected (cuts: " + report.cut_method + ")"]
    for host, offset in sorted(report.skews.items()):
        measured = report.measured_skews.get(host)
        seen = f", measured {measured:+.1f} s" if measured is not None else ""
        out.append(f"  {'whole run':>9}  host {host}'s clock {offset} (libfaketime{seen})")
    for item in report.injected:
        out.append(f"  {item.at:>7.1f} s  {item.fault.describe()}: {item.result}")
    for fault in report.not_injected:
        out.append(f"  {fault.at:>7.1f} s  NOT INJECTED (settled before): {fault.describe()}")
    exits = ", ".join(f"{name} x{n}" for name, n in sorted(report.worker_exits.items()))
    out.append(f"  worker processes started {report.worker_starts}; exits: {exits or 'none'}")
    out.append("")
    out.append(chaos.format_report(c))
    verdict = (
        f"{'PASS' if report.ok else 'FAIL'}: {c.lost} lost, {c.duplicated} duplicated, "
        f"{report.wrong} wrong, {report.stale} stale, {c.stuck} stuck; {c.held} held"
    )
    out.append(verdict)
    return "\n".join(out)


def comparison_rows(report: HostsReport) -> list[tuple[str, str]]:
    """One run's figures for ``format_comparison``, in its order."""
    c = report.chaos
    faults = sum(c.faults.values())
    return [
        ("host faults injected", str(len(report.injected) + len(report.skews))),
        ("HubSpot faults on (s)", f"{c.kill_phase_seconds:.0f}"),
        ("HubSpot faults injected", str(faults)),
        ("lost", str(c.lost)),
        ("duplicated", str(c.duplicated)),
        ("wrong", str(report.wrong)),
        ("stale", str(report.stale)),
        ("stuck", str(c.stuck)),
        ("held for review", str(c.held)),
        ("requests", f"{c.requests:,}"),
        ("429s to workers", str(c.rate_limited_workers)),
        ("settled after faults (s)", f"{c.settle_seconds:.0f}"),
        ("wall (s)", f"{c.wall_seconds:.0f}"),
        ("verdict", "PASS" if report.ok else "FAIL"),
    ]


def format_comparison(baseline: HostsReport, faulty: HostsReport) -> str:
    """The baseline (same HubSpot faults, as long, no host faults) and the run with host
    faults, side by side; the held rows' line says whether the host faults added any."""
    heads = ("", "without host faults", "with host faults")
    rows = [
        (a[0], a[1], b[1])
        for a, b in zip(comparison_rows(baseline), comparison_rows(faulty), strict=True)
    ]
    widths = [max(len(r[i]) for r in (heads, *rows)) for i in range(3)]
    out = [
        f"{heads[0]:<{widths[0]}}  {heads[1]:>{widths[1]}}  {heads[2]:>{widths[2]}}",
        "-" * (sum(widths) + 4),
    ]
    out += [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    more = faulty.chaos.held - baseline.chaos.held
    out.append(
        f"held rows: {'no more' if more <= 0 else f'{more} more'} with host faults than without"
    )
    return "\n".join(out)


# -- command line ----------------------------------------------------------------------------


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _skew(text: str) -> tuple[int, str]:
    host, sep, offset = text.partition(":")
    if not sep or not host.isdigit() or offset[:1] not in "+-":
        raise argparse.ArgumentTypeError("HOST:OFFSET, e.g. 1:+10m")
    return int(host), offset


def parse_args(argv: Sequence[str] | None) -> HostsOptions:
    return _parse(argv)[0]


def _parse(argv: Sequence[str] | None) -> tuple[HostsOptions, bool]:
    """The options, and whether to ``--compare``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.hosts",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--workers-per-host", type=int, default=1)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault", action="append", type=_fault, default=None, metavar="SPEC")
    parser.add_argument("--skew", action="append", type=_skew, default=None, metavar="H:OFFSET")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument(
        "--no-host-faults",
        action="store_true",
        help="the same run (HubSpot's faults on as long) without host faults or skew: the "
        "baseline for held rows",
    )
    baseline.add_argument(
        "--compare",
        action="store_true",
        help="run that baseline, then the run with host faults; print both side by side",
    )
    parser.add_argument("--sandbox-rate-limit", type=int, default=10)
    parser.add_argument("--edits", type=int, default=None)
    parser.add_argument(
        "--write-mode",
        choices=chaos.WRITE_MODES,
        default="create",
        help="crmsync's WRITE_MODE (README, 'Write modes'; default create)",
    )
    parser.add_argument("--deadline", type=float, default=900.0)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    plan = args.fault if args.fault is not None else [Fault.parse(f) for f in DEFAULT_PLAN]
    skews = dict(args.skew) if args.skew is not None else dict([_skew(DEFAULT_SKEW)])
    progress: Callable[[str], None] | None = None
    if not args.quiet:
        progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    copts = ChaosOptions(
        contacts=args.contacts,
        workers=args.hosts * args.workers_per_host,
        seed=args.seed,
        database_url=chaos._database_url_from_environ(),
        sandbox_rate_limit=args.sandbox_rate_limit,
        deadline_seconds=args.deadline,
        edits=args.edits,
        work_dir=args.work_dir,
        progress=progress,
        write_mode=args.write_mode,
    )
    options = HostsOptions(
        hosts=args.hosts,
        workers_per_host=args.workers_per_host,
        plan=plan,
        skews=skews,
        chaos=copts,
    )
    if args.no_host_faults:
        options = options.without_host_faults()
    return options, bool(args.compare)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C and SIGTERM unwind through the finally blocks, which remove the namespaces.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        options, compare = _parse(argv)
        baseline = None
        if compare:
            base_options = options.without_host_faults()
            if options.chaos.work_dir is not None:
                work = options.chaos.work_dir
                base_options.chaos = replace(options.chaos, work_dir=work / "baseline")
                options.chaos = replace(options.chaos, work_dir=work / "host-faults")
            baseline = run_hosts(base_options)
        report = run_hosts(options)
    except BenchError as exc:
        print(f"hosts: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hosts: interrupted; namespaces removed", file=sys.stderr)
        return 130
    print(format_report(report))
    problems = chaos.format_problems(report.chaos)
    if problems:
        print(problems)
    if baseline is not None:
        print()
        print(format_comparison(baseline, report))
        return 0 if report.ok and baseline.ok else 1
    return 0 if report.ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
