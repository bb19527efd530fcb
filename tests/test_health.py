"""crmsync.health: the snapshot the dashboard and crmsync_status read, from tables of rows."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from celery import current_app
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from crmsync import health, heartbeats, services
from crmsync.admin.chart import nice_ceiling, per_minute_svg
from crmsync.conf import validate
from crmsync.management.commands._base import EXIT_CONFIGURATION
from crmsync.models import Contact, PipelineState, SyncBatch, SyncStatus, WorkerHeartbeat
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now


@pytest.fixture
def no_broker(monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: False)


@pytest.fixture
def with_broker(monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: True)


def test_broker_configured_follows_celery():
    conf = current_app.conf
    eager = conf.task_always_eager
    try:
        conf.task_always_eager = True
        assert not health.broker_configured()
        conf.task_always_eager = False
        assert health.broker_configured() is bool(conf.broker_url)
    finally:
        conf.task_always_eager = eager


def batch(minutes_ago: float = 0, **fields) -> SyncBatch:
    fields.setdefault("endpoint", SyncBatch.Endpoint.CREATE)
    fields.setdefault("http_status", 201)
    row = SyncBatch.objects.create(**fields)
    SyncBatch.objects.filter(pk=row.pk).update(created_at=NOW() - dt.timedelta(minutes=minutes_ago))
    return row


def test_counts_by_state_every_state_present(no_broker, crmsync_settings):
    ContactFactory.create_batch(3)
    failed = ContactFactory.create_batch(2)
    Contact.objects.filter(pk__in=[c.pk for c in failed]).update(sync_status=SyncStatus.FAILED)
    snap = health.snapshot()
    assert snap.counts[SyncStatus.PENDING] == 3
    assert snap.counts[SyncStatus.FAILED] == 2
    assert snap.counts[SyncStatus.HELD] == 0 and set(snap.counts) == set(SyncStatus.values)
    assert snap.total == 5


def test_oldest_due_age_ignores_rows_due_later_and_other_states(no_broker, crmsync_settings):
    due, later, failed = ContactFactory.create_batch(3)
    Contact.objects.filter(pk=due.pk).update(next_attempt_at=NOW() - dt.timedelta(minutes=10))
    Contact.objects.filter(pk=later.pk).update(next_attempt_at=NOW() + dt.timedelta(hours=1))
    Contact.objects.filter(pk=failed.pk).update(
        sync_status=SyncStatus.FAILED, next_attempt_at=NOW() - dt.timedelta(days=3)
    )
    seconds = health.snapshot().oldest_due_seconds
    assert seconds is not None and 595 <= seconds <= 660
    Contact.objects.filter(pk=due.pk).delete()
    assert health.snapshot().oldest_due_seconds is None


def test_a_backlog_older_than_the_setting_is_unhealthy(no_broker, crmsync_settings):
    row = ContactFactory()
    Contact.objects.filter(pk=row.pk).update(next_attempt_at=NOW() - dt.timedelta(seconds=120))
    assert health.snapshot().healthy
    with override_settings(CRMSYNC={**crmsync_settings, "STATUS_MAX_BACKLOG_SECONDS": 60}):
        snap = health.snapshot()
    assert not snap.healthy
    assert any("oldest due contact has waited 2 min" in p for p in snap.problems)


def test_last_success_and_last_batch(no_broker, crmsync_settings):
    ok = batch(5, success_count=3)
    batch(4, http_status=207, success_count=0, error_count=2)  # no contact accepted
    last = batch(1, http_status=429)
    snap = health.snapshot()
    assert snap.last_success is not None and snap.last_success.id == ok.id
    assert snap.last_batch is not None and snap.last_batch.id == last.id
    assert snap.last_batch.http_status == 429


def test_per_minute_sums_create_and_update_successes_of_24_hours(no_broker, crmsync_settings):
    batch(0, success_count=7)
    batch(0, endpoint=SyncBatch.Endpoint.UPDATE, http_status=200, success_count=5)
    batch(0, endpoint=SyncBatch.Endpoint.READ, http_status=200, success_count=100)  # a lookup
    batch(90, success_count=4)
    batch(25 * 60, success_count=1000)  # older than the chart
    snap = health.snapshot()
    assert len(snap.per_minute) == health.CHART_MINUTES
    assert snap.per_minute[-1] == 12
    assert snap.per_minute[-91] == 4
    assert sum(snap.per_minute) == 16


def test_429s_and_the_daily_quota_from_the_latest_answer(no_broker, crmsync_settings):
    batch(30, http_status=429)
    batch(10, http_status=429)
    batch(26 * 60, http_status=429)  # yesterday's
    batch(20, success_count=1, daily_limit=250_000, daily_remaining=200_000)
    batch(2, success_count=1, daily_limit=250_000, daily_remaining=190_000)
    batch(1, http_status=429)  # no headers recorded: the quota comes from the row before
    snap = health.snapshot()
    assert snap.rate_limited_24h == 3
    assert snap.quota is not None
    assert (snap.quota.limit, snap.quota.remaining, snap.quota.used) == (250_000, 190_000, 60_000)
    assert snap.quota.fraction == pytest.approx(0.24)


def test_top_errors_group_failed_and_held_rows_by_category_and_message(no_broker, crmsync_settings):
    rows = ContactFactory.create_batch(6)
    errors = [
        (SyncStatus.FAILED, "VALIDATION_ERROR", "bad email"),
        (SyncStatus.FAILED, "VALIDATION_ERROR", "bad email"),
        (SyncStatus.HELD, "VALIDATION_ERROR", "bad email"),
        (SyncStatus.FAILED, "OBJECT_NOT_FOUND", "gone"),
        (SyncStatus.SYNCED, "VALIDATION_ERROR", "bad email"),  # not failed: not counted
        (SyncStatus.PENDING, "", ""),
    ]
    for row, (status, category, message) in zip(rows, errors, strict=True):
        Contact.objects.filter(pk=row.pk).update(
            sync_status=status, sync_error_category=category, sync_error=message
        )
    top = health.snapshot().top_errors
    assert [(e.category, e.message, e.count) for e in top] == [
        ("VALIDATION_ERROR", "bad email", 3),
        ("OBJECT_NOT_FOUND", "gone", 1),
    ]


def test_errors_differing_only_in_their_values_are_one_group(no_broker, crmsync_settings):
    """HubSpot names the bad value in its message: a thousand invalid emails are one
    problem, not a thousand groups of one (PostgreSQL groups them in SQL, SQLite here)."""
    rows = ContactFactory.create_batch(5)
    messages = [
        'Property values were not valid: "ada@example" is an invalid email',
        'Property values were not valid: "bob@@x" is an invalid email',
        'Property values were not valid: "" is an invalid email',
        "Contact 1234 was not found",
        "Contact 98 was not found",
    ]
    for row, message in zip(rows, messages, strict=True):
        Contact.objects.filter(pk=row.pk).update(
            sync_status=SyncStatus.FAILED, sync_error_category="V", sync_error=message
        )
    top = health.snapshot().top_errors
    assert [(e.message, e.count) for e in top] == [
        ('Property values were not valid: "…" is an invalid email', 3),
        ("Contact # was not found", 2),
    ]
    # Queue again takes exactly the rows of one shape.
    assert services.queue_again("V", top[1].message) == 2
    assert Contact.objects.filter(sync_status=SyncStatus.FAILED).count() == 3


def test_queue_again_requeues_one_error_group_only(no_broker, crmsync_settings):
    a, b, c = ContactFactory.create_batch(3)
    Contact.objects.filter(pk__in=[a.pk, b.pk]).update(
        sync_status=SyncStatus.FAILED, sync_error_category="X", sync_error="gone"
    )
    Contact.objects.filter(pk=c.pk).update(
        sync_status=SyncStatus.FAILED, sync_error_category="X", sync_error="boom"
    )
    assert services.queue_again("X", "gone") == 2
    assert Contact.objects.get(pk=c.pk).sync_status == SyncStatus.FAILED
    assert services.queue_again("X") == 1
    assert not Contact.objects.filter(sync_status=SyncStatus.FAILED).exists()


def test_pipeline_state_paused_is_unhealthy(no_broker, crmsync_settings):
    services.pause_pipeline(PipelineState.Reason.MANUAL, "maintenance")
    snap = health.snapshot()
    assert snap.pipeline.paused and snap.pipeline.message == "maintenance"
    assert snap.pipeline.since is not None
    assert not snap.healthy and "maintenance" in snap.problems[0]


def test_no_live_worker_is_unhealthy_only_with_a_broker(with_broker, crmsync_settings):
    assert "No Celery worker is alive" in " ".join(health.checks().problems)
    heartbeats.record(name="host-a:11")
    assert health.checks().problems == ()
    WorkerHeartbeat.objects.update(seen_at=NOW() - dt.timedelta(seconds=91))  # 3 x 30 s
    workers = health.checks().workers
    assert [w.alive for w in workers] == [False]
    assert health.checks().problems != ()
    with override_settings(CRMSYNC={**crmsync_settings, "HEARTBEAT_SECONDS": 60}):
        assert health.checks().problems == ()


def test_a_beat_heartbeat_is_not_a_worker(with_broker, crmsync_settings):
    heartbeats.record(WorkerHeartbeat.Kind.BEAT, "host-b:7")
    snap = health.snapshot()
    assert [w.kind for w in snap.workers] == ["beat"] and snap.workers[0].alive
    assert snap.live_workers == 0 and not snap.healthy


def test_heartbeat_rows_are_upserted_and_dead_ones_forgotten(crmsync_settings):
    heartbeats.record(name="host-a:11")
    first = WorkerHeartbeat.objects.get()
    heartbeats.record(name="host-a:11")
    again = WorkerHeartbeat.objects.get()
    assert (again.hostname, again.pid, again.kind) == ("host-a", 11, "worker")
    assert again.seen_at >= first.seen_at and again.started_at == first.started_at
    heartbeats.record(name="host-b:12")
    WorkerHeartbeat.objects.filter(name="host-b:12").update(
        seen_at=NOW() - dt.timedelta(days=1, minutes=1)
    )
    assert heartbeats.forget_dead() == 1
    assert list(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["host-a:11"]


def test_the_new_settings_are_checked():
    ids = {p.id for p in validate({"STATUS_MAX_BACKLOG_SECONDS": 0, "HEARTBEAT_SECONDS": -1})}
    assert {"crmsync.E030", "crmsync.E031"} <= ids
    assert {p.id for p in validate({"ACCESS_TOKEN": "t", "HEARTBEAT_SECONDS": "30"})} == {
        "crmsync.E007"
    }


# -- crmsync_status ---------------------------------------------------------------------


def status(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("crmsync_status", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_status_healthy_is_0_and_prints_the_facts(no_broker, crmsync_settings):
    ContactFactory.create_batch(2)
    batch(1, success_count=2, daily_limit=1000, daily_remaining=900)
    code, out = status()
    assert code == 0
    assert out.startswith("healthy")
    assert "pending 2" in out and "pipeline: running" in out
    assert "daily quota: 100 of 1000 used" in out and "last success: #" in out


def test_status_paused_is_2_and_json_says_why(no_broker, crmsync_settings):
    services.pause_pipeline(PipelineState.Reason.MANUAL, "maintenance")
    code, out = status("--json")
    assert code == 2
    data = json.loads(out)
    assert data["healthy"] is False and data["pipeline"]["paused"] is True
    assert data["pipeline"]["message"] == "maintenance"
    assert "pending" in data["counts"] and "per_minute" not in data


def test_status_without_a_live_worker_is_2(with_broker, crmsync_settings):
    code, out = status()
    assert code == 2 and "No Celery worker is alive" in out


def test_status_with_a_bad_setting_is_1():
    bad = {"ACCESS_TOKEN": "t", "HEARTBEAT_SECONDS": 0}
    with override_settings(CRMSYNC=bad), pytest.raises(CommandError) as info:
        call_command("crmsync_status", stdout=io.StringIO())
    assert info.value.returncode == EXIT_CONFIGURATION
    assert "HEARTBEAT_SECONDS" in str(info.value)


def test_status_help_names_the_exit_statuses():
    from crmsync.management.commands.crmsync_status import Command

    assert "2 unhealthy" in Command.help and "1 the settings are wrong" in Command.help


# -- the chart ----------------------------------------------------------------------------


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 12, 180, 999)] == [1, 1, 5, 10, 20, 200, 1000]


def test_the_chart_has_axes_a_line_and_hover_titles():
    start = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    values = [0] * health.CHART_MINUTES
    values[600] = 480
    svg = str(per_minute_svg(values, start))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == health.CHART_MINUTES // 15
    assert "10:00\u201310:15: 480 contacts synced (peak 480/min" in svg
    assert ">500</text>" in svg  # the y axis' top label
    assert ">03:00</text>" in svg and ">21:00</text>" in svg
    # flat runs collapse: a few points, not 1440
    assert svg.split('points="')[1].split('"')[0].count(",") < 10
    assert "Nothing synced" in str(per_minute_svg([0] * 60, start))


# -- the quota, from the sandbox's headers as from HubSpot's ----------------------------------


@pytest.mark.hubspot_sandbox(daily_limit=5000)
def test_each_request_records_hubspot_s_daily_headers(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(3)
    services.sync_pending()
    rows = list(SyncBatch.objects.order_by("id").values_list("daily_limit", "daily_remaining"))
    assert rows and all(limit == 5000 for limit, _ in rows)
    # Every request counts, the property schema's reads (no history row) too: definitions
    # and, at a date version (the default), the portal's validation rules.
    used = hubspot_sandbox.stats()["requests_total"]
    assert used == len(rows) + 2
    assert rows[-1][1] == 5000 - used
    quota = health.snapshot().quota
    assert quota is not None and quota.used == used


def test_the_client_reads_the_daily_headers():
    from crmsync.hubspot import daily_quota

    headers = {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "7"}
    assert daily_quota(headers) == (250_000, 7)
    assert daily_quota({}) == (None, None)
    assert daily_quota({"X-HubSpot-RateLimit-Daily": "lots"}) == (None, None)


def test_the_token_probe_is_one_cheap_read(crmsync_settings, hubspot_sandbox):
    from crmsync.exceptions import AuthenticationError

    services.probe_connection(token=True)
    with (
        override_settings(CRMSYNC={**crmsync_settings, "ACCESS_TOKEN": "nope"}),
        pytest.raises(AuthenticationError),
    ):
        services.probe_connection(token=True)
