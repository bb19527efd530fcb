"""``make demo``: sync a few hundred sample contacts, and a registered host model, through the
real path.

Without a token in CRMSYNC it starts the sandbox in this process on a free loopback port and
points crmsync at it. With a token for a real account (an ``API_BASE_URL`` that is not a
loopback sandbox) it refuses unless ``--real-account`` is given, and then queues only valid,
clearly-named sample contacts. A bad setting is one line and exit status 1.

Besides crmsync's own contacts it syncs the demo project's ``shop.Customer``
(``project/shop/hubspot.py`` registers it) when that model is registered: creates a few,
edits one (only what changed is sent; ``lifecyclestage`` is create-only), deletes one (archived
in HubSpot). Elsewhere that part is skipped, saying so.

Everything runs in one transaction, so no worker of the project sees (or sends) the sample
rows; at the end the rows it made are deleted (contacts, customers, their mirrors and the sync
history of their requests) unless ``--keep`` is given. It refuses to start while contacts of
the project wait to be sent: its sync would send them too.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models import Q
from django.test.utils import override_settings

from crmsync import registry, services
from crmsync.management.commands._base import (
    EXIT_CONFIGURATION,
    checked_settings,
    or_command_error,
)
from crmsync.management.commands.crmsync_sync import format_summary
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus

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
#: The demo project's own model (project/shop), synced when it is registered.
HOST_MODEL = "shop.customer"
CUSTOMERS = [
    ("Margaret", "Hamilton", "Apollo Software", "Director"),
    ("Katherine", "Johnson", "Langley Research", "Mathematician"),
    ("Frances", "Allen", "Big Iron Compilers", "Researcher"),
    ("Radia", "Perlman", "Spanning Trees Ltd", "Engineer"),
    ("Sophie", "Wilson", "Acorn Chips", "Architect"),
]
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Command(BaseCommand):
    help = (
        "Sync sample contacts and the demo project's customers (to the built-in sandbox "
        "unless a token is set), then delete what it made."
    )
    # The token check would warn: the demo brings its own sandbox and token.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--count", type=int, default=300, help="Sample contacts to sync (default: 300)."
        )
        parser.add_argument(
            "--seed", type=int, default=7, help="Seed of the sample names (default: 7)."
        )
        parser.add_argument(
            "--real-account",
            action="store_true",
            help="With CRMSYNC['ACCESS_TOKEN'] set for a real HubSpot account: create the "
            "sample contacts there. Without it the demo refuses to.",
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the rows the demo made (contacts, customers, mirrors, history) "
            "instead of deleting them at the end.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        raw = getattr(settings, "CRMSYNC", None) or {}
        if not isinstance(raw, Mapping) or raw.get("ACCESS_TOKEN"):
            conf = checked_settings()  # a real account: its settings must be right as they are
            if urlsplit(conf.API_BASE_URL).hostname not in LOOPBACK and not options["real_account"]:
                raise CommandError(
                    f"CRMSYNC['ACCESS_TOKEN'] is set, so the demo would create sample contacts "
                    f"in the HubSpot account at {conf.API_BASE_URL}: pass --real-account to do "
                    "that, or unset the token to use the built-in sandbox",
                    returncode=EXIT_CONFIGURATION,
                )
            self.ensure_queue_empty()
            self.stdout.write(f"Using HubSpot at {conf.API_BASE_URL}")
            self.run_demo(rng, options, sandbox=None)
            return
        demo = {**raw, "ACCESS_TOKEN": "demo-sandbox-token", "RATE_LIMIT_MAX": 190}
        # Checked before the sandbox starts (with a stand-in for its URL, not known yet).
        checked_settings({**demo, "API_BASE_URL": "http://127.0.0.1:1"})
        self.ensure_queue_empty()
        from crmsync.sandbox import SandboxServer

        server = SandboxServer(host="127.0.0.1", port=0, token=demo["ACCESS_TOKEN"])
        server.start()
        self.stdout.write(f"Started the HubSpot sandbox at {server.url}")
        try:
            with override_settings(CRMSYNC={**demo, "API_BASE_URL": server.url}):
                self.run_demo(rng, options, sandbox=server)
        finally:
            server.stop()

    @staticmethod
    def ensure_queue_empty() -> None:
        waiting = services.count_waiting()
        if waiting:
            raise CommandError(
                f"{waiting} contacts of this project wait to be sent (pending or in flight), "
                "and the demo's sync would send them too: send them first (manage.py "
                "crmsync_sync), or run the demo on a database of its own",
                returncode=EXIT_CONFIGURATION,
            )

    def run_demo(self, rng: random.Random, options: dict[str, Any], sandbox: Any) -> None:
        run_id = f"{secrets.randbelow(16**6):06x}"  # fresh emails each run, also in HubSpot
        host = registry.registration_named(HOST_MODEL)
        # One transaction: no other worker sees the sample rows, and a failure leaves none.
        with transaction.atomic():
            rows = self.make_contacts(rng, options["count"], run_id, sandbox)
            customers = make_customers(host.model, run_id) if host else []
            customer_pks = [c.pk for c in customers]
            self.stdout.write(
                f"Queued {len(rows)} contacts and {len(customers)} {HOST_MODEL} rows; syncing..."
            )
            summary = or_command_error(services.sync_pending)
            self.stdout.write(format_summary(summary))
            self.report_contacts([r.pk for r in rows])
            if host is None:
                self.stdout.write(f"({HOST_MODEL} is not registered here: no host model synced)")
            else:
                HostModelStory(self, host, customers, sandbox).run()
            if options["keep"]:
                self.stdout.write("Kept the demo's rows (--keep).")
            else:
                contacts, hosts, requests = clean_up([r.pk for r in rows], host, customer_pks)
                self.stdout.write(
                    f"Cleaned up: deleted {contacts} contacts (mirrors included), {hosts} "
                    f"{HOST_MODEL} rows and the history of {requests} requests (--keep keeps "
                    "them)."
                )

    def make_contacts(
        self, rng: random.Random, count: int, run_id: str, sandbox: Any
    ) -> list[Contact]:
        rows = []
        for n in range(count):
            rows.append(
                Contact(
                    email=f"sample{n}.{run_id}@crmsync-demo.example",
                    firstname=rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]),
                    lastname=f"Sample{n}",
                    lifecyclestage=rng.choice(STAGES),
                    phone=f"+1 555 01{n % 100:02d}",
                )
            )
        if sandbox is not None:
            for n, bad in enumerate(INVALID):
                fields = {
                    "email": f"invalid{n}.{run_id}@crmsync-demo.example",
                    "firstname": "Invalid",
                    "lastname": f"Row{n}",
                    **bad,
                }
                rows.append(Contact(**fields))
            # Some contacts HubSpot already has: they are linked, not created twice.
            for n in range(0, count, 25):
                sandbox.add_contact({"email": rows[n].email, "firstname": "Existing"})
        return Contact.objects.bulk_create(rows)

    def report_contacts(self, ids: list[int]) -> None:
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


def make_customers(model: type[models.Model], run_id: str) -> list[Any]:
    """Saved one by one, as a host's views would: each save writes its mirror."""
    return [
        model._default_manager.create(
            email=f"{first.lower()}.{run_id}@crmsync-demo.example",
            first_name=first,
            last_name=last,
            company=company,
            job_title=title,
        )
        for first, last, company, title in CUSTOMERS
    ]


class HostModelStory:
    """The registered host model's part: created (in the first sync), one edited, one
    deleted, synced again, and what HubSpot was sent for each."""

    def __init__(
        self, command: Command, host: registry.Registration, customers: list[Any], sandbox: Any
    ) -> None:
        self.out, self.host, self.customers, self.sandbox = command.stdout, host, customers, sandbox

    def mirror(self, customer: Any) -> Contact:
        return Contact.objects.get(source=self.host.label, source_pk=str(customer.pk))

    def run(self) -> None:
        label = self.host.label
        created = [self.mirror(c) for c in self.customers]
        synced = sum(1 for m in created if m.sync_status == SyncStatus.SYNCED)
        self.out.write(
            f"{label} (registered in its app's hubspot.py): {synced} of {len(created)} "
            "created in HubSpot, e.g."
        )
        for customer, row in zip(self.customers[:2], created, strict=False):
            self.out.write(
                f"  {label} #{customer.pk:<6} {row.email:<40} HubSpot id {row.hubspot_id}"
            )
        edited, deleted = self.customers[0], self.customers[-1]
        edited.job_title, edited.stage = "CTO", "customer"
        edited.save()
        deleted_pk, deleted_id = deleted.pk, created[-1].hubspot_id
        deleted.delete()
        self.customers[1].save()  # nothing mapped changed: nothing queued
        last_batch = SyncBatch.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.out.write(
            f"Edited #{edited.pk} (job title, stage), saved #{self.customers[1].pk} "
            f"unchanged, deleted #{deleted_pk}; syncing..."
        )
        self.out.write(format_summary(or_command_error(services.sync_pending)))
        sent = self.sent_properties(last_batch, created[0].hubspot_id)
        self.out.write(
            f"  #{edited.pk} update sent only what changed: {json.dumps(sent, sort_keys=True)} "
            "(lifecyclestage is create-only)"
        )
        if self.sandbox is not None:
            held = self.sandbox.contact_by_email(edited.email)["properties"]
            self.out.write(
                f"  HubSpot holds jobtitle={held.get('jobtitle')!r}, "
                f"lifecyclestage={held.get('lifecyclestage')!r}"
            )
        archived = Contact.objects.get(source=label, source_pk=str(deleted_pk))
        self.out.write(
            f"  #{deleted_pk} deleted: HubSpot contact {deleted_id} is "
            + ("archived" if archived.sync_status == SyncStatus.ARCHIVED else "not archived yet")
        )

    @staticmethod
    def sent_properties(after_batch: int, hubspot_id: str) -> dict[str, Any]:
        for batch in SyncBatch.objects.filter(pk__gt=after_batch, endpoint="update"):
            for item in json.loads(batch.request_body).get("inputs", []):
                if str(item.get("id")) == hubspot_id:
                    return dict(item.get("properties", {}))
        return {}


def clean_up(
    ids: list[int], host: registry.Registration | None, customer_pks: list[Any]
) -> tuple[int, int, int]:
    """Delete the demo's rows: its host rows (queueing nothing), every contact and mirror,
    and the requests that sent them (their attempts go with them). How many of each went."""
    mine = Q(pk__in=ids)
    hosts = 0
    if host is not None:
        mine |= Q(source=host.label, source_pk__in=[str(pk) for pk in customer_pks])
        with registry.without_sync():
            _, gone = host.model._default_manager.filter(pk__in=customer_pks).delete()
        hosts = gone.get(host.model._meta.label, 0)
    contacts = Contact.objects.filter(mine)
    tokens = (
        SyncAttempt.objects.filter(contact__in=contacts)
        .exclude(batch__claim_token=None)
        .values_list("batch__claim_token", flat=True)
        .distinct()
    )
    _, requests = SyncBatch.objects.filter(claim_token__in=list(tokens)).delete()
    SyncAttempt.objects.filter(contact__in=contacts).delete()  # those of no request
    _, removed = contacts.delete()
    return removed.get(Contact._meta.label, 0), hosts, requests.get(SyncBatch._meta.label, 0)
