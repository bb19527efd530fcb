"""The processes ``bench.chaos`` starts inside Django, on the chaos database.

    python -m bench._chaos_child fill ROWS.json     # empty crmsync's tables, bulk-insert rows
    python -m bench._chaos_child dump OUT.json      # every contact's final state, and history
    python -m bench._chaos_child worker NAME        # sync_pending() in a loop until SIGTERM
    python -m bench._chaos_child edit PLAN.json     # edit rows as a user would, meanwhile

The database, the sandbox and every setting come from the environment (``DATABASE_URL``,
``HUBSPOT_API_BASE_URL``, ``CRMSYNC_<NAME>``...), so the harness itself never imports Django
and can run inside a pytest process whose Django points at another database.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import setup_django

#: Rows per INSERT statement when filling.
FILL_BATCH = 1000
#: A worker with nothing due sleeps this long before looking again.
IDLE_SECONDS = 0.25

logger = logging.getLogger("crmsync.chaos.worker")


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the harness dies, so no worker outlives an
    aborted run (elsewhere this does nothing)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the harness died before the call above
        os._exit(1)


def _stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets: the loop finishes what it is doing, then stops."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    return stopping


def fill(path: Path) -> dict[str, Any]:
    """Start from empty tables (a previous run may have left rows), then insert the rows."""
    from django.db import connection, transaction

    from crmsync.models import Contact, PipelineState, SyncAttempt, SyncBatch

    rows = json.loads(path.read_text(encoding="utf-8"))
    tables = [m._meta.db_table for m in (SyncAttempt, SyncBatch, Contact, PipelineState)]
    quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        # bulk_create sends no signals: nothing is enqueued, the workers find the rows pending.
        Contact.objects.bulk_create((Contact(**row) for row in rows), batch_size=FILL_BATCH)
    return {"table": Contact._meta.db_table, "count": Contact.objects.count()}


def dump(path: Path) -> dict[str, Any]:
    """Write every contact's sync state, with the history's outcome counts."""
    from django.db.models import Count

    from crmsync.models import Contact, SyncAttempt

    fields = (
        "id",
        "email",
        "firstname",
        "lastname",
        "properties",
        "sync_status",
        "hubspot_id",
        "sync_error",
        "sync_error_category",
        "sync_attempts",
        "needs_reconcile",
        "version",
        "synced_version",
    )
    contacts = list(Contact.objects.order_by("id").values(*fields))
    outcomes = dict(
        SyncAttempt.objects.values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    data = {"contacts": contacts, "attempt_outcomes": outcomes}
    path.write_text(json.dumps(data, default=str), encoding="utf-8")
    return {"count": len(contacts)}


def worker(name: str) -> None:
    """Drain the queue again and again, as a Celery worker with a busy beat would."""
    from django.db import close_old_connections

    from crmsync import services

    stopping = _stop_on_sigterm()
    logger.warning("worker %s (pid %d) started", name, os.getpid())
    while not stopping.is_set():
        busy = False
        try:
            summary = services.sync_pending()
            released = services.release_expired_leases()
            busy = summary.batches > 0 or released > 0
            if summary.stopped_reason:
                logger.warning("worker %s: run stopped: %s", name, summary.stopped_reason)
        except Exception:
            # A worker that dies on an error would hide it behind a restart: log and go on.
            logger.exception("worker %s: sync_pending raised", name)
            close_old_connections()
            time.sleep(1.0)
            continue
        if not busy:
            time.sleep(IDLE_SECONDS)
    logger.warning("worker %s stopped", name)


def edit(path: Path) -> dict[str, Any]:
    """Edit rows through ``Contact.save()`` while the workers run, as the host project would.

    Edits favour rows in flight (the write-back must see the newer version and send it
    again) and rows waiting to be reconciled after an unknown outcome (their lookup must
    still find what an earlier create made); some change the email.
    """
    import random

    from crmsync.models import Contact, SyncStatus

    plan = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(f"{plan['seed']}:edits")
    wanted = set(plan["keys"])
    editable = sorted(
        pk
        for pk, props in Contact.objects.values_list("id", "properties")
        if isinstance(props, dict) and props.get("chaos_row_id") in wanted
    )
    editable_set = set(editable)
    stopping = _stop_on_sigterm()
    log: list[dict[str, Any]] = []
    for n in range(plan["edits"]):
        time.sleep(rng.uniform(0.5, 1.5) / plan["per_second"])
        if stopping.is_set():
            break
        draw = rng.random()
        if draw < 0.4:
            pool = Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT)
        elif draw < 0.6:
            pool = Contact.objects.filter(sync_status=SyncStatus.PENDING, needs_reconcile=True)
        else:
            pool = Contact.objects.none()
        candidates = sorted(set(pool.values_list("id", flat=True)) & editable_set)
        pk = rng.choice(candidates or editable)
        contact = Contact.objects.get(pk=pk)
        before = {
            "status": contact.sync_status,
            "needs_reconcile": contact.needs_reconcile,
            "email": contact.email,
            "version": contact.version,
        }
        contact.firstname = f"Edited {n}"
        if contact.email and rng.random() < plan["email_share"]:
            contact.email = f"edited{n}.{pk}@{plan['domain']}"
        contact.save()
        log.append({"n": n, "id": pk, "at": time.time(), "before": before, "email": contact.email})
    out = path.with_name("edits.json")
    out.write_text(json.dumps(log, indent=1), encoding="utf-8")
    return {
        "edits": len(log),
        "emails": sum(1 for e in log if e["email"] != e["before"]["email"]),
        "in_flight": sum(1 for e in log if e["before"]["status"] == SyncStatus.IN_FLIGHT),
        "reconciling": sum(
            1
            for e in log
            if e["before"]["needs_reconcile"] and e["before"]["status"] == SyncStatus.PENDING
        ),
    }


def touch(path: Path) -> dict[str, Any]:
    """Edit the rows whose ids ``path`` lists through ``Contact.save()`` (their HubSpot
    records were just merged away: the update that follows must find the survivor)."""
    from crmsync.models import Contact

    ids = json.loads(path.read_text(encoding="utf-8"))
    for contact in Contact.objects.filter(pk__in=ids):
        contact.firstname = f"Merged {contact.pk}"
        contact.save()
    return {"touched": len(ids)}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("fill", "dump", "worker", "edit", "touch"):
        print(__doc__, file=sys.stderr)
        return 2
    command, arg = argv
    _die_with_parent()
    setup_django()
    if command == "worker":
        worker(arg)
        return 0
    commands = {"fill": fill, "dump": dump, "edit": edit, "touch": touch}
    result = commands[command](Path(arg))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
