"""The save hook (crmsync.receivers): queue changed contacts, nudge a worker once per commit,
never HTTP; and crmsync's own signals (crmsync.signals)."""

from __future__ import annotations

import pytest
from celery import current_app
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crmsync import services, signals
from crmsync.models import Contact, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_save_enqueues_once_on_commit(nudges, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for n in range(5):
            Contact(email=f"s{n}@example.com").save()
        assert nudges == []  # nothing before the commit
    assert len(nudges) == 1


def test_saving_a_changed_contact_costs_two_queries_and_no_http(
    nudges, django_capture_on_commit_callbacks, hubspot_sandbox
):
    # bulk_create: no signal, so no nudge is pending yet in the test's transaction
    (contact,) = Contact.objects.bulk_create([Contact(email="c@example.com")])
    Contact.objects.filter(pk=contact.pk).update(sync_status=SyncStatus.SYNCED)
    contact = Contact.objects.get(pk=contact.pk)
    contact.firstname = "Changed"
    before = hubspot_sandbox.stats()["requests_total"]
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as ctx,
    ):
        contact.save()
    assert len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]) <= 2
    assert len(nudges) == 1
    assert hubspot_sandbox.stats()["requests_total"] == before
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.PENDING


def test_an_unchanged_save_does_not_requeue(nudges, django_capture_on_commit_callbacks):
    (contact,) = Contact.objects.bulk_create([Contact(email="u@example.com")])
    Contact.objects.filter(pk=contact.pk).update(sync_status=SyncStatus.SYNCED)
    contact = Contact.objects.get(pk=contact.pk)
    with django_capture_on_commit_callbacks(execute=True):
        contact.save()
    assert nudges == []
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED


def test_the_syncs_own_writes_never_requeue(
    nudges, django_capture_on_commit_callbacks, crmsync_settings, hubspot_sandbox
):
    Contact.objects.bulk_create([Contact(email=f"b{n}@example.com") for n in range(3)])
    with django_capture_on_commit_callbacks(execute=True):
        services.sync_pending()
    assert nudges == []
    assert Contact.objects.filter(sync_status=SyncStatus.SYNCED).count() == 3


def test_without_a_broker_a_save_makes_no_http_call(
    hubspot_sandbox, crmsync_settings, django_capture_on_commit_callbacks
):
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True  # the embedded default: no broker
    try:
        before = hubspot_sandbox.stats()["requests_total"]
        with django_capture_on_commit_callbacks(execute=True):
            contact = ContactFactory()
        assert hubspot_sandbox.stats()["requests_total"] == before
        contact.refresh_from_db()
        assert contact.sync_status == SyncStatus.PENDING
    finally:
        current_app.conf.task_always_eager = eager


def test_custom_signals_report_synced_and_failed(crmsync_settings, hubspot_sandbox):
    seen: dict[str, list[int]] = {"synced": [], "failed": []}

    def on_synced(sender, contact_ids, **kw):
        seen["synced"].extend(contact_ids)

    def on_failed(sender, contact_ids, **kw):
        seen["failed"].extend(contact_ids)

    signals.contact_synced.connect(on_synced)
    signals.contact_sync_failed.connect(on_failed)
    try:
        good = ContactFactory()
        bad = ContactFactory(email="nope")
        services.sync_pending()
    finally:
        signals.contact_synced.disconnect(on_synced)
        signals.contact_sync_failed.disconnect(on_failed)
    assert seen == {"synced": [good.pk], "failed": [bad.pk]}
