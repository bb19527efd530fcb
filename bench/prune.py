"""What ``crmsync_prune`` costs on a large history, on PostgreSQL.

    DATABASE_URL=postgres://.../some_db .venv/bin/python -m bench.prune [--attempts 5000000]

Fills the database named by DATABASE_URL (migrated here; its crmsync tables are emptied
first) with ``--contacts`` contacts (1 % failed) and ``--attempts`` attempts, 100 per request,
spread evenly over the last 150 days, then runs ``services.prune_history(90)`` while a second
connection keeps inserting history, and prints rows/s, DELETE statements and the longest one.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=5_000_000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("bench.prune needs DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    fill(args.contacts, args.attempts)
    print(f"filled {args.attempts:,} attempts in {time.perf_counter() - started:.0f} s")
    run(args.chunk_size)


def fill(contacts: int, attempts: int) -> None:
    from django.db import connection

    batches = attempts // 100
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE crmsync_syncattempt, crmsync_syncbatch, crmsync_contact RESTART IDENTITY"
        )
        cursor.execute(
            """INSERT INTO crmsync_contact (email, firstname, lastname, phone, company,
                lifecyclestage, properties, associations, sync_status, sync_error, hubspot_id,
                sync_error_category, hubspot_status)
            SELECT 'p' || g || '@example.com', 'First', 'Last', '', '', 'lead', '{}', '[]',
                CASE WHEN g %% 100 = 0 THEN 'failed' ELSE 'synced' END,
                CASE WHEN g %% 100 = 0 THEN 'email: invalid' ELSE '' END, g::text, '', ''
            FROM generate_series(1, %s) g""",
            [contacts],
        )
        cursor.execute(
            """INSERT INTO crmsync_syncbatch (created_at, endpoint, path, input_count,
                success_count, error_count, hubspot_status, error_category, error_message,
                requested_at, started_at, completed_at, correlation_id, duration_ms,
                request_body, worker)
            SELECT now() - interval '150 days' * (1 - g::float / %s), 'create', '/x', 100,
                100, 0, 'COMPLETE', '', '', '', '', '', '', 100, repeat('x', 2000), 'bench'
            FROM generate_series(1, %s) g""",
            [batches, batches],
        )
        cursor.execute(
            """INSERT INTO crmsync_syncattempt (created_at, batch_id, contact_id, email, outcome,
                hubspot_id, error_category, error_message, trace_id, version)
            SELECT b.created_at, b.id, 1 + (b.id * 100 + i) %% %s, 'p@example.com',
                'created', '1', '', '', 't', 1
            FROM crmsync_syncbatch b, generate_series(1, 100) i""",
            [contacts],
        )
        cursor.execute("ANALYZE")


def run(chunk_size: int) -> None:
    from django.db import connection

    from crmsync import services
    from crmsync.models import SyncAttempt, SyncBatch

    stop = threading.Event()
    written = [0]
    writer = threading.Thread(target=_keep_writing, args=(stop, written))
    writer.start()
    before = SyncAttempt.objects.count(), SyncBatch.objects.count()
    started = time.perf_counter()
    result = services.prune_history(90, chunk_size=chunk_size)
    took = time.perf_counter() - started
    stop.set()
    writer.join()
    rows = result.attempts + result.batches
    print(
        f"history before: {before[0]:,} attempts, {before[1]:,} requests; "
        f"pruned {result.attempts:,} attempts + {result.batches:,} requests in {took:.1f} s "
        f"= {rows / took:,.0f} rows/s; {result.deletes} DELETEs, the longest "
        f"{result.longest_delete_ms:.0f} ms; a writer inserted {written[0]:,} requests "
        "meanwhile"
    )
    connection.close()


def _keep_writing(stop: threading.Event, written: list[int]) -> None:
    """A worker writing history during the prune: one request and 100 attempts at a time."""
    from django.db import connection

    from crmsync.models import SyncAttempt, SyncBatch

    while not stop.is_set():
        batch = SyncBatch.objects.create(endpoint="create", path="/x", request_body="x" * 2000)
        SyncAttempt.objects.bulk_create(
            SyncAttempt(batch=batch, contact_id=1 + i, outcome="created") for i in range(100)
        )
        written[0] += 1
    connection.close()


if __name__ == "__main__":
    main()
