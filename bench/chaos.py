"""Chaos harness: N contacts, M worker processes killed at random, a faulty HubSpot sandbox.

    .venv/bin/python -m bench.chaos --contacts 10000 --workers 3 [--seed S]
        [--kill-seconds 90] [--kill-interval 1,3] [--deadline 900] [--edits N]
        [--write-mode create|upsert|both] [--no-email-share F] [--drop-after-commit-rate F]
        [--oauth-token-seconds 4]   # OAuth mode: bench/chaos_oauth.py

``--write-mode upsert`` runs crmsync with ``CRMSYNC["WRITE_MODE"] = "upsert"`` (new contacts
through batch/upsert by the unique property ``crmsync_id``; README, "Write modes");
``create-key`` runs create mode with ``UNIQUE_PROPERTY`` set (creates carry the key, a lost
answer is looked up by it); ``both`` runs the same seed in each mode and prints their held
and duplicated counts side by side.

What it does (docs/chaos.md has the details and the figures measured):

1. creates the PostgreSQL database ``DATABASE_URL`` names if it is missing (default
   ``postgres://postgres@127.0.0.1:5432/crmsync_chaos``) and migrates it;
2. starts the sandbox (``manage.py crmsync_sandbox``) on a free loopback port with the fault
   mix: 5xx, 423, answers dropped or late after the records were written, and a rate limit
   below the one the workers are configured with; seeds contacts HubSpot already holds; and
   defines a ``chaos_row_id`` property, sent with every row, to count duplicates even for
   contacts without an email;
3. fills the database with N contacts (mostly valid; some invalid, some without an email,
   some sharing an email, some already in HubSpot);
4. starts M worker processes running ``services.sync_pending()`` in a loop, kills one with
   SIGKILL at random moments (seeded) and starts a fresh one, while a "noisy neighbour" eats
   into the shared rate limit and an editor changes 1 % of the rows through
   ``Contact.save()`` (``--edits 0``: none); then stops killing, turns the faults off and
   waits until no row is pending or in flight;
5. compares every row with what the sandbox holds and prints one table. The exit status is
   1 when anything was lost, duplicated, wrong or stuck.

The harness process never imports Django: whatever needs it (migrate, filling the table,
reading the final state, the workers) runs in a child process whose environment names the
chaos database. So ``run_chaos`` also runs inside pytest, whose Django uses another database.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from psycopg import sql

from bench import chaos_merges, chaos_oauth, common
from bench.common import (
    BenchError,
    Sandbox,
    crmsync_settings,
    database_name,
    ensure_database,
    with_database,
)

CHILD = "bench._chaos_child"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_chaos"
DEFAULT_REDIS_URL = common.DEFAULT_REDIS_URL
SANDBOX_TOKEN = "chaos-token"
ROW_ID_PROPERTY = "chaos_row_id"
#: The custom unique property crmsync upserts by in ``--write-mode upsert``.
UNIQUE_PROPERTY = "crmsync_id"
WRITE_MODES = ("create", "create-key", "upsert")
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: Local sync states (crmsync.models.SyncStatus), spelled out so this process needs no Django.
PENDING, IN_FLIGHT, SYNCED, FAILED, HELD = "pending", "in_flight", "synced", "failed", "held"

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Radia")
LIFECYCLE_STAGES = ("", "subscriber", "lead", "marketingqualifiedlead", "opportunity", "customer")
COMPANY_IDS = ("9001", "9002", "9003", "9004", "9005")  # the sandbox's default companies


# -- options and results ---------------------------------------------------------------------


@dataclass
class ChaosOptions:
    """Everything one run needs; the defaults are the full-size run's."""

    contacts: int = 10_000
    workers: int = 3
    #: crmsync's CRMSYNC["WRITE_MODE"]: "create" or "upsert" (by UNIQUE_PROPERTY).
    write_mode: str = "create"
    seed: int = 1
    database_url: str = DEFAULT_DATABASE_URL
    #: Empty: every worker paces itself alone (crmsync's in-process limiter).
    redis_url: str = DEFAULT_REDIS_URL
    #: Workers are killed during this many seconds (less if every row is settled sooner).
    kill_seconds: float = 90.0
    #: Seconds between two kills, drawn uniformly from this range.
    kill_interval: tuple[float, float] = (1.0, 3.0)
    #: From the first worker's start until every row is settled, at most.
    deadline_seconds: float = 900.0
    # -- the workers' settings (CRMSYNC_<NAME>) --
    batch_size: int = 25
    concurrency: int = 2
    lease_seconds: float = 10.0
    http_timeout_seconds: float = 2.0
    retry_base_seconds: float = 0.2
    retry_max_seconds: float = 2.0
    max_attempts: int = 100
    #: Requests per ``rate_interval_ms`` the workers are configured with: above the sandbox's,
    #: so only HubSpot's headers (and 429s) can teach them the real limit.
    worker_rate_limit: int = 40
    # -- the sandbox --
    sandbox_rate_limit: int = 15
    rate_interval_ms: int = 1000
    latency_ms: float = 20.0
    fault_5xx_rate: float = 0.03
    fault_423_rate: float = 0.02
    drop_after_commit_rate: float = 0.02
    slow_after_commit_rate: float = 0.02
    fault_endpoints: str = "create,update,read"
    #: Another app on the same HubSpot account: bursts of requests that use up the shared
    #: rate-limit window behind the workers' back, while workers are being killed.
    neighbour: bool = True
    #: Any other sandbox option (docs/sandbox.md), set at start: e.g. {"conflict_mode":
    #: "batch"} to play a HubSpot that rejects a whole batch for one existing email.
    sandbox_options: dict[str, Any] = field(default_factory=dict)
    #: OAuth mode (bench/chaos_oauth.py): access tokens expiring after this many seconds,
    #: each refresh ending the previous token; 0: the static token.
    oauth_token_seconds: float = 0.0
    # -- the host project editing rows meanwhile --
    #: Edits through Contact.save() while workers are killed; None: 1 % of the rows.
    edits: int | None = None
    edits_per_second: float = 5.0
    #: Share of edits that also change the email.
    email_edit_share: float = 0.3
    #: Rows whose HubSpot record is merged into another contact mid-run (bench.chaos_merges).
    merges: int = 0
    # -- the rows --
    invalid_share: float = 0.03
    no_email_share: float = 0.02
    existing_share: float = 0.05
    duplicate_share: float = 0.005
    #: Logs, the rows, the final dump and the sandbox's records go here (a temp dir if None).
    work_dir: Path | None = None
    #: Called with one line of progress now and then; None is quiet.
    progress: Callable[[str], None] | None = None

    def check(self) -> None:
        if self.contacts < 10 or self.workers < 1:
            raise ChaosError("need at least 10 contacts and 1 worker")
        if self.write_mode not in WRITE_MODES:
            raise ChaosError(f"--write-mode must be one of {WRITE_MODES}")
        low, high = self.kill_interval
        if not 0 < low <= high:
            raise ChaosError("--kill-interval: MIN,MAX seconds with 0 < MIN <= MAX")
        if self.slow_after_commit_rate and self.http_timeout_seconds >= self.lease_seconds:
            raise ChaosError("the HTTP timeout must be shorter than the lease")
        check_postgres_url(self.database_url)
        if self.redis_url and urlsplit(self.redis_url).hostname not in LOOPBACK_HOSTS:
            raise ChaosError("REDIS_URL must be a loopback address for the chaos harness")


class ChaosError(BenchError):
    """The harness cannot run (wrong database, sandbox did not start...)."""


@dataclass
class PlannedRow:
    """One contact as the harness made it, and what should become of it."""

    key: str  # its chaos_row_id
    kind: str  # valid, existing, secondary, duplicate, no_email, invalid
    fields: dict[str, Any]  # Contact fields, as the fill child inserts them
    invalid_reason: str = ""
    group: int = -1  # duplicate-email group

    @property
    def email(self) -> str:
        return str(self.fields.get("email") or "")


@dataclass
class Problem:
    """One row that ended wrong: enough to find it again in the database and the sandbox."""

    what: str
    key: str
    kind: str
    db_id: int | None
    status: str
    hubspot_id: str
    detail: str


#: The host faults the table counts, in its order, whichever harness injected them (this
#: one SIGKILLs workers; bench.hosts injects all of them).
HOST_FAULTS = (
    "clock skew",
    "pg_terminate_backend",
    "Redis restart",
    "cut from HubSpot",
    "cut from Redis",
    "cut from PostgreSQL",
    "SIGTERM",
    "SIGKILL",
)


@dataclass
class ChaosReport:
    rows: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    #: HOST_FAULTS name -> how many were injected
    host_faults: dict[str, int] = field(default_factory=dict)
    rate_limited_workers: int = 0
    rate_limited_neighbour: int = 0
    write_mode: str = "create"
    requests: int = 0
    workers_killed: int = 0
    workers_crashed: int = 0
    edits: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    wrong_id: int = 0
    wrong_data: int = 0
    orphans: int = 0
    stuck: int = 0
    synced: int = 0
    failed: int = 0
    failed_invalid: int = 0
    invalid: int = 0
    invalid_not_failed: int = 0
    held: int = 0
    held_in_hubspot: int = 0
    linked_existing: int = 0
    merged: int = 0
    not_relinked: int = 0
    attempt_outcomes: dict[str, int] = field(default_factory=dict)
    #: OAuth mode: the sandbox's refresh counts (chaos_oauth.counts), and the token's life.
    oauth: dict[str, int] = field(default_factory=dict)
    oauth_token_seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    kills: list[tuple[float, str, int]] = field(default_factory=list)
    kill_phase_seconds: float = 0.0
    settle_seconds: float = 0.0
    wall_seconds: float = 0.0
    converged: bool = False
    seed: int = 0
    workers: int = 0
    work_dir: str = ""

    @property
    def ok(self) -> bool:
        bad = (self.lost, self.duplicated, self.wrong_id, self.wrong_data, self.orphans)
        twice = self.oauth.get("oauth_early_refreshes", 0)  # a second refresh of one expiry
        return not any(bad) and self.stuck == 0 and twice == 0 and self.not_relinked == 0

    @property
    def faults_total(self) -> int:
        return sum(self.faults.values()) + self.rate_limited_workers


# -- the database ----------------------------------------------------------------------------


def check_postgres_url(url: str) -> None:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme.startswith("sqlite"):
        raise ChaosError(
            "DATABASE_URL is SQLite. The chaos harness needs PostgreSQL: several worker "
            "processes claim rows at once, and only PostgreSQL's row locks (FOR UPDATE SKIP "
            "LOCKED) make that a real test; SQLite serialises every writer. Use e.g. "
            f"DATABASE_URL={DEFAULT_DATABASE_URL}"
        )
    if scheme not in POSTGRES_SCHEMES:
        raise ChaosError(f"DATABASE_URL must be a postgres:// URL, not {scheme}://")
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ChaosError(f"DATABASE_URL must point at a loopback address, not {host!r}")
    if "chaos" not in database_name(url):
        # The harness empties crmsync's tables: never in a database kept for anything else.
        raise ChaosError(
            f"the chaos harness empties crmsync's tables, so its database's name must contain "
            f"'chaos' (not {database_name(url)!r})"
        )


def chaos_database_url(url: str) -> str:
    """``url`` if it names a chaos database, else ``<name>_chaos`` on the same server: a
    DATABASE_URL exported for the test suite or a dev server must not be emptied."""
    name = database_name(url) or "crmsync"
    return url if "chaos" in name else with_database(url, f"{name}_chaos")


class StatusCounter:
    """Counts rows by sync status, straight from the table (the harness has no Django)."""

    def __init__(self, url: str, table: str) -> None:
        self.conn = common.connect(url)
        self.query = sql.SQL("SELECT sync_status, count(*) FROM {} GROUP BY sync_status").format(
            sql.Identifier(table)
        )

    def counts(self) -> Counter[str]:
        return Counter({status: n for status, n in self.conn.execute(self.query).fetchall()})

    def close(self) -> None:
        self.conn.close()


# -- the rows --------------------------------------------------------------------------------


def _invalid_kinds() -> list[tuple[str, Callable[[int, dict[str, Any]], None]]]:
    def setter(name: str, value: Any) -> Callable[[int, dict[str, Any]], None]:
        return lambda _i, f: f.__setitem__(name, value)

    def prop(name: str, value: Any) -> Callable[[int, dict[str, Any]], None]:
        return lambda _i, f: f["properties"].__setitem__(name, value)

    return [
        ("invalid email", lambda i, f: f.__setitem__("email", f"not-an-email-{i}")),
        ("email without a top-level domain", lambda i, f: f.__setitem__("email", f"c{i}@intra")),
        ("unknown property", prop("chaos_no_such_property", "x")),
        ("lifecyclestage not an option", setter("lifecyclestage", "vip")),
        ("lifecyclestage option in the wrong case", setter("lifecyclestage", "Customer")),
        ("date not at midnight UTC", prop("date_of_birth", "1572480060000")),
        ("malformed number", prop("annualrevenue", "12,5k")),
        ("read-only property", prop("createdate", "2020-01-01")),
        ("boolean neither true nor false", prop("hs_email_optout", "yes")),
        ("association to a missing company", setter("associations", [{"to": {"id": "424242"}}])),
        ("control character (refused locally)", setter("firstname", "Bell\x07")),
        ("70,000-character string (refused locally)", prop("message", "x" * 70_000)),
    ]


def plan_rows(options: ChaosOptions) -> tuple[list[PlannedRow], list[dict[str, str]]]:
    """The rows to insert (in insertion order) and the contacts HubSpot holds beforehand."""
    n = options.contacts
    rng = random.Random(f"{options.seed}:rows")
    domain = f"chaos{options.seed}.example.com"

    def share(fraction: float) -> int:
        return max(1, round(n * fraction)) if fraction > 0 else 0

    n_duplicate = share(options.duplicate_share)
    n_groups = max(1, n_duplicate // 2) if n_duplicate else 0
    kinds = ["invalid"] * share(options.invalid_share)
    kinds += ["no_email"] * share(options.no_email_share)
    existing = share(options.existing_share)
    secondary = existing // 10
    kinds += ["existing"] * (existing - secondary) + ["secondary"] * secondary
    kinds += ["valid"] * max(0, n - len(kinds) - n_duplicate)
    rng.shuffle(kinds)
    # Duplicate-email groups of two or three rows: every other group sits side by side (one
    # batch: sent once, linked to both), the others scattered (a 409 in a later batch).
    slots: list[tuple[str, int]] = [(k, -1) for k in kinds]
    left = n_duplicate
    for group in range(n_groups):
        size = left if group == n_groups - 1 else min(left, rng.choice((2, 2, 3)))
        left -= size
        if group % 2 == 0:
            at = rng.randrange(len(slots) + 1)
            slots[at:at] = [("duplicate", group)] * size
        else:
            for _ in range(size):
                slots.insert(rng.randrange(len(slots) + 1), ("duplicate", group))
    invalid_kinds = _invalid_kinds()
    rows: list[PlannedRow] = []
    seeded: list[dict[str, str]] = []
    group_members: Counter[int] = Counter()
    n_invalid = 0
    for i, (kind, group) in enumerate(slots):
        key = f"chaos-{i:06d}"
        email = f"c{i}@{domain}"
        if rng.random() < 0.1:
            email = email.upper()  # HubSpot compares emails case-insensitively
        fields: dict[str, Any] = {
            "email": email,
            "firstname": rng.choice(FIRST_NAMES),
            "lastname": f"Row {i}",
            "phone": rng.choice(("", f"+1 555 {i:07d}")),
            "company": rng.choice(("", "Acme", "Globex")),
            "lifecyclestage": rng.choice(LIFECYCLE_STAGES),
            "properties": {ROW_ID_PROPERTY: key},
            "associations": [],
        }
        if rng.random() < 0.2:
            fields["properties"]["jobtitle"] = rng.choice(("Engineer", "Manager", "Analyst"))
        if rng.random() < 0.1:
            fields["properties"]["date_of_birth"] = f"19{rng.randrange(50, 99)}-05-17"
        if rng.random() < 0.1:
            fields["properties"]["annualrevenue"] = rng.randrange(1000, 10**7)
        if rng.random() < 0.1:
            fields["associations"] = [{"to": {"id": rng.choice(COMPANY_IDS)}}]
        reason = ""
        if kind == "no_email":
            fields["email"] = ""
        elif kind == "duplicate":
            member = group_members[group]
            group_members[group] += 1
            base = f"dup{group}@{domain}"
            fields["email"] = base.upper() if member % 2 else base
        elif kind == "existing":
            seeded.append({"email": email.lower(), "firstname": "Seeded", "lastname": f"Old {i}"})
        elif kind == "secondary":
            # HubSpot holds this address as another contact's secondary email: a create
            # conflicts, yet batch/read by email does not find it.
            seeded.append(
                {
                    "email": f"primary{i}@{domain}",
                    "hs_additional_emails": email.lower(),
                    "firstname": "Seeded",
                    "lastname": f"Old {i}",
                }
            )
        elif kind == "invalid":
            reason, spoil = invalid_kinds[n_invalid % len(invalid_kinds)]
            n_invalid += 1
            spoil(i, fields)
        rows.append(PlannedRow(key, kind, fields, reason, group))
    return rows, seeded


# -- processes -------------------------------------------------------------------------------


def start_sandbox(options: ChaosOptions, env: Mapping[str, str], work: Path) -> Sandbox:
    """The sandbox with the run's fault mix and the ``chaos_row_id`` property."""
    props = work / "custom_properties.json"
    props.write_text(
        json.dumps(
            [
                {
                    "name": ROW_ID_PROPERTY,
                    "label": "Chaos row id",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "contactinformation",
                    # Not unique on purpose: a duplicate must show up as two records
                    # here rather than be refused by the sandbox.
                    "hasUniqueValue": False,
                },
                *_unique_property(options),
            ]
        ),
        encoding="utf-8",
    )
    endpoints = options.fault_endpoints
    if options.write_mode == "upsert" and "upsert" not in endpoints.split(","):
        endpoints += ",upsert"  # the faults hit the upserts as they hit the creates
    args = [
        "manage.py",
        "crmsync_sandbox",
        "--host=127.0.0.1",
        "--port=0",
        f"--token={SANDBOX_TOKEN}",
        f"--seed={options.seed}",
        f"--fault-5xx-rate={options.fault_5xx_rate}",
        f"--fault-423-rate={options.fault_423_rate}",
        f"--drop-after-commit-rate={options.drop_after_commit_rate}",
        f"--slow-after-commit-rate={options.slow_after_commit_rate}",
        f"--slow-after-commit-seconds={options.http_timeout_seconds + 1.5}",
        f"--fault-endpoints={endpoints}",
        f"--rate-limit-max={options.sandbox_rate_limit}",
        f"--rate-limit-interval-ms={options.rate_interval_ms}",
        f"--latency-ms={options.latency_ms}",
        f"--custom-properties={props}",
    ]
    return Sandbox.start(args, env, work / "sandbox.log")


def _unique_property(options: ChaosOptions) -> list[dict[str, Any]]:
    """The key property of upsert mode and of create mode with a key (what
    ``crmsync_unique_property --create`` makes)."""
    if options.write_mode == "create":
        return []
    return [
        {
            "name": UNIQUE_PROPERTY,
            "label": "crmsync key",
            "type": "string",
            "fieldType": "text",
            "groupName": "crmsync",
            "hasUniqueValue": True,
        }
    ]


class Neighbour(threading.Thread):
    """Another app on the same account: bursts of requests that use up the shared rolling
    window, so the workers meet 429s their own pacing could not foresee."""

    def __init__(self, url: str, burst: int, seed: int) -> None:
        super().__init__(daemon=True, name="chaos-neighbour")
        self.url = f"{url}/crm/v3/objects/companies/9001"
        self.burst = max(1, burst)
        self.rng = random.Random(f"{seed}:neighbour")
        self.halt = threading.Event()
        self.sent = 0
        self.limited = 0

    def run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {SANDBOX_TOKEN}"
        while not self.halt.wait(self.rng.uniform(1.0, 4.0)):
            for _ in range(self.burst):
                with contextlib.suppress(requests.RequestException):
                    status = session.get(self.url, timeout=10).status_code
                    self.sent += 1
                    self.limited += status == 429
        session.close()


class Workers:
    """M worker processes; kill one, start a fresh one."""

    def __init__(self, count: int, env: Mapping[str, str], work: Path) -> None:
        self.env = env
        self.work = work
        self.started = 0
        self.crashed = 0
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        for _ in range(count):
            self.procs.append(self._spawn())

    def _spawn(self) -> tuple[str, subprocess.Popen[bytes]]:
        self.started += 1
        name = f"w{self.started}"
        proc = common.start_python(["-m", CHILD, "worker", name], self.env, self._log(name))
        return name, proc

    def ready(self) -> list[int]:
        """Indexes of workers past Django's start-up (they log a line once they loop):
        killing one that never claimed a row would test nothing."""
        return [
            index
            for index, (name, proc) in enumerate(self.procs)
            if proc.poll() is None and self._log(name).stat().st_size > 0
        ]

    def _log(self, name: str) -> Path:
        return self.work / f"worker-{name}.log"

    def kill(self, index: int) -> tuple[str, int]:
        name, proc = self.procs[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs[index] = self._spawn()
        return name, proc.pid

    def replace_dead(self) -> list[str]:
        """Workers that exited on their own (they should not): note it and restart them."""
        dead = []
        for index, (name, proc) in enumerate(self.procs):
            if proc.poll() is not None:
                dead.append(f"{name} exited with {proc.returncode}")
                self.crashed += 1
                self.procs[index] = self._spawn()
        return dead

    def stop(self) -> None:
        common.stop((proc for _, proc in self.procs), 20)


# -- the run ---------------------------------------------------------------------------------


def child_env(options: ChaosOptions, sandbox_url: str = "", prefix: str = "") -> dict[str, str]:
    settings = crmsync_settings(
        batch_size=options.batch_size,
        concurrency=options.concurrency,
        lease_seconds=options.lease_seconds,
        http_timeout_seconds=options.http_timeout_seconds,
        retry_base_seconds=options.retry_base_seconds,
        retry_max_seconds=options.retry_max_seconds,
        max_attempts=options.max_attempts,
        rate_limit_max=options.worker_rate_limit,
        rate_limit_interval_seconds=options.rate_interval_ms / 1000,
        rate_limit_daily=0,
        max_batches_per_run=0,
    )
    if prefix:
        settings.update(crmsync_settings(redis_key_prefix=prefix))
    if options.write_mode == "upsert":
        settings.update(crmsync_settings(write_mode="upsert", unique_property=UNIQUE_PROPERTY))
    elif options.write_mode == "create-key":  # create mode, creates carrying the key
        settings.update(crmsync_settings(write_mode="create", unique_property=UNIQUE_PROPERTY))
    if options.oauth_token_seconds:
        settings.update(chaos_oauth.worker_env())
    return common.child_env(
        database_url=options.database_url,
        redis_url=options.redis_url,
        token=SANDBOX_TOKEN,
        sandbox_url=sandbox_url or "http://127.0.0.1:9",
        # The harness's own CRMSYNC_* (a developer's shell) must not change the run.
        inherit_crmsync=False,
        extra={"PYTHONUNBUFFERED": "1", **settings},
    )


def _say(options: ChaosOptions, text: str) -> None:
    if options.progress is not None:
        options.progress(text)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_chaos(options: ChaosOptions) -> ChaosReport:
    """One whole run; returns the report (``report.ok`` is the verdict)."""
    options.check()
    started = time.monotonic()
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="crmsync-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    prefix = f"crmsync-chaos-{uuid.uuid4().hex[:12]}"
    report = ChaosReport(seed=options.seed, workers=options.workers, work_dir=str(work))
    report.write_mode = options.write_mode
    report.oauth_token_seconds = options.oauth_token_seconds

    created = ensure_database(options.database_url)
    what = "created" if created else "exists"
    _say(options, f"database {database_name(options.database_url)} {what}; migrating")
    env = child_env(options)
    common.migrate(env)

    rows, seeded = plan_rows(options)
    report.rows = len(rows)
    report.kinds = dict(Counter(r.kind for r in rows))
    sandbox = start_sandbox(options, env, work)
    workers: Workers | None = None
    neighbour: Neighbour | None = None
    editor: subprocess.Popen[bytes] | None = None
    counter: StatusCounter | None = None
    try:
        if options.oauth_token_seconds:
            sandbox.post("config", chaos_oauth.sandbox_config(options.oauth_token_seconds))
        if options.sandbox_options:
            sandbox.post("config", options.sandbox_options)
        config = sandbox.get("config")
        (work / "sandbox_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        for chunk in _chunks(seeded, 500):
            sandbox.post("contacts", {"contacts": list(chunk)})
        rows_file = work / "rows.json"
        rows_file.write_text(json.dumps([r.fields for r in rows]), encoding="utf-8")
        filled = json.loads(common.run_python(["-m", CHILD, "fill", str(rows_file)], env, 600))
        if filled["count"] != len(rows):
            raise ChaosError(f"filled {filled['count']} rows, expected {len(rows)}")
        _say(options, f"{len(rows):,} rows in the database, {len(seeded)} contacts in HubSpot")
        counter = StatusCounter(options.database_url, filled["table"])

        worker_env = child_env(options, sandbox.url, prefix)
        sync_started = time.monotonic()
        deadline = sync_started + options.deadline_seconds
        workers = Workers(options.workers, worker_env, work)
        if options.neighbour:
            neighbour = Neighbour(sandbox.url, options.sandbox_rate_limit // 2, options.seed)
            neighbour.start()
        editor = _start_editor(options, rows, worker_env, work)
        mergeable = [r.key for r in rows if r.kind in chaos_merges.kinds(options.sandbox_options)]
        merger = chaos_merges.Merger(
            options.merges, mergeable, options.seed, filled["table"], worker_env, work
        )
        rng = random.Random(f"{options.seed}:kills")
        kill_until = sync_started + options.kill_seconds
        next_kill = sync_started + rng.uniform(*options.kill_interval)
        last_note = 0.0
        counts = counter.counts()
        # Phase 1: faults on, kills on.
        while time.monotonic() < min(kill_until, deadline):
            now = time.monotonic()
            ready = workers.ready() if now >= next_kill else []
            if ready:
                name, pid = workers.kill(rng.choice(ready))
                report.kills.append((round(now - sync_started, 2), name, pid))
                next_kill = now + rng.uniform(*options.kill_interval)
            for note in workers.replace_dead():
                _say(options, f"worker died on its own: {note}")
            counts = counter.counts()
            if merger.due(counts[SYNCED], len(rows)):
                merger.run(counter.conn, sandbox)
                _say(options, f"merged {len(merger.merged)} rows' records in HubSpot")
            if now - last_note >= 5:
                last_note = now
                _say(options, _progress_line(now - sync_started, counts, len(report.kills)))
            editing = editor is not None and editor.poll() is None
            editing = editing or not merger.done
            if counts[PENDING] + counts[IN_FLIGHT] == 0 and not editing:
                break
            time.sleep(0.2)
        report.kill_phase_seconds = time.monotonic() - sync_started
        if not merger.done:  # the kill phase ended first: merge now, faults still on
            merger.run(counter.conn, sandbox)
        if editor is not None:
            common.stop([editor], 30)
            report.edits = _edit_counts(work / "edits.json")
        # Phase 2: no more kills or faults; leases of killed workers expire and are reclaimed.
        if neighbour is not None:
            neighbour.halt.set()
            neighbour.join(15)
        sandbox.post(
            "config",
            {
                "fault_5xx_rate": 0,
                "fault_423_rate": 0,
                "drop_after_commit_rate": 0,
                "slow_after_commit_rate": 0,
            },
        )
        _say(options, f"faults off after {report.kill_phase_seconds:.0f} s; waiting to settle")
        settle_started = time.monotonic()
        while time.monotonic() < deadline:
            for note in workers.replace_dead():
                _say(options, f"worker died on its own: {note}")
            counts = counter.counts()
            if counts[PENDING] + counts[IN_FLIGHT] == 0:
                report.converged = True
                break
            now = time.monotonic()
            if now - last_note >= 5:
                last_note = now
                _say(options, _progress_line(now - sync_started, counts, len(report.kills)))
            time.sleep(0.3)
        report.settle_seconds = time.monotonic() - settle_started
        if not report.converged:
            _say(options, "deadline reached with rows still pending or in flight")
        workers.stop()
        report.workers_crashed = workers.crashed
        workers = None

        dump_file = work / "dump.json"
        common.run_python(["-m", CHILD, "dump", str(dump_file)], env, timeout=600)
        final = json.loads(dump_file.read_text(encoding="utf-8"))
        records = sandbox.get("contacts")["results"]
        stats = sandbox.get("stats")
        (work / "sandbox_contacts.json").write_text(json.dumps(records), encoding="utf-8")
        (work / "sandbox_stats.json").write_text(json.dumps(stats, indent=1), encoding="utf-8")
    finally:
        if neighbour is not None:
            neighbour.halt.set()
        if editor is not None:
            common.stop([editor], 5)
        if workers is not None:
            workers.stop()
        if counter is not None:
            counter.close()
        sandbox.stop()
        common.forget_redis_keys(options.redis_url, [prefix])

    analyse(report, rows, final["contacts"], records, merger.merged)
    report.merged = len(merger.merged)
    for key, db_id, status, hubspot_id, detail in chaos_merges.check(
        merger.merged, final["contacts"]
    ):
        report.not_relinked += 1
        report.problems.append(
            Problem("not relinked", key, "merged", db_id, status, hubspot_id, detail)
        )
    report.attempt_outcomes = dict(final.get("attempt_outcomes") or {})
    report.workers_killed = len(report.kills)
    report.host_faults = {"SIGKILL": report.workers_killed}
    report.requests = int(stats.get("requests_total", 0))
    report.faults = _fault_counts(stats)
    if options.oauth_token_seconds:
        report.oauth = chaos_oauth.counts(stats)
    by_endpoint = stats.get("requests_by_endpoint") or {}
    report.rate_limited_workers = sum(
        int(codes.get("429", 0)) for name, codes in by_endpoint.items() if name != "companies.get"
    )
    report.rate_limited_neighbour = int((by_endpoint.get("companies.get") or {}).get("429", 0))
    report.wall_seconds = time.monotonic() - started
    return report


def _start_editor(
    options: ChaosOptions, rows: Sequence[PlannedRow], env: Mapping[str, str], work: Path
) -> subprocess.Popen[bytes] | None:
    count = options.edits if options.edits is not None else max(1, options.contacts // 100)
    if count <= 0:
        return None
    # Only rows that own their HubSpot record: rows sharing an email, or linked to a contact
    # HubSpot already had, share a record, and an edit of one would rewrite the others'.
    plan = {
        "keys": [r.key for r in rows if r.kind in ("valid", "no_email")],
        "edits": count,
        "per_second": options.edits_per_second,
        "email_share": options.email_edit_share,
        "seed": options.seed,
        "domain": f"chaos{options.seed}.example.com",
    }
    path = work / "edit_plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return common.start_python(["-m", CHILD, "edit", str(path)], env, work / "editor.log")


def _edit_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    log = json.loads(path.read_text(encoding="utf-8"))
    return {
        "edits": len(log),
        "email changed": sum(1 for e in log if e["email"] != e["before"]["email"]),
        "while in flight": sum(1 for e in log if e["before"]["status"] == IN_FLIGHT),
        "while awaiting reconciliation": sum(
            1 for e in log if e["before"]["status"] == PENDING and e["before"]["needs_reconcile"]
        ),
    }


def _progress_line(elapsed: float, counts: Mapping[str, int], kills: int) -> str:
    return (
        f"[{elapsed:6.1f} s] synced {counts.get(SYNCED, 0):,} failed {counts.get(FAILED, 0):,} "
        f"held {counts.get(HELD, 0):,} pending {counts.get(PENDING, 0):,} "
        f"in flight {counts.get(IN_FLIGHT, 0):,} | workers killed {kills}"
    )


def _fault_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    faults = {str(k): int(v) for k, v in (stats.get("faults") or {}).items()}
    return {
        "5xx": sum(v for k, v in faults.items() if k.startswith("5")),
        "423": faults.get("423", 0),
        "477": faults.get("477", 0),
        "drop after commit": faults.get("drop_after_commit", 0),
        "slow after commit": faults.get("slow_after_commit", 0),
    }


# -- the verdict -----------------------------------------------------------------------------


def analyse(
    report: ChaosReport,
    rows: Sequence[PlannedRow],
    contacts: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    merged: Collection[str] = (),
) -> None:
    """Compare every planned row with its database row and with what HubSpot holds.
    ``merged``: keys of rows whose record was merged into another contact; the survivor
    keeps values the row never had (a relink sends the row's values, it clears none)."""
    active = [r for r in records if not r.get("archived")]
    by_id = {str(r["id"]): r for r in active}
    by_key: defaultdict[str, list[str]] = defaultdict(list)
    by_email: defaultdict[str, list[str]] = defaultdict(list)
    by_secondary: dict[str, str] = {}
    for record in active:
        props = record.get("properties") or {}
        if props.get(ROW_ID_PROPERTY):
            by_key[str(props[ROW_ID_PROPERTY])].append(str(record["id"]))
        if props.get("email"):
            by_email[str(props["email"]).lower()].append(str(record["id"]))
        for extra in str(props.get("hs_additional_emails") or "").split(";"):
            if extra.strip():
                by_secondary[extra.strip().lower()] = str(record["id"])
    local: dict[str, Mapping[str, Any]] = {}
    for item in contacts:
        key = str((item.get("properties") or {}).get(ROW_ID_PROPERTY) or "")
        if key:
            local[key] = item
    pointed_at = {str(c["hubspot_id"]) for c in contacts if c.get("hubspot_id")}
    held_keys: set[str] = set()

    def problem(what: str, row: PlannedRow, contact: Mapping[str, Any] | None, detail: str) -> None:
        report.problems.append(
            Problem(
                what,
                row.key,
                row.kind + (f" ({row.invalid_reason})" if row.invalid_reason else ""),
                int(contact["id"]) if contact else None,
                str(contact.get("sync_status", "")) if contact else "missing",
                str(contact.get("hubspot_id", "")) if contact else "",
                detail,
            )
        )

    duplicated_emails: set[str] = set()
    for row in rows:
        contact = local.get(row.key)
        holding = by_key.get(row.key, [])
        # The row's email as it ended (the editor may have changed it).
        email = str((contact or row.fields).get("email") or "").strip().lower()
        email_records = by_email.get(email, []) if email else []
        if len(holding) > 1 or len(email_records) > 1:
            if not (email and email in duplicated_emails):
                report.duplicated += 1
                problem("duplicated", row, contact, f"records {holding or email_records}")
            if email:
                duplicated_emails.add(email)
        if contact is None:
            report.lost += 1
            problem("lost", row, None, "the row vanished from the database")
            continue
        status = str(contact["sync_status"])
        hubspot_id = str(contact.get("hubspot_id") or "")
        if status in (PENDING, IN_FLIGHT):
            report.stuck += 1
            problem("stuck", row, contact, str(contact.get("sync_error", ""))[:300])
            continue
        if status == FAILED:
            report.failed += 1
        if row.kind == "invalid":
            report.invalid += 1
            if status == FAILED:
                report.failed_invalid += 1
            else:
                report.invalid_not_failed += 1
                problem("invalid row not failed", row, contact, f"HubSpot records {holding}")
            if holding and holding != [hubspot_id]:
                # HubSpot holds a contact for a row that ended failed, and the row does not
                # point at it: it would be created again if someone re-queued the row. (In
                # upsert mode a contact is written before its associations, which may then
                # fail the row: it keeps the record's id, and a re-queue updates it.)
                report.wrong_data += 1
                problem("failed row in HubSpot", row, contact, f"records {holding}")
            continue
        if status == FAILED:
            report.lost += 1
            problem("lost", row, contact, f"valid row failed: {contact.get('sync_error', '')}")
            continue
        if status == HELD:
            report.held += 1
            held_keys.add(row.key)
            report.held_in_hubspot += bool(holding)
            if email:
                report.lost += 1
                problem("lost", row, contact, "held although it has an email to look it up by")
            continue
        if status != SYNCED:
            report.lost += 1
            problem("lost", row, contact, f"unexpected status {status!r}")
            continue
        report.synced += 1
        # Its record: the one holding its email (or, failing that, holding it as a secondary
        # email); for a row without email, the one carrying its chaos_row_id. Duplicates were
        # counted above: here any of them will do.
        candidates = email_records or ([by_secondary[email]] if email in by_secondary else [])
        if not email:
            candidates = holding
        if hubspot_id not in by_id:
            report.lost += 1
            where = f"HubSpot's record for it is {candidates}" if candidates else "none"
            problem("lost", row, contact, f"HubSpot holds no record {hubspot_id!r} ({where})")
            continue
        if hubspot_id not in candidates:
            report.wrong_id += 1
            problem("wrong id", row, contact, f"HubSpot's record for it is {candidates or 'none'}")
            continue
        if int(contact.get("synced_version", 0)) != int(contact.get("version", 0)):
            report.wrong_data += 1
            problem("wrong data", row, contact, "synced, but not its latest version")
            continue
        record_props = by_id[hubspot_id].get("properties") or {}
        if record_props.get(ROW_ID_PROPERTY) == row.key:
            # Its own record must hold its latest values.
            latest = {
                "email": email or None,
                "firstname": contact.get("firstname") or None,
                "lastname": contact.get("lastname") or None,
            }
            if row.key in merged:
                latest = {name: value for name, value in latest.items() if value}
            got = {name: record_props.get(name) or None for name in latest}
            if got != latest:
                report.wrong_data += 1
                problem("wrong data", row, contact, f"row has {latest}, HubSpot holds {got}")
        elif row.kind in ("existing", "secondary"):
            report.linked_existing += 1
    # Records made by this run that no row points to: a create whose result went missing.
    planned_by_key = {r.key: r for r in rows}
    for key, ids in by_key.items():
        if len(ids) > 1:
            continue  # counted as duplicated
        for record_id in ids:
            if record_id not in pointed_at and key not in held_keys:
                planned = planned_by_key.get(key)
                if planned is not None and planned.kind == "invalid":
                    continue  # counted above as a failed row in HubSpot
                report.orphans += 1
                report.problems.append(
                    Problem(
                        "orphan",
                        key,
                        planned.kind if planned else "?",
                        None,
                        "",
                        record_id,
                        "a HubSpot record no local row points to",
                    )
                )


# -- the table -------------------------------------------------------------------------------


def format_report(report: ChaosReport, cores: int | None = None) -> str:
    cores = cores or os.cpu_count() or 0
    k = report.kinds
    valid = report.rows - k.get("invalid", 0)
    f = report.faults
    faults_detail = ", ".join(
        [f"{name} {n:,}" for name, n in f.items() if n or name != "477"]
        + [f"429 {report.rate_limited_workers:,}"]
    )
    if report.invalid_not_failed == 0 and report.failed == report.failed_invalid:
        failed_note = f"every failed row is one of the {report.invalid:,} invalid rows"
        if report.failed_invalid < report.invalid:
            failed_note += f" ({report.invalid - report.failed_invalid:,} of them stuck)"
        else:
            failed_note = f"OK: {failed_note}, and all of them failed"
    else:
        failed_note = (
            f"NOT OK: {report.failed - report.failed_invalid:,} valid rows failed; "
            f"{report.invalid_not_failed:,} invalid rows did not fail"
        )
    held_note = (
        f"no email, outcome unknown: {report.held_in_hubspot:,} in HubSpot once, "
        f"{report.held - report.held_in_hubspot:,} not at all"
    )
    edits_note = ", ".join(f"{n:,} {what}" for what, n in report.edits.items() if what != "edits")
    edits_note = edits_note or "none (--edits 0)"
    lines = [
        (
            "rows",
            report.rows,
            (
                f"{valid:,} valid ({k.get('existing', 0) + k.get('secondary', 0):,} already in "
                f"HubSpot, {k.get('duplicate', 0):,} sharing an email, {k.get('no_email', 0):,} "
                f"without email), {k.get('invalid', 0):,} invalid"
            ),
        ),
        ("faults injected", report.faults_total, faults_detail),
        ("host faults", sum(report.host_faults.values()), _host_faults_detail(report)),
        (
            "workers killed",
            report.workers_killed,
            "SIGKILL, each replaced by a fresh worker"
            + (f"; {report.workers_crashed} died on their own" if report.workers_crashed else ""),
        ),
        ("edits meanwhile", report.edits.get("edits", 0), edits_note),
        (
            "merged in HubSpot",
            report.merged,
            f"{report.merged - report.not_relinked:,} relinked to the survivor, "
            f"{report.not_relinked:,} not",
        ),
        ("lost", report.lost, "valid row not synced to a record HubSpot holds, or vanished"),
        (
            "duplicated in HubSpot",
            report.duplicated,
            "rows with 2+ records (email or chaos_row_id)",
        ),
        ("wrong id", report.wrong_id, "synced to an id that is not its record"),
        (
            "wrong data",
            report.wrong_data,
            "record differs from the row, or a failed row in HubSpot",
        ),
        ("orphans in HubSpot", report.orphans, "records of this run no row points to"),
        ("stuck", report.stuck, "pending or in flight at the end"),
        ("synced", report.synced, f"{report.linked_existing:,} linked to contacts HubSpot had"),
        ("failed", report.failed, failed_note),
        ("held", report.held, held_note),
    ]
    width = max(len(name) for name, _, _ in lines)
    title = (
        f"crmsync chaos: {report.rows:,} contacts, {report.workers} workers, seed {report.seed}, "
        f"{cores} cores, write mode {report.write_mode}"
    )
    out = [title, "-" * len(title)]
    out += [f"{name:<{width}}  {value:>7,}  {note}" for name, value, note in lines]
    sync = report.kill_phase_seconds + report.settle_seconds
    out.append(
        f"{'wall time':<{width}}  {report.wall_seconds:>6.0f}s  sync {sync:.0f} s (kills and "
        f"faults {report.kill_phase_seconds:.0f} s, settling {report.settle_seconds:.0f} s); "
        f"{report.requests:,} requests"
    )
    if report.oauth_token_seconds:
        line = chaos_oauth.report_line(report.oauth, report.oauth_token_seconds)
        out.append(f"{'oauth':<{width}}  {report.oauth.get('oauth_refreshes', 0):>7,}  {line}")
    verdict = "PASS: 0 lost, 0 duplicated, 0 wrong, 0 stuck" if report.ok else "FAIL"
    out.append(verdict + ("" if report.converged else " (did not settle before the deadline)"))
    return "\n".join(out)


def format_modes(reports: Sequence[ChaosReport]) -> str:
    """The same run in each write mode, side by side: what a lost answer costs in each."""
    no_email = reports[0].kinds.get("no_email", 0) if reports else 0
    lines = [
        ("rows without email", lambda r: r.kinds.get("no_email", 0)),
        ("held (no email, outcome unknown)", lambda r: r.held),
        ("duplicated in HubSpot", lambda r: r.duplicated),
        ("lost", lambda r: r.lost),
        ("stuck", lambda r: r.stuck),
        ("synced", lambda r: r.synced),
        ("requests", lambda r: r.requests),
    ]
    width = max(len(name) for name, _ in lines)
    out = [f"write modes side by side ({no_email:,} rows without email)"]
    out.append(f"{'':<{width}}" + "".join(f"  {r.write_mode:>8}" for r in reports))
    for name, value in lines:
        out.append(f"{name:<{width}}" + "".join(f"  {value(r):>8,}" for r in reports))
    out.append(
        f"{'verdict':<{width}}" + "".join(f"  {'PASS' if r.ok else 'FAIL':>8}" for r in reports)
    )
    return "\n".join(out)


def _host_faults_detail(report: ChaosReport) -> str:
    return ", ".join(f"{name} {report.host_faults.get(name, 0):,}" for name in HOST_FAULTS)


def format_problems(report: ChaosReport, limit: int = 25) -> str:
    if not report.problems:
        return ""
    out = [f"{len(report.problems)} problem rows (first {min(limit, len(report.problems))}):"]
    for p in report.problems[:limit]:
        out.append(
            f"  {p.what}: {p.key} [{p.kind}] db id {p.db_id} status {p.status} "
            f"hubspot_id {p.hubspot_id or '-'}: {p.detail}"
        )
    out.append(f"kills (seconds after start, worker, pid): {report.kills}")
    out.append(f"history outcomes: {report.attempt_outcomes}")
    out.append(f"logs, dump.json and sandbox_contacts.json in {report.work_dir}")
    return "\n".join(out)


# -- command line ----------------------------------------------------------------------------


def _interval(text: str) -> tuple[float, float]:
    parts = [float(p) for p in text.split(",")]
    if len(parts) == 1:
        return parts[0] / 2, parts[0] * 1.5
    if len(parts) != 2:
        raise argparse.ArgumentTypeError("MIN,MAX seconds, or one mean")
    return parts[0], parts[1]


def _sandbox_option(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("NAME=VALUE")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def _database_url_from_environ() -> str:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if urlsplit(url).scheme.split("+")[0] not in POSTGRES_SCHEMES:
        return url  # check_postgres_url says why not
    return chaos_database_url(url)


def parse_args(argv: Sequence[str] | None) -> tuple[str, ChaosOptions]:
    """The write mode asked for ("create", "upsert" or "both") and the run's options."""
    defaults = ChaosOptions()
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--contacts", type=int, default=defaults.contacts)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--kill-seconds",
        type=float,
        default=defaults.kill_seconds,
        help="kill workers during this many seconds (default %(default)s)",
    )
    parser.add_argument(
        "--kill-interval",
        type=_interval,
        default=defaults.kill_interval,
        help="MIN,MAX seconds between kills (default 1,3); one number N means N/2,1.5N",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=defaults.deadline_seconds,
        help="seconds allowed from the first worker's start to the end",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="batches in flight per worker"
    )
    parser.add_argument("--lease-seconds", type=float, default=defaults.lease_seconds)
    parser.add_argument(
        "--edits",
        type=int,
        default=None,
        help="rows edited through Contact.save() while workers are killed (default 1%% of "
        "the rows; 0 for none)",
    )
    parser.add_argument(
        "--no-neighbour",
        dest="neighbour",
        action="store_false",
        help="no bursts from another app eating into the shared rate limit",
    )
    parser.add_argument(
        "--sandbox-option",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        type=_sandbox_option,
        help="any other sandbox option, e.g. conflict_mode=batch (repeatable)",
    )
    parser.add_argument(
        "--merges",
        type=int,
        default=defaults.merges,
        help="rows whose HubSpot record is merged into another contact mid-run (default 0)",
    )
    parser.add_argument(
        "--write-mode",
        choices=(*WRITE_MODES, "both"),
        default="create",
        help="crmsync's WRITE_MODE; both: the same run in each, compared (default create)",
    )
    parser.add_argument(
        "--no-email-share",
        type=float,
        default=defaults.no_email_share,
        help="share of rows without an email (default %(default)s)",
    )
    parser.add_argument(
        "--drop-after-commit-rate",
        type=float,
        default=defaults.drop_after_commit_rate,
        help="share of answers dropped after HubSpot wrote (default %(default)s)",
    )
    parser.add_argument(
        "--oauth-token-seconds",
        type=float,
        default=defaults.oauth_token_seconds,
        help="OAuth mode: access tokens that expire after this many seconds (0: static token)",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return args.write_mode, ChaosOptions(
        contacts=args.contacts,
        workers=args.workers,
        seed=args.seed,
        database_url=_database_url_from_environ(),
        redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        kill_seconds=args.kill_seconds,
        kill_interval=args.kill_interval,
        deadline_seconds=args.deadline,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        neighbour=args.neighbour,
        edits=args.edits,
        merges=args.merges,
        sandbox_options=dict(args.sandbox_option),
        no_email_share=args.no_email_share,
        drop_after_commit_rate=args.drop_after_commit_rate,
        oauth_token_seconds=args.oauth_token_seconds,
        work_dir=args.work_dir,
        progress=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True),
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        mode, options = parse_args(argv)
        reports = []
        for write_mode in WRITE_MODES if mode == "both" else (mode,):
            work = options.work_dir / write_mode if options.work_dir and mode == "both" else None
            run = dataclasses.replace(
                options, write_mode=write_mode, work_dir=work or options.work_dir
            )
            reports.append(run_chaos(run))
    except BenchError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print(format_report(report))
        problems = format_problems(report)
        if problems:
            print(problems)
    if len(reports) > 1:
        print(format_modes(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
