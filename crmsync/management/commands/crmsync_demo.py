"""``make demo``: queue a few hundred sample contacts and sync them through the real path.

Without a token in CRMSYNC it starts the sandbox in this process on a free loopback port and
points crmsync at it; with one it talks to that HubSpot account instead (and then queues
only valid, clearly-named sample contacts). A bad setting is one line and exit status 1.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.test.utils import override_settings

from crmsync import services
from crmsync.management.commands._base import checked_settings, or_command_error
from crmsync.management.commands.crmsync_sync import format_summary
from crmsync.models import Contact, SyncAttempt, SyncStatus

STAGES = ["subscriber", "lead", "marketingqualifiedlead", "customer"]
# Rows HubSpot (and the sandbox) reject, each for its own reason.
INVALID: list[dict[str, Any]] = [
    {"email": "not-an-email"},
    {"email": "someone@example.c0m"},
    {"lifecyclestage": "vip"},
    {"properties": {"favourite_colour": "blue"}},
    {"properties": {"date_of_birth": "2001-02-30"}},
    {"properties": {"annualrevenue": "lots"}},
    {"properties": {"message": "x" * 70_000}},
    {"properties": {"hs_object_id": "123"}},
]


class Command(BaseCommand):
    help = "Queue sample contacts and sync them (to the built-in sandbox unless a token is set)."
    # The token check would warn: the demo brings its own sandbox and token.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        raw = getattr(settings, "CRMSYNC", None) or {}
        if not isinstance(raw, Mapping) or raw.get("ACCESS_TOKEN"):
            conf = checked_settings()  # a real account: its settings must be right as they are
            self.stdout.write(f"Using HubSpot at {conf.API_BASE_URL}")
            self.run_demo(rng, options["count"], sandbox=None)
            return
        demo = {**raw, "ACCESS_TOKEN": "demo-sandbox-token", "RATE_LIMIT_MAX": 190}
        # Checked before the sandbox starts (with a stand-in for its URL, not known yet).
        checked_settings({**demo, "API_BASE_URL": "http://127.0.0.1:1"})
        from crmsync.sandbox import SandboxServer

        server = SandboxServer(host="127.0.0.1", port=0, token=demo["ACCESS_TOKEN"])
        server.start()
        self.stdout.write(f"Started the HubSpot sandbox at {server.url}")
        try:
            with override_settings(CRMSYNC={**demo, "API_BASE_URL": server.url}):
                self.run_demo(rng, options["count"], sandbox=server)
        finally:
            server.stop()

    def run_demo(self, rng: random.Random, count: int, sandbox: Any) -> None:
        run_id = secrets.randbelow(16**6)  # fresh emails each run, also against real HubSpot
        rows = []
        for n in range(count):
            rows.append(
                Contact(
                    email=f"sample{n}.{run_id:06x}@crmsync-demo.example",
                    firstname=rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]),
                    lastname=f"Sample{n}",
                    lifecyclestage=rng.choice(STAGES),
                    phone=f"+1 555 01{n % 100:02d}",
                )
            )
        if sandbox is not None:
            for n, bad in enumerate(INVALID):
                fields = {
                    "email": f"invalid{n}.{run_id:06x}@crmsync-demo.example",
                    "firstname": "Invalid",
                    "lastname": f"Row{n}",
                    **bad,
                }
                rows.append(Contact(**fields))
            # Some contacts HubSpot already has: they are linked, not created twice.
            for n in range(0, count, 25):
                sandbox.add_contact({"email": rows[n].email, "firstname": "Existing"})
        Contact.objects.bulk_create(rows)
        self.stdout.write(f"Queued {len(rows)} contacts; syncing...")
        summary = or_command_error(services.sync_pending)
        self.stdout.write(format_summary(summary))
        ids = [r.pk for r in rows]
        linked = SyncAttempt.objects.filter(
            contact_id__in=ids, outcome=SyncAttempt.Outcome.LINKED
        ).count()
        self.stdout.write(f"  linked to contacts HubSpot already had: {linked}")
        queryset = Contact.objects.filter(pk__in=ids)
        for status in SyncStatus:
            n = queryset.filter(sync_status=status).count()
            if n:
                self.stdout.write(f"  {status.label:<24} {n}")
        self.stdout.write("A few synced rows:")
        for row in queryset.filter(sync_status=SyncStatus.SYNCED)[:3]:
            self.stdout.write(f"  {row.email:<50} HubSpot id {row.hubspot_id}")
        self.stdout.write("A few failed rows:")
        for row in queryset.filter(sync_status=SyncStatus.FAILED)[:5]:
            self.stdout.write(f"  {row.email:<50} {row.sync_error[:110]}")
