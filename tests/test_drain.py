"""Recovery at full speed: a drain that knows rows fall due within a short horizon waits for
them (crmsync_sync), or schedules one nudge for that moment (the Celery task), and
``crmsync_sync --drain`` runs until nothing is pending or in flight."""

from __future__ import annotations

import datetime as dt
import io
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from crmsync import db, services, tasks
from crmsync.conf import validate
from crmsync.management.commands._base import EXIT_NOT_SENT
from crmsync.models import Contact, SyncStatus
from tests.conftest import REDIS_URL
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def due_in(contact: Contact, seconds: float) -> None:
    # The test process and the database share this host's clock. To the millisecond:
    # SQLite's clock has no finer steps, so a due time a few microseconds past "now + s"
    # would read as due in a little more than s there (a flake on SQLite).
    now = timezone.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    Contact.objects.filter(pk=contact.pk).update(
        next_attempt_at=now + dt.timedelta(seconds=seconds)
    )


def sync(*args: str, **options) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("crmsync_sync", *args, stdout=out, **options)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_crmsync_sync_waits_for_a_row_due_within_the_horizon(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "DRAIN_HORIZON_SECONDS": 3.0}
    contact = ContactFactory()
    due_in(contact, 0.6)
    started = time.monotonic()
    out, error = sync()
    assert error is None
    assert out.startswith("synced 1,"), out
    assert out.rstrip().endswith("left in the queue: 0")
    assert time.monotonic() - started >= 0.5  # it waited: the row was not due at the start
    assert Contact.objects.get().sync_status == SyncStatus.SYNCED


def test_a_row_due_beyond_the_horizon_is_left_for_later(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "DRAIN_HORIZON_SECONDS": 0.5}
    due_in(ContactFactory(), 30)
    started = time.monotonic()
    out, error = sync()
    assert error is None
    assert out.rstrip().endswith("left in the queue: 1")
    assert time.monotonic() - started < 5


def test_horizon_zero_returns_at_once(crmsync_settings):
    due_in(ContactFactory(), 0.5)
    summary = services.sync_pending(horizon=0)
    assert summary.batches == 0
    assert Contact.objects.get().sync_status == SyncStatus.PENDING


def test_a_retry_due_in_a_moment_is_sent_in_the_same_run(crmsync_sandbox, settings):
    """A 5xx puts the row back due in RETRY_BASE_SECONDS; the run waits and sends it again."""
    settings.CRMSYNC = {
        **settings.CRMSYNC,
        "RETRY_BASE_SECONDS": 0.3,
        "RETRY_MAX_SECONDS": 0.3,
        "DRAIN_HORIZON_SECONDS": 3.0,
    }
    crmsync_sandbox.configure(fault_5xx_rate=1.0)
    ContactFactory()
    first = services.sync_pending(horizon=0)
    assert first.retrying == 1
    crmsync_sandbox.configure(fault_5xx_rate=0.0)
    summary = services.sync_pending(horizon=3.0)
    assert summary.synced == 1
    assert Contact.objects.get().sync_status == SyncStatus.SYNCED


def test_drain_runs_until_nothing_is_pending_or_in_flight(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "DRAIN_HORIZON_SECONDS": 0.5}
    later = ContactFactory()
    due_in(later, 1.5)  # beyond the horizon at the start
    stuck = ContactFactory()
    # In flight at a worker that died: its lease ends in a second, then the drain takes it.
    claimed = db.claim(uuid.uuid4(), 1, 1.0)
    assert [row.id for row in claimed] == [stuck.pk]
    started = time.monotonic()
    out, error = sync("--drain", "--timeout", "20")
    assert error is None, error
    assert out.startswith("synced 2,"), out
    assert out.rstrip().endswith("left in the queue: 0")
    assert 1.0 <= time.monotonic() - started < 15
    assert set(Contact.objects.values_list("sync_status", flat=True)) == {SyncStatus.SYNCED}


def test_drain_timeout_is_status_3(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "DRAIN_HORIZON_SECONDS": 0.2}
    due_in(ContactFactory(), 60)
    started = time.monotonic()
    _out, error = sync("--drain", "--timeout", "0.6")
    assert error is not None and error.returncode == EXIT_NOT_SENT
    assert "--drain timed out after 0.6 s with 1 rows waiting" in str(error)
    assert 0.5 <= time.monotonic() - started < 5


@pytest.mark.parametrize("options", [{"max_batches": 2}, {"timeout": 0}])
def test_drain_refuses_options_that_contradict_it(crmsync_settings, options):
    with pytest.raises(CommandError):
        call_command("crmsync_sync", "--drain", stdout=io.StringIO(), **options)


def test_next_due_reads_the_database_clock():
    assert services.next_due() is None
    contact = ContactFactory()
    due_in(contact, 2.0)
    due = services.next_due()
    # SQLite computes the wait in floating days (julianday): tens of microseconds off.
    slack = 0.001 if connection.vendor == "sqlite" else 0.0
    assert due is not None and 1.0 < due.wait <= 2.0 + slack
    assert abs(due.at - (time.time() + due.wait)) < 1.0
    assert services.next_due(horizon=1.0) is None
    within = services.next_due(horizon=3.0)
    assert within is not None and within.at == due.at and within.wait <= due.wait
    due_in(contact, -5)
    overdue = services.next_due(horizon=0)
    assert overdue is not None and overdue.wait == 0.0
    Contact.objects.update(sync_status=SyncStatus.SYNCED)
    assert services.next_due() is None


@pytest.mark.parametrize(
    ("value", "check_id"),
    [(-1, "crmsync.E038"), (61, "crmsync.E038"), ("5", "crmsync.E007"), (None, "crmsync.E007")],
)
def test_drain_horizon_is_checked(value, check_id):
    problems = [p for p in validate({"DRAIN_HORIZON_SECONDS": value}) if p.is_error]
    assert [p.id for p in problems] == [check_id]
    assert validate({"DRAIN_HORIZON_SECONDS": 0}) == validate({})


# -- the Celery task's own nudge ---------------------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    """The nudges the task would publish (none reaches a broker), with a broker configured."""
    from celery import current_app

    from crmsync.sync import due as due_module

    sent: list[float | None] = []
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    monkeypatch.setattr(
        tasks, "_publish", lambda task=None, *a, countdown=None: sent.append(countdown)
    )
    monkeypatch.setattr(due_module, "_local_claimed", set())
    yield sent
    current_app.conf.task_always_eager = eager


@pytest.mark.parametrize("redis_url", ["", REDIS_URL] if REDIS_URL else [""])
def test_many_workers_schedule_one_nudge_for_the_next_due_row(
    crmsync_settings, settings, published, redis_url
):
    settings.CRMSYNC = {
        **crmsync_settings,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"crmsync-test-{uuid.uuid4().hex}",
    }
    due_in(ContactFactory(), 1.0)
    due_in(ContactFactory(), 1.05)  # the same moment, for a nudge: one drain takes both
    for _ in range(5):  # five workers finishing their runs at once
        tasks.sync_pending()
    assert len(published) == 1
    assert 0.5 < published[0] <= 1.1
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 2


def test_no_nudge_when_nothing_is_pending_or_it_is_far_off(crmsync_settings, published):
    tasks.sync_pending()
    due_in(ContactFactory(), tasks.NUDGE_MAX_SECONDS + 30)  # beat comes sooner
    tasks.sync_pending()
    assert published == []
