"""The claim and the fenced write-back, statement by statement, on the suite's database
(PostgreSQL in CI: its path is the one production runs; SQLite's is checked the same way)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crmsync import db
from crmsync.models import Contact, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

LEASE = dt.timedelta(seconds=300)
# SQLite's clock (strftime %f) keeps milliseconds
SLACK = dt.timedelta(milliseconds=2)


def claim(limit: int = 100) -> tuple[uuid.UUID, list]:
    token = uuid.uuid4()
    return token, db.claim(token, limit, LEASE.total_seconds())


def between(value: dt.datetime, before: dt.datetime, after: dt.datetime) -> bool:
    """``value`` is the database's now, read between ``before`` and ``after`` (this test's
    clock is the database host's)."""
    return before - SLACK <= value <= after + SLACK


def test_claim_takes_due_pending_rows_under_a_lease():
    due = ContactFactory(email="Due@Example.com")
    now = timezone.now()
    later = ContactFactory()
    Contact.objects.filter(pk=later.pk).update(next_attempt_at=now + dt.timedelta(minutes=5))
    failed = ContactFactory()
    Contact.objects.filter(pk=failed.pk).update(sync_status=SyncStatus.FAILED)
    token = uuid.uuid4()
    rows = db.claim(token, 100, LEASE.total_seconds())
    after = timezone.now()
    assert [r.id for r in rows] == [due.pk]
    assert rows[0].email == "Due@Example.com" and rows[0].version == 1
    due.refresh_from_db()
    assert due.sync_status == SyncStatus.IN_FLIGHT
    assert due.claim_token == token
    assert between(due.lease_expires_at, now + LEASE, after + LEASE)  # the database's clock
    assert due.claimed_version == due.version
    assert between(due.updated_at, now, after)
    assert (rows[0].properties, rows[0].associations, rows[0].needs_reconcile) == ({}, [], False)
    # the email the create may use is remembered, lower case, for a later lookup
    assert due.reconcile_emails == "due@example.com "
    assert db.claim(uuid.uuid4(), 100, 300) == []  # nothing left that is due


def test_claim_respects_the_limit_and_the_order_of_due_times():
    now = timezone.now()
    rows = ContactFactory.create_batch(5)
    for n, row in enumerate(rows):
        Contact.objects.filter(pk=row.pk).update(next_attempt_at=now - dt.timedelta(seconds=n))
    _, claimed = claim(limit=3)
    assert [r.id for r in claimed] == sorted(r.pk for r in rows[2:])  # the three oldest


def test_claim_takes_a_row_due_exactly_now_and_decodes_its_json():
    # To the millisecond: SQLite's clock has no finer steps, so a microsecond later than its
    # "now" in the same millisecond would not be due yet (a flake on SQLite).
    now = timezone.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    row = ContactFactory(properties={"x_note": "hi"}, associations=[{"to": {"id": "5"}}])
    Contact.objects.filter(pk=row.pk).update(next_attempt_at=now, needs_reconcile=True)
    _, rows = claim()
    assert [r.id for r in rows] == [row.pk]
    assert rows[0].properties == {"x_note": "hi"}
    assert rows[0].associations == [{"to": {"id": "5"}}]
    assert rows[0].needs_reconcile is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_skips_rows_another_worker_has_locked():
    locked, free = ContactFactory.create_batch(2)
    held, release = threading.Event(), threading.Event()

    def hold_a_row_lock():
        try:
            with transaction.atomic():
                list(Contact.objects.select_for_update().filter(pk=locked.pk))
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold_a_row_lock)
    thread.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:  # a claim that waits fails instead of hanging
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            _, rows = claim()
    finally:
        release.set()
        thread.join(10)
    assert [r.id for r in rows] == [free.pk]


def test_claim_returns_what_hubspot_last_accepted_and_the_row_s_source():
    row = ContactFactory()
    Contact.objects.filter(pk=row.pk).update(
        synced_properties={"email": row.email, "firstname": "Ada"},
        synced_associations=[["9001", "HUBSPOT_DEFINED", 279]],
        source="shop.customer",
        source_pk="42",
        action="archive",
    )
    other = ContactFactory()
    _, claimed = claim()
    by_id = {r.id: r for r in claimed}
    assert by_id[row.pk].synced_properties == {"email": row.email, "firstname": "Ada"}
    assert (by_id[row.pk].source, by_id[row.pk].source_pk) == ("shop.customer", "42")
    assert by_id[row.pk].action == "archive"
    assert by_id[row.pk].synced_associations == [["9001", "HUBSPOT_DEFINED", 279]]
    assert by_id[other.pk].synced_properties is None  # never synced: nothing known
    assert by_id[other.pk].synced_associations is None
    assert (by_id[other.pk].source, by_id[other.pk].action) == ("", "upsert")


def test_a_synced_write_back_records_what_hubspot_holds_and_others_keep_it():
    kept = {"email": "x@example.com"}
    synced, failed, linked = ContactFactory(), ContactFactory(), ContactFactory()
    Contact.objects.filter(pk__in=[failed.pk, linked.pk]).update(synced_properties=kept)
    token, _ = claim()
    written = db.write_back(
        token,
        [
            db.WriteBack(id=synced.pk, status="synced", hubspot_id="1",
                         synced_properties={"email": synced.email, "firstname": "Ada"}),
            db.WriteBack(id=failed.pk, status="failed", synced_properties={"email": "no"}),
            db.WriteBack(id=linked.pk, status="synced", hubspot_id="2"),  # a link: unknown
        ],
    )  # fmt: skip
    assert written == 3
    for row in (synced, failed, linked):
        row.refresh_from_db()
    assert linked.synced_properties == kept
    assert synced.synced_properties == {"email": synced.email, "firstname": "Ada"}
    assert failed.synced_properties == kept  # only a synced row's copy changes


def test_claim_of_a_row_without_email_keeps_its_remembered_emails():
    row = ContactFactory(email="")
    Contact.objects.filter(pk=row.pk).update(reconcile_emails="before@x.com ")
    claim()
    row.refresh_from_db()
    assert row.reconcile_emails == "before@x.com "


def write(token, **fields) -> int:
    return db.write_back(token, [db.WriteBack(**fields)])


def test_synced_write_back_settles_the_row():
    row = ContactFactory()
    old = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    Contact.objects.filter(pk=row.pk).update(hubspot_created_at=old, hubspot_updated_at=old)
    token, _ = claim()
    created = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    updated = dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.UTC)
    now = timezone.now()
    result = db.WriteBack(id=row.pk, status="synced", hubspot_id="512", hubspot_status="COMPLETE",
                          hubspot_created_at=created, hubspot_updated_at=updated)  # fmt: skip
    assert db.write_back(token, [result]) == 1
    after = timezone.now()
    row.refresh_from_db()
    assert (row.sync_status, row.hubspot_id, row.hubspot_status) == ("synced", "512", "COMPLETE")
    assert row.hubspot_created_at == created and row.hubspot_updated_at == updated
    assert row.synced_version == 1 and row.synced_at == row.updated_at  # one statement's now
    assert between(row.synced_at, now, after)
    assert row.claim_token is None and row.lease_expires_at is None
    assert row.sync_attempts == 0 and row.sync_error == ""


def test_a_row_edited_in_flight_goes_back_to_pending_and_records_the_version_sent():
    row = ContactFactory(firstname="Old")
    token, _ = claim()
    fresh = Contact.objects.get(pk=row.pk)
    fresh.firstname = "New"
    fresh.save()  # version 2 while version 1 is in flight
    write(token, id=row.pk, status="synced", hubspot_id="512", attempts=3, error="x",
          retry_in=3600.0)  # fmt: skip
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING  # HubSpot got version 1 only
    assert row.hubspot_id == "512"  # but the contact exists: the next send is an update
    assert row.synced_version == 1 and row.version == 2
    assert row.sync_attempts == 0 and row.sync_error == ""
    assert row.next_attempt_at <= timezone.now()


def test_a_held_row_edited_in_flight_stays_held():
    row = ContactFactory(email="")
    token, _ = claim()
    fresh = Contact.objects.get(pk=row.pk)
    fresh.firstname = "Edited"
    fresh.save()
    write(token, id=row.pk, status="held", error="check HubSpot", needs_reconcile=True)
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.HELD  # only an operator may release it
    assert row.sync_error == "check HubSpot"
    assert row.needs_reconcile is True


def test_a_failed_write_back_keeps_what_it_does_not_set():
    row = ContactFactory()
    Contact.objects.filter(pk=row.pk).update(
        hubspot_id="77",
        hubspot_status="COMPLETE",
        hubspot_created_at=timezone.now(),
        hubspot_updated_at=timezone.now(),
    )
    token, _ = claim()
    before = timezone.now()
    write(token, id=row.pk, status="failed", error="bad", error_category="VALIDATION_ERROR",
          attempts=2, retry_in=180.5)  # fmt: skip
    after = timezone.now()
    row.refresh_from_db()
    assert (row.sync_status, row.sync_error, row.sync_error_category) == (
        "failed",
        "bad",
        "VALIDATION_ERROR",
    )
    assert row.hubspot_id == "77" and row.hubspot_status == "COMPLETE"
    assert row.hubspot_created_at is not None and row.hubspot_updated_at is not None
    assert row.synced_at is None
    assert row.synced_version == 0 and row.sync_attempts == 2
    # due 180.5 s after the write-back, by the database's clock
    later = dt.timedelta(seconds=180.5)
    assert between(row.next_attempt_at, before + later, after + later)


def test_a_pending_write_back_without_a_due_time_keeps_the_old_one():
    row = ContactFactory()
    before = Contact.objects.get(pk=row.pk).next_attempt_at
    token, _ = claim()
    write(token, id=row.pk, status="pending", needs_reconcile=True, reconcile_emails="a@x.com ")
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING and row.next_attempt_at == before
    assert row.needs_reconcile and row.reconcile_emails == "a@x.com "


def test_a_worker_that_lost_its_lease_writes_nothing():
    row = ContactFactory()
    claim()
    assert write(uuid.uuid4(), id=row.pk, status="synced", hubspot_id="1") == 0
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.IN_FLIGHT and row.hubspot_id == ""


def test_one_statement_writes_a_whole_batch_with_different_values():
    rows = ContactFactory.create_batch(100)
    token, _ = claim()
    results = [db.WriteBack(id=r.pk, status="synced", hubspot_id=str(1000 + r.pk)) for r in rows]
    assert db.write_back(token, results) == 100
    ids = dict(Contact.objects.values_list("pk", "hubspot_id"))
    assert ids == {r.pk: str(1000 + r.pk) for r in rows}
    assert db.write_back(token, []) == 0
