"""The Django side of ``bench.host_models`` (``python -m bench._host_child MODE ...``); not
meant to be run by hand. Settings ``bench.host_settings``: ``tests.hostapp.Customer``
registered by ``bench/host_registration/hubspot.py``.

Every mode sets Django up and prepares, writes its pid to ``--ready``, waits for ``--go`` (so
the parent's CPU meter starts with the work), then writes its figures as JSON to ``--result``:

- ``saves``: the cost of ``Customer.save()`` with crmsync's receivers connected (registered)
  and disconnected (what the save costs without crmsync), for an update that changes a mapped
  field and one that changes nothing mapped; per-save wall time and SQL statements.
- ``unchanged``: mirror and sync every host row, then ``--saves`` saves that change nothing
  mapped, then sync again: what reached the sandbox in between.
- ``change``: ``Customer._default_manager.update(plan=...)`` then ``crmsync.queue()`` (one property,
  ``jobtitle``, changes on every row).
- ``backfill``: ``manage.py crmsync_backfill hostapp.Customer``, as an operator runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench._throughput_worker import QueryCounter, wait_for_go
from bench.common import setup_django

LABEL = "hostapp.customer"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Nudges:
    """Counts ``crmsync.tasks.enqueue_sync`` calls (one per save whose mirror changed, made
    once the save commits), passing each on."""

    def __init__(self) -> None:
        from crmsync import tasks

        self.count = 0
        self.original: Callable[[], bool] = tasks.enqueue_sync
        tasks.enqueue_sync = self

    def __call__(self) -> bool:
        self.count += 1
        return self.original()


def sandbox_stats() -> dict[str, Any]:
    from django.conf import settings

    base = settings.CRMSYNC["API_BASE_URL"].rstrip("/")
    session = requests.Session()
    session.trust_env = False
    answer: dict[str, Any] = session.get(f"{base}/_sandbox/stats", timeout=30).json()
    session.close()
    return answer


def drain() -> dict[str, int]:
    """``sync_pending()`` until nothing is waiting; what it sent."""
    from crmsync import services

    batches = contacts = 0
    while True:
        summary = services.sync_pending()
        batches += summary.batches
        contacts += summary.synced
        if summary.stopped_reason or services.count_waiting() == 0:
            return {"batches": batches, "synced": contacts}
        if summary.batches == 0:
            time.sleep(0.05)


# -- saves -----------------------------------------------------------------------------------


def run_saves(args: argparse.Namespace) -> dict[str, Any]:
    from celery import current_app
    from django.db import connection
    from django.db.models.signals import post_delete, post_save

    import crmsync
    from crmsync import receivers, registry
    from tests.hostapp.models import Company, Customer

    registration = registry.registration_for(Customer)
    assert registration is not None, "bench.host_registration did not register Customer"
    nudges = Nudges()

    def connect(on: bool) -> None:
        if on:
            receivers.connect(registration)
        else:
            post_save.disconnect(sender=Customer, dispatch_uid=f"crmsync_saved:{LABEL}")
            post_delete.disconnect(sender=Customer, dispatch_uid=f"crmsync_deleted:{LABEL}")

    # (name, receivers connected, nudge through the broker, change a mapped field)
    cases = [
        ("mapped, without crmsync", False, False, True),
        ("mapped, registered, no broker", True, False, True),
        ("mapped, registered, Redis broker", True, True, True),
        ("nothing mapped, without crmsync", False, False, False),
        ("nothing mapped, registered", True, False, False),
    ]
    if not args.broker:
        cases = [c for c in cases if not c[2]]
    with crmsync.without_sync():
        company = Company._default_manager.create(name="Analytical Engines Ltd")
        pools: dict[str, list[Any]] = {}
        for n, case in enumerate(cases):
            Customer._default_manager.bulk_create(
                Customer(
                    email=f"save-{n}-{i}@example.com",
                    first_name="Ada",
                    last_name=f"Lovelace {i}",
                    company=company,
                    plan="pro",
                    signed_up=dt.date(2024, 1, 1),
                )
                for i in range(args.pool)
            )
            pools[case[0]] = list(
                Customer._default_manager.filter(email__startswith=f"save-{n}-").select_related(
                    "company"
                )
            )
    # Every registered row has its mirror already, as after a backfill.
    crmsync.queue(Customer._default_manager.all())
    broker_eager = current_app.conf.task_always_eager

    def save(case: tuple[str, bool, bool, bool], obj: Any) -> int:
        if case[3]:
            obj.first_name = "Augusta" if obj.first_name == "Ada" else "Ada"
        else:
            obj.is_active = not obj.is_active
        started = time.perf_counter_ns()
        obj.save()
        return time.perf_counter_ns() - started

    def use(case: tuple[str, bool, bool, bool]) -> None:
        connect(case[1])
        # No broker: crmsync.tasks.enqueue_sync skips the publish (tasks run eagerly).
        current_app.conf.task_always_eager = broker_eager or not case[2]

    # Statements per save, counted apart from the timed saves.
    counter = QueryCounter()
    counter.install(connection)
    queries: dict[str, float] = {}
    for case in cases:
        use(case)
        counter.kinds.clear()
        counter.active = True
        for obj in pools[case[0]][:50]:
            save(case, obj)
        counter.active = False
        queries[case[0]] = sum(counter.kinds.values()) / 50
    connection.execute_wrappers.remove(counter)

    wait_for_go(Path(args.ready), Path(args.go), 120)
    cpu = time.process_time()
    times: dict[str, list[float]] = {case[0]: [] for case in cases}
    counts: dict[str, int] = {case[0]: 0 for case in cases}
    nudged: dict[str, int] = {case[0]: 0 for case in cases}
    rounds = max(1, args.reps // args.round)
    rng = random.Random(9)
    position = dict.fromkeys(times, 0)
    for number in range(rounds + 1):  # round 0 warms up and is not kept
        order = list(cases)
        rng.shuffle(order)
        for case in order:
            use(case)
            pool = pools[case[0]]
            before = nudges.count
            for _ in range(args.round):
                obj = pool[position[case[0]] % len(pool)]
                position[case[0]] += 1
                elapsed = save(case, obj)
                if number:
                    times[case[0]].append(elapsed / 1000)
            if number:
                counts[case[0]] += args.round
                nudged[case[0]] += nudges.count - before
    use(cases[1])
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "cpu_seconds": time.process_time() - cpu,
        "cases": {},
    }
    for case in cases:
        name = case[0]
        values = times[name]
        result["cases"][name] = {
            "saves": counts[name],
            "median_us": statistics.median(values),
            "p90_us": percentile(values, 0.9),
            "mean_us": statistics.fmean(values),
            "queries": queries[name],
            "nudges_per_save": nudged[name] / counts[name],
        }
    return result


# -- unchanged saves -------------------------------------------------------------------------


def run_unchanged(args: argparse.Namespace) -> dict[str, Any]:
    import crmsync
    from crmsync.models import Contact
    from tests.hostapp.models import Customer

    nudges = Nudges()
    queued = crmsync.queue(Customer._default_manager.all())
    first = drain()
    customers = list(Customer._default_manager.select_related("company").order_by("pk"))
    versions = sum(Contact.objects.filter(source=LABEL).values_list("version", flat=True))
    before = sandbox_stats()
    nudges.count = 0
    wait_for_go(Path(args.ready), Path(args.go), 120)
    started = time.perf_counter()
    cpu = time.process_time()
    for n in range(args.saves):
        obj = customers[n % len(customers)]
        obj.is_active = not obj.is_active  # a field the registration does not map
        obj.save()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    waiting_after_saves = Contact.objects.filter(source=LABEL).exclude(sync_status="synced").count()
    second = drain()
    after = sandbox_stats()
    return {
        "rows": len(customers),
        "queued": queued,
        "first_sync": first,
        "first_sync_requests": before["requests_total"],
        "saves": args.saves,
        "save_seconds": elapsed,
        "cpu_seconds": cpu,
        "nudges": nudges.count,
        "mirror_versions_changed": sum(
            Contact.objects.filter(source=LABEL).values_list("version", flat=True)
        )
        - versions,
        "waiting_after_saves": waiting_after_saves,
        "second_sync": second,
        "requests": after["requests_total"] - before["requests_total"],
        "requests_by_endpoint_after": after["requests_by_endpoint"],
    }


# -- one property changed --------------------------------------------------------------------


def run_change(args: argparse.Namespace) -> dict[str, Any]:
    import crmsync
    from tests.hostapp.models import Customer

    wait_for_go(Path(args.ready), Path(args.go), 120)
    started = time.perf_counter()
    updated = Customer._default_manager.update(plan=args.plan)
    queued = crmsync.queue(Customer._default_manager.all(), chunk_size=1000)
    return {"updated": updated, "queued": queued, "seconds": time.perf_counter() - started}


# -- backfill --------------------------------------------------------------------------------


def run_backfill(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from tests.hostapp.models import Customer

    Customer._default_manager.exists()  # connect before the clock starts
    connection.close()
    wait_for_go(Path(args.ready), Path(args.go), 120)
    started = time.perf_counter()
    cpu = time.process_time()
    call_command("crmsync_backfill", "hostapp.Customer", batch_size=args.batch_size)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


MODES = {
    "saves": run_saves,
    "unchanged": run_unchanged,
    "change": run_change,
    "backfill": run_backfill,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--ready", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--reps", type=int, default=2000, help="saves: timed saves per case")
    parser.add_argument("--round", type=int, default=50, help="saves: saves per case in a row")
    parser.add_argument("--pool", type=int, default=200, help="saves: host rows per case")
    parser.add_argument("--broker", action="store_true", help="saves: also time the nudge")
    parser.add_argument("--saves", type=int, default=100_000, help="unchanged: saves")
    parser.add_argument("--plan", default="pro", help="change: the new plan")
    parser.add_argument("--batch-size", type=int, default=1000, help="backfill: chunk size")
    args = parser.parse_args()
    setup_django()
    result = MODES[args.mode](args)
    result["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["pid"] = os.getpid()
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
