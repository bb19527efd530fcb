"""One worker process of ``bench.throughput`` (``python -m bench._throughput_worker``); not
meant to be run by hand.

``crmsync`` mode: Django set up from the environment the parent prepared (``DATABASE_URL``,
``REDIS_URL``, ``HUBSPOT_*``, ``CRMSYNC_*``), then ``crmsync.services.sync_pending()`` called
until no row is pending or in flight. ``naive`` mode: the baseline, one contact per request
and one UPDATE per row, as HubSpot's Python SDK examples go about it.

Both write a ready file once set up, wait for the parent's go file (so that several workers
start together and start-up is not measured), and write their figures as JSON at the end:
CPU time of the whole process (every thread), peak RSS, and the SQL statements they ran,
counted with Django's ``execute_wrapper`` on every connection (the sync's threads each have
their own) and grouped by kind. BEGIN, COMMIT and SAVEPOINT statements are not counted.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import setup_django

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")


class QueryCounter:
    """An ``execute_wrapper`` that counts statements by kind while ``active`` is set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: collections.Counter[str] = collections.Counter()
        #: Wall time in each kind of statement, as the worker sees it (round trip included).
        self.seconds: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.active = False

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if not self.active:
            return execute(sql, params, many, context)
        kind = classify(sql)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if kind:
                elapsed = time.perf_counter() - started
                with self.lock:
                    self.kinds[kind] += 1
                    self.seconds[kind] += elapsed

    def install(self, connection: Any) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


def classify(sql: str) -> str:
    """A short name for a statement: its verb and table, and which hot-path query it is."""
    text = " ".join(sql.split())
    upper = text.upper()
    if upper.startswith(_CONTROL):
        return ""
    verb = upper.split(" ", 1)[0]
    table = ""
    for word in text.replace('"', " ").replace("(", " ").split():
        if word.startswith("crmsync_"):
            table = word
            break
    if verb == "UPDATE" and "RETURNING" in upper:
        return f"claim: UPDATE {table} ... RETURNING"
    if verb == "UPDATE" and " FROM " in upper and "CLAIM_TOKEN =" in upper:
        return f"write-back: UPDATE {table} ... FROM"
    return f"{verb} {table}".strip()


def wait_for_go(ready: Path, go: Path, timeout: float) -> None:
    ready.write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal from the parent")
        time.sleep(0.002)


class SlotClock:
    """When each request got its rate-limit slot, by HubSpot correlation id.

    Wraps the process's limiter object and hooks the client's session (no crmsync code
    changes): the parent compares these times with the sandbox's ``startedAt`` of the same
    request, which is when the sandbox counted it in its window.
    """

    def __init__(self) -> None:
        self.local = threading.local()
        self.taken: dict[str, float] = {}

    def install(self, client: Any) -> None:
        limiter = client.limiter
        if limiter is None:
            return
        acquire = limiter.acquire

        def timed_acquire(*args: Any, **kwargs: Any) -> Any:
            slot = acquire(*args, **kwargs)
            self.local.taken = time.time()
            return slot

        limiter.acquire = timed_acquire
        client.session.hooks["response"].append(self.on_response)

    def on_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        taken = getattr(self.local, "taken", None)
        correlation_id = response.headers.get("X-HubSpot-Correlation-Id")
        if taken is not None and correlation_id:
            self.taken[correlation_id] = taken
        self.local.taken = None


def run_crmsync(args: argparse.Namespace, counter: QueryCounter) -> dict[str, Any]:
    from django.db import connection

    from crmsync import runtime, services

    # Build the client and limiter, and connect, before the clock starts.
    services.check_configuration()
    slots = SlotClock()
    if args.slots:
        slots.install(runtime.get_client())
    services.count_waiting()
    connection.close()
    wait_for_go(Path(args.ready), Path(args.go), args.setup_timeout)
    started = time.perf_counter()
    cpu = time.process_time()
    total = services.RunSummary()
    runs = 0
    deadline = time.monotonic() + args.timeout
    timed_out = False
    while True:
        counter.active = True
        tick = time.monotonic()
        if args.mode == "drain":  # crmsync_sync --drain: waits for rows due soon itself
            summary = services.drain(
                args.timeout, services.check_configuration().DRAIN_HORIZON_SECONDS
            )
        else:
            summary = services.sync_pending()
        counter.active = False
        runs += 1
        total.add(summary)
        if summary.stopped_reason:
            break
        if services.count_waiting() == 0:
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
        if args.mode == "tick":
            # As under Celery beat: the next run comes at the next tick, whatever is due.
            time.sleep(max(0.0, tick + args.tick - time.monotonic()))
        elif summary.batches == 0:
            # Rows left are in flight at another worker, or waiting out a retry delay.
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    result = total.as_dict()
    result.update(runs=runs, elapsed=elapsed, cpu_seconds=cpu, timed_out=timed_out)
    if args.slots:
        result["slots"] = slots.taken
    return result


def run_naive(args: argparse.Namespace, counter: QueryCounter) -> dict[str, Any]:
    """One contact per request, one UPDATE per row: how HubSpot's SDK examples sync."""
    import requests
    from django.db import connection
    from django.utils import timezone

    from crmsync.models import Contact, SyncStatus

    base = os.environ["HUBSPOT_API_BASE_URL"].rstrip("/")
    session = requests.Session()
    session.trust_env = False
    session.headers.update(
        {
            "Authorization": f"Bearer {os.environ['HUBSPOT_ACCESS_TOKEN']}",
            "Content-Type": "application/json",
        }
    )
    # The sandbox serves no single-object POST /crm/v3/objects/contacts: a one-input
    # batch/create is the same request shape and cost.
    url = f"{base}/crm/v3/objects/contacts/batch/create"
    Contact.objects.count()  # connect before the clock starts
    wait_for_go(Path(args.ready), Path(args.go), args.setup_timeout)
    started = time.perf_counter()
    cpu = time.process_time()
    synced = failed = requests_sent = 0
    counter.active = True
    rows = Contact.objects.filter(sync_status=SyncStatus.PENDING).order_by("id")
    for contact in rows.iterator(chunk_size=500):
        properties = {
            "email": contact.email,
            "firstname": contact.firstname,
            "lastname": contact.lastname,
            "phone": contact.phone,
            "company": contact.company,
            "lifecyclestage": contact.lifecyclestage,
            **{k: str(v) for k, v in contact.properties.items()},
        }
        response = session.post(url, json={"inputs": [{"properties": properties}]}, timeout=30)
        requests_sent += 1
        if response.status_code in (200, 201):
            hubspot_id = response.json()["results"][0]["id"]
            Contact.objects.filter(pk=contact.pk).update(
                hubspot_id=hubspot_id, sync_status=SyncStatus.SYNCED, synced_at=timezone.now()
            )
            synced += 1
        else:
            failed += 1
    counter.active = False
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    connection.close()
    return {
        "synced": synced,
        "failed": failed,
        "requests": requests_sent,
        "batches": 0,
        "elapsed": elapsed,
        "cpu_seconds": cpu,
        "timed_out": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("crmsync", "naive", "tick", "drain"), default="crmsync")
    parser.add_argument("--tick", type=float, default=5.0, help="tick mode: seconds between runs")
    parser.add_argument("--ready", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--setup-timeout", type=float, default=120.0)
    parser.add_argument("--slots", action="store_true", help="report rate-limit slot times")
    args = parser.parse_args()

    setup_django()
    from django.db.backends.signals import connection_created

    counter = QueryCounter()

    def _on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
        counter.install(connection)

    connection_created.connect(_on_connect, weak=False)
    run = run_naive if args.mode == "naive" else run_crmsync
    result = run(args, counter)
    result["queries"] = dict(counter.kinds)
    result["query_seconds"] = dict(counter.seconds)
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["pid"] = os.getpid()
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
