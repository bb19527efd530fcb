"""The operator's admin at scale: 1M contacts, 5M history rows (docs/benchmarks.md).

    python -m bench.admin_scale [--reseed] [--runs 5]

PostgreSQL only, in a database of its own (``BENCH_ADMIN_DATABASE_URL``, default
``crmsync_adminscale``), created, migrated and seeded when missing: one ``INSERT ... SELECT
generate_series`` per table (1M contacts with a realistic mix of states and errors, ~50k
requests over the last 24 hours, 5M attempts, one contact with 5,000 of them). Then it times,
with Django's test client logged in as a superuser (median of ``--runs`` after a warm-up):
the dashboard, ``crmsync_status --json``, the contact list unfiltered and with each of its
list filters (whatever filters the admin has), a contact's page with 5,000 attempts, and a
request's page; and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import common

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crmsync_adminscale"
CONTACTS = 1_000_000
BATCHES = 50_000
ATTEMPTS = 5_000_000
HEAVY_ATTEMPTS = 5_000

# Contacts: 90 % synced, 4 % pending (half due), 3 % failed (20 messages in 4 categories),
# 1 % held, 1 % in flight, 1 % archived: decided by id % 100.
SEED_CONTACTS = f"""
INSERT INTO crmsync_contact (id, email, firstname, lastname, phone, company, lifecyclestage,
  properties, associations, sync_status, hubspot_id, sync_error, sync_error_category,
  hubspot_status, synced_at, sync_attempts, next_attempt_at, version, synced_version,
  claimed_version, needs_reconcile, created_at, updated_at, reconcile_emails, action, source,
  source_pk, lease_expires_at)
SELECT i, 'person' || i || '@example.com', 'First' || (i % 997), 'Last' || (i % 991), '', '',
  'lead', '{{}}'::jsonb, '[]'::jsonb,
  CASE WHEN i % 100 < 90 THEN 'synced' WHEN i % 100 < 94 THEN 'pending'
       WHEN i % 100 < 97 THEN 'failed' WHEN i % 100 < 98 THEN 'held'
       WHEN i % 100 < 99 THEN 'in_flight' ELSE 'archived' END,
  CASE WHEN i % 100 < 90 THEN (100000 + i)::text ELSE '' END,
  CASE WHEN i % 100 BETWEEN 94 AND 97 THEN 'Error number ' || (i % 20) ELSE '' END,
  CASE WHEN i % 100 BETWEEN 94 AND 97
       THEN (ARRAY['VALIDATION_ERROR', 'CONFLICT', 'OBJECT_NOT_FOUND', 'INVALID_EMAIL'])[i % 4 + 1]
       ELSE '' END,
  'COMPLETE', now() - (i % 86400) * interval '1 second', i % 3,
  CASE WHEN i % 2 = 0 THEN now() - (i % 3600) * interval '1 second'
       ELSE now() + (i % 3600) * interval '1 second' END,
  2, 1, 1, false, now() - interval '30 days', now() - (i % 86400) * interval '1 second', '',
  'upsert', '', '',
  CASE WHEN i % 100 = 98 THEN now() + interval '5 minutes' END
FROM generate_series(1, {CONTACTS}) AS i
"""
SEED_BATCHES = f"""
INSERT INTO crmsync_syncbatch (id, created_at, endpoint, path, input_count, success_count,
  error_count, http_status, hubspot_status, error_category, error_message, requested_at,
  started_at, completed_at, correlation_id, duration_ms, request_body, worker, daily_limit,
  daily_remaining)
SELECT i, now() - ({BATCHES} - i) * interval '1 second' * 86400 / {BATCHES},
  CASE WHEN i % 3 = 0 THEN 'update' WHEN i % 50 = 1 THEN 'read' ELSE 'create' END,
  '/crm/v3/objects/contacts/batch/create', 100,
  CASE WHEN i % 100 = 7 THEN 0 WHEN i % 10 = 0 THEN 97 ELSE 100 END,
  CASE WHEN i % 100 = 7 THEN 100 WHEN i % 10 = 0 THEN 3 ELSE 0 END,
  CASE WHEN i % 100 = 7 THEN 429 WHEN i % 10 = 0 THEN 207 ELSE 201 END,
  'COMPLETE', '', '', '', '', '', md5(i::text), 250, '', 'bench:1',
  250000, 250000 - i
FROM generate_series(1, {BATCHES}) AS i
"""
SEED_ATTEMPTS = f"""
INSERT INTO crmsync_syncattempt (id, created_at, email, outcome, hubspot_id, error_category,
  error_message, trace_id, version, contact_id, batch_id)
SELECT i, now() - (i % 86400) * interval '1 second', 'person' || (i % {CONTACTS} + 1) ||
  '@example.com', CASE WHEN i % 20 = 0 THEN 'failed' ELSE 'created' END, '', '', '', '', 1,
  CASE WHEN i <= {HEAVY_ATTEMPTS} THEN 1 ELSE i % {CONTACTS} + 1 END,
  i % {BATCHES} + 1
FROM generate_series(1, {ATTEMPTS}) AS i
"""
TABLES = ("crmsync_syncattempt", "crmsync_syncbatch", "crmsync_contact")


def seed(url: str) -> None:
    with common.connect(url) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        for name, statement in (
            ("contacts", SEED_CONTACTS),
            ("requests", SEED_BATCHES),
            ("attempts", SEED_ATTEMPTS),
        ):
            started = time.monotonic()
            conn.execute(statement)
            print(f"seeded {name} in {time.monotonic() - started:.1f} s", flush=True)
        for table in TABLES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    with common.connect(url) as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def seeded(url: str) -> bool:
    with common.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM crmsync_syncbatch").fetchone()
        contacts = conn.execute("SELECT max(id) FROM crmsync_contact").fetchone()
    return bool(row and row[0] == BATCHES and contacts and contacts[0] == CONTACTS)


def median_ms(function: Callable[[], Any], runs: int) -> float:
    function()  # warm-up: connections, template loading, caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def cases() -> list[tuple[str, Callable[[], Any]]]:
    """Every page to time, each a function that fails loudly on a non-200."""
    from django.contrib.admin.sites import site
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client, RequestFactory
    from django.urls import reverse

    from crmsync.models import Contact, SyncBatch

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    def get(url: str) -> Callable[[], Any]:
        def fetch() -> Any:
            response = client.get(url)
            if response.status_code != 200:
                raise common.BenchError(f"GET {url}: HTTP {response.status_code}")
            return response

        return fetch

    def status() -> None:
        # Unhealthy (exit 2) is fine here: no worker runs during the bench.
        with contextlib.suppress(SystemExit):
            call_command("crmsync_status", "--json", stdout=io.StringIO())

    changelist = reverse("admin:crmsync_contact_changelist")
    found: list[tuple[str, Callable[[], Any]]] = [
        ("dashboard", get(reverse("admin:crmsync_dashboard"))),
        ("crmsync_status --json", status),
        ("contact list", get(changelist)),
    ]
    request = RequestFactory().get(changelist)
    request.user = user
    contact_admin = site._registry[Contact]
    listing = contact_admin.get_changelist_instance(request)
    for spec in listing.filter_specs:
        choices = list(spec.choices(listing))
        chosen = next((c for c in choices[1:] if c.get("query_string")), None)
        if chosen is not None:
            title = str(getattr(spec, "title", "filter"))
            query = chosen["query_string"]
            found.append((f"contact list, filter {title} ({query})", get(changelist + query)))
    found.append(
        (
            f"contact page, {HEAVY_ATTEMPTS:,} attempts",
            get(reverse("admin:crmsync_contact_change", args=[1])),
        )
    )
    busiest = SyncBatch.objects.order_by("-id").values_list("id", flat=True).first()
    found.append(("request page", get(reverse("admin:crmsync_syncbatch_change", args=[busiest]))))
    return found


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_ADMIN_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="PostgreSQL database of the bench's own (created, migrated and seeded)",
    )
    parser.add_argument("--reseed", action="store_true", help="seed again even if seeded")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per page (median)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    url = args.database_url
    if not url.startswith(("postgres", "pgsql")):
        raise SystemExit("bench.admin_scale needs PostgreSQL (--database-url postgres://...)")
    common.ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # no broker: the dashboard reads, nothing is sent
    os.environ.setdefault("HUBSPOT_ACCESS_TOKEN", "bench-admin-token")
    common.setup_django()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host, "testserver", is allowed
    call_command("migrate", verbosity=0, skip_checks=True)
    if args.reseed or not seeded(url):
        seed(url)
    rows = [(name, median_ms(function, args.runs)) for name, function in cases()]
    width = max(len(name) for name, _ in rows)
    print(f"\n{'page':<{width}}  median ms (of {args.runs})")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:9.1f}")


if __name__ == "__main__":
    main()
