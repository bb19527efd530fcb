"""crmsync_prune: history older than the retention goes, in chunks; what an operator still
needs to read (a failed or held contact's last attempt) stays."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crmsync import services, tasks
from crmsync.conf import validate
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=100)
RECENT = NOW - dt.timedelta(days=10)


def request(when: dt.datetime, *contacts: Contact, outcome: str = "created") -> SyncBatch:
    """One request and an attempt per contact, written at ``when``."""
    batch = SyncBatch.objects.create(endpoint="create", path="/x", created_at=when)
    for contact in contacts:
        SyncAttempt.objects.create(
            batch=batch, contact=contact, email=contact.email, outcome=outcome, created_at=when
        )
    return batch


def deletes(queries: CaptureQueriesContext) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].lstrip().startswith("DELETE"))


def test_prune_deletes_only_older_rows_in_several_chunks():
    contacts = ContactFactory.create_batch(3)
    old = [request(OLD, c) for c in contacts for _ in range(2)]  # 6 requests, 6 attempts
    recent = [request(RECENT, c) for c in contacts]
    with CaptureQueriesContext(connection) as queries:
        result = services.prune_history(90, chunk_size=4)
    assert (result.attempts, result.batches) == (6, 6)
    assert deletes(queries) == 4  # 4 + 2 attempts, 4 + 2 requests
    assert result.deletes == 4 and result.longest_delete_ms > 0
    assert set(SyncBatch.objects.values_list("id", flat=True)) == {b.pk for b in recent}
    assert SyncAttempt.objects.count() == 3
    assert not SyncBatch.objects.filter(pk__in=[b.pk for b in old]).exists()


def test_the_boundary_is_the_retention():
    contact = ContactFactory()
    just_older = request(NOW - dt.timedelta(days=30, minutes=1), contact)
    just_newer = request(NOW - dt.timedelta(days=29, hours=23), contact)
    result = services.prune_history(30, now=NOW)
    assert (result.attempts, result.batches) == (1, 1)
    assert list(SyncBatch.objects.values_list("id", flat=True)) == [just_newer.pk]
    assert not SyncBatch.objects.filter(pk=just_older.pk).exists()


def test_zero_days_keeps_everything():
    request(OLD, ContactFactory())
    with CaptureQueriesContext(connection) as queries:
        result = services.prune_history(0)
    assert (result.attempts, result.batches, deletes(queries)) == (0, 0, 0)
    with override_settings(CRMSYNC={**django_settings.CRMSYNC, "HISTORY_RETENTION_DAYS": 0}):
        assert services.prune_history().attempts == 0
    assert SyncAttempt.objects.count() == 1 and SyncBatch.objects.count() == 1


def test_the_default_days_come_from_the_setting():
    request(NOW - dt.timedelta(days=20), ContactFactory())
    assert services.prune_history().attempts == 0  # default: 90 days
    with override_settings(CRMSYNC={**django_settings.CRMSYNC, "HISTORY_RETENTION_DAYS": 7}):
        assert services.prune_history().attempts == 1


def test_a_dry_run_counts_and_deletes_nothing():
    contacts = ContactFactory.create_batch(2)
    for contact in contacts:
        request(OLD, contact)
    with CaptureQueriesContext(connection) as queries:
        result = services.prune_history(90, dry_run=True, chunk_size=1)
    assert (result.attempts, result.batches, result.dry_run) == (2, 2, True)
    assert deletes(queries) == 0
    assert SyncAttempt.objects.count() == 2 and SyncBatch.objects.count() == 2


@pytest.mark.parametrize(
    "state",
    [
        {"sync_status": SyncStatus.FAILED, "sync_error": "email: invalid"},
        {"sync_status": SyncStatus.HELD, "sync_error": "outcome unknown"},
        {"sync_status": SyncStatus.PENDING, "sync_error": "HTTP 502: retrying"},
    ],
)
def test_the_last_attempt_of_an_unsettled_contact_is_kept_with_its_request(state):
    stuck, fine = ContactFactory(), ContactFactory()
    first = request(OLD - dt.timedelta(days=1), stuck, fine, outcome="retry")
    last = request(OLD, stuck, outcome="failed")
    Contact.objects.filter(pk=stuck.pk).update(**state)
    result = services.prune_history(90, chunk_size=1)
    assert result.attempts == 2  # the first request's two attempts
    kept = SyncAttempt.objects.get()
    assert (kept.contact_id, kept.batch_id, kept.outcome) == (stuck.pk, last.pk, "failed")
    assert list(SyncBatch.objects.values_list("id", flat=True)) == [last.pk]
    assert not SyncBatch.objects.filter(pk=first.pk).exists()


def test_a_synced_contact_keeps_no_old_attempt():
    contact = ContactFactory()
    request(OLD, contact)
    Contact.objects.filter(pk=contact.pk).update(sync_status=SyncStatus.SYNCED)
    assert services.prune_history(90).attempts == 1
    assert not SyncAttempt.objects.exists()


def test_attempts_without_a_request_and_of_deleted_contacts_are_pruned():
    contact = ContactFactory()
    request(OLD, contact)
    SyncAttempt.objects.create(contact=contact, outcome="failed", created_at=OLD)
    SyncAttempt.objects.create(contact=None, outcome="created", created_at=OLD)
    request(OLD, contact)  # the newest old request: ids below its attempts are looked at
    result = services.prune_history(90)
    assert result.attempts == 4 and not SyncAttempt.objects.exists()


def test_the_command_prints_what_it_deleted():
    request(OLD, ContactFactory())
    out = io.StringIO()
    call_command("crmsync_prune", "--dry-run", stdout=out)
    assert "would delete 1 attempts and 1 requests older than 90 days" in out.getvalue()
    out = io.StringIO()
    call_command("crmsync_prune", "--days", "30", "--chunk-size", "5", stdout=out)
    assert "deleted 1 attempts and 1 requests older than 30 days" in out.getvalue()
    assert "in 2 DELETE statements" in out.getvalue()
    out = io.StringIO()
    call_command("crmsync_prune", "--days", "0", stdout=out)
    assert "kept for ever" in out.getvalue()


def test_the_command_refuses_bad_numbers():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days"):
        call_command("crmsync_prune", "--days", "-1")
    with pytest.raises(CommandError, match="--chunk-size"):
        call_command("crmsync_prune", "--chunk-size", "0")
    with (
        override_settings(CRMSYNC={"HISTORY_RETENTION_DAYS": "90"}),
        pytest.raises(CommandError, match="HISTORY_RETENTION_DAYS"),
    ):
        call_command("crmsync_prune")


def test_the_beat_task_prunes_with_the_setting():
    request(OLD, ContactFactory())
    request(RECENT, ContactFactory())
    done = tasks.prune_history()
    assert (done["attempts"], done["batches"], done["days"]) == (1, 1, 90)
    assert SyncBatch.objects.count() == 1


def test_the_project_runs_the_prune_daily():
    from celery.schedules import crontab

    entry = django_settings.CELERY_BEAT_SCHEDULE["crmsync-prune-history"]
    assert entry["task"] == tasks.prune_history.name == "crmsync.prune_history"
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3}


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ({"HISTORY_RETENTION_DAYS": -1}, "crmsync.E035"),
        ({"HISTORY_RETENTION_DAYS": "90"}, "crmsync.E035"),
        ({"HISTORY_MASKED_PROPERTIES": "phone"}, "crmsync.E036"),
        ({"HISTORY_MASKED_PROPERTIES": ["phone", 3]}, "crmsync.E036"),
        ({"HISTORY_MASKED_PROPERTIES": ["phone", " "]}, "crmsync.E036"),
        ({"HISTORY_FORGET_ON_DELETE": "yes"}, "crmsync.E037"),
    ],
)
def test_the_history_settings_are_checked(value, check_id):
    problems = [p for p in validate({"ACCESS_TOKEN": "x", **value}) if p.is_error]
    assert [p.id for p in problems] == [check_id]


def test_good_history_settings_pass():
    raw = {
        "ACCESS_TOKEN": "x",
        "HISTORY_RETENTION_DAYS": 0,
        "HISTORY_MASKED_PROPERTIES": [],
        "HISTORY_FORGET_ON_DELETE": False,
    }
    assert not [p for p in validate(raw) if p.is_error]
