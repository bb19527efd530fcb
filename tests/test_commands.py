"""The entry points with bad settings or a dead dependency: management commands exit with one
line and a status that tells the truth; the Celery task and the save-time nudge stay quiet
and quick."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import current_app
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from crmsync import services, tasks
from crmsync.management.commands._base import (
    EXIT_CONFIGURATION,
    EXIT_NOT_SENT,
    EXIT_UNREACHABLE,
)
from crmsync.models import Contact, PipelineState, SyncBatch, SyncStatus
from tests.factories import ContactFactory

ROOT = Path(__file__).resolve().parent.parent
BAD = {"ACCESS_TOKEN": "t", "BATCH_SIZE": "50", "API_BASE_URL": "https://api.hubapi.com/crm/v3"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a bad setting: one line, exit status 1, from every command ------------------------------


@pytest.mark.parametrize("command", ["crmsync_sync", "crmsync_resume", "crmsync_demo"])
@pytest.mark.parametrize("raw", [BAD, "not a dict", {"ACCESS_TOKEN": "t", "CONCURRENCY": 0}])
def test_a_bad_setting_is_one_line_and_status_1(command, raw):
    with override_settings(CRMSYNC=raw), pytest.raises(CommandError) as info:
        call_command(command, stdout=io.StringIO())
    assert info.value.returncode == EXIT_CONFIGURATION
    assert "\n" not in str(info.value)
    assert "CRMSYNC" in str(info.value)


def test_the_demo_checks_the_settings_it_keeps():
    with (
        override_settings(CRMSYNC={"ACCESS_TOKEN": "", "ACCOUNT_TIME_ZONE": "Nowhere/Land"}),
        pytest.raises(CommandError, match="ACCOUNT_TIME_ZONE"),
    ):
        call_command("crmsync_demo", stdout=io.StringIO())


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"CRMSYNC_BATCH_SIZE": "fifty"},
            "CRMSYNC['BATCH_SIZE'] must be an integer, got the string 'fifty'.",
        ),
        ({"HUBSPOT_API_BASE_URL": "https://api.hubapi.com/crm/v3"}, "must have no path"),
        ({"CRMSYNC_API_VERSION": "v4"}, "CRMSYNC['API_VERSION'] must be 'v3'"),
    ],
)
def test_manage_py_crmsync_sync_with_a_bad_environment(env, expected):
    done = manage("crmsync_sync", HUBSPOT_ACCESS_TOKEN="t", **env)
    assert done.returncode == EXIT_CONFIGURATION
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr
    assert "HUBSPOT_" not in done.stderr


def test_manage_py_crmsync_resume_with_a_bad_environment():
    done = manage("crmsync_resume", HUBSPOT_ACCESS_TOKEN="t", CRMSYNC_CONCURRENCY="0")
    assert done.returncode == EXIT_CONFIGURATION
    assert done.stderr.strip().splitlines() == [
        "CommandError: CRMSYNC['CONCURRENCY'] must be at least 1, got 0."
    ]


# -- exit statuses of crmsync_sync -----------------------------------------------------------


def sync(**options) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("crmsync_sync", stdout=out, **options)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.mark.django_db
def test_rows_failing_for_their_own_data_are_no_error(crmsync_settings):
    ContactFactory(email="bad-email")
    out, error = sync()
    assert error is None
    assert out.startswith("synced 0, failed 1,")


@pytest.mark.django_db
def test_an_unreachable_rate_limiter_is_status_3(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    ContactFactory()
    out, error = sync()
    assert error is not None and error.returncode == EXIT_NOT_SENT
    assert str(error).startswith("stopped: rate limiter backend")
    assert out.startswith("synced 0, failed 0, to retry later 0,")
    assert out.rstrip().endswith("left in the queue: 1")
    assert Contact.objects.get().sync_status == SyncStatus.PENDING


@pytest.mark.django_db
def test_a_host_cut_from_hubspot_is_status_5_not_a_configuration_error(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "API_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    rows = ContactFactory.create_batch(3)
    _, error = sync()
    assert error is not None and error.returncode == EXIT_UNREACHABLE
    assert str(error).startswith("HubSpot unreachable: cannot reach http://127.0.0.1:")
    assert "\n" not in str(error)
    for row in rows:
        row.refresh_from_db()
        assert (row.sync_status, row.sync_attempts) == (SyncStatus.PENDING, 0)
    assert not SyncBatch.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("drain", [False, True])
def test_hubspot_gone_after_the_probe_is_status_5_and_costs_no_attempt(
    crmsync_settings, settings, monkeypatch, drain
):
    """The probe found HubSpot (it went away just after, or only the TCP port answers):
    the first request that cannot connect stops the run; its rows and every other claimed
    row go back to the queue, due now, with no attempt counted."""
    settings.CRMSYNC = {
        **crmsync_settings,
        "API_BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "BATCH_SIZE": 2,
    }
    monkeypatch.setattr(services, "probe_connection", lambda *a, **k: None)
    rows = ContactFactory.create_batch(5)
    out, error = sync(drain=drain, timeout=30) if drain else sync()
    assert error is not None and error.returncode == EXIT_UNREACHABLE, error
    assert str(error).startswith("HubSpot unreachable: could not connect to HubSpot")
    assert out.startswith("synced 0, failed 0, to retry later 0, held for review 0 (1 request")
    assert out.rstrip().endswith("left in the queue: 5")
    for row in rows:
        row.refresh_from_db()
        assert (row.sync_status, row.sync_attempts) == (SyncStatus.PENDING, 0)
        assert row.claim_token is None and row.lease_expires_at is None
    assert SyncBatch.objects.count() == 1  # the run stopped at the first refused connection


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reason", "until"),
    [
        (PipelineState.Reason.MANUAL, None),
        (PipelineState.Reason.DAILY_LIMIT, dt.timedelta(hours=3)),
    ],
)
def test_a_paused_pipeline_is_status_3(crmsync_settings, reason, until):
    services.pause_pipeline(reason, "held on purpose", until=until and timezone.now() + until)
    ContactFactory()
    out, error = sync()
    assert error is not None and error.returncode == EXIT_NOT_SENT
    assert str(error) == "sending is paused: held on purpose"
    assert out.startswith("synced 0, failed 0,")


@pytest.mark.django_db
def test_a_rejected_token_is_status_1(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "ACCESS_TOKEN": "expired"}
    ContactFactory()
    _, error = sync()
    assert error is not None and error.returncode == EXIT_CONFIGURATION
    assert str(error).startswith("sending is paused: HTTP 401")


@pytest.mark.django_db
def test_an_api_version_hubspot_does_not_serve_is_status_1_and_costs_no_attempt(
    crmsync_settings, settings, hubspot_sandbox
):
    settings.CRMSYNC = {**crmsync_settings, "API_VERSION": "2099-01"}  # a well-formed date
    rows = ContactFactory.create_batch(3)
    out, error = sync()
    assert out.startswith("synced 0, failed 0,")
    assert error is not None and error.returncode == EXIT_CONFIGURATION
    assert "has no endpoint POST /crm/objects/2099-01/contacts/batch/create" in str(error)
    assert "CRMSYNC['API_VERSION']" in str(error)
    for row in rows:  # no row's data was at fault: all wait, untouched, for the fix
        row.refresh_from_db()
        assert (row.sync_status, row.sync_attempts) == (SyncStatus.PENDING, 0)
    assert SyncBatch.objects.get().http_status == 404  # one request, kept in history
    settings.CRMSYNC = crmsync_settings
    out, error = sync()
    assert error is None and out.startswith("synced 3,")
    assert len(hubspot_sandbox.contacts()) == 3


# -- the Celery task with a bad setting ------------------------------------------------------


@pytest.fixture
def fresh_task_reports():
    tasks._reported_problems.clear()
    yield
    tasks._reported_problems.clear()


@pytest.mark.django_db
def test_the_task_logs_a_bad_setting_once_and_returns(fresh_task_reports, caplog):
    caplog.set_level(logging.DEBUG, logger="crmsync")
    with override_settings(CRMSYNC={**BAD}):
        first = tasks.sync_pending()
        second = tasks.sync_pending()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "CRMSYNC['BATCH_SIZE'] must be an integer" in errors[0].getMessage()
    assert not errors[0].exc_info
    assert first == second
    assert first["synced"] == 0 and first["stopped_reason"].startswith("configuration: ")
    with override_settings(CRMSYNC={"ACCESS_TOKEN": "t", "MAX_ATTEMPTS": 0}):
        tasks.sync_pending()  # a different problem is reported too
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2


@pytest.mark.django_db
def test_the_task_logs_an_endpoint_hubspot_lacks_once(
    fresh_task_reports, crmsync_settings, settings, caplog
):
    settings.CRMSYNC = {**crmsync_settings, "API_VERSION": "2099-01"}
    ContactFactory.create_batch(2)
    caplog.set_level(logging.DEBUG, logger="crmsync")
    first = tasks.sync_pending()
    second = tasks.sync_pending()  # the next beat tick: one request, no second ERROR
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "CRMSYNC['API_VERSION']" in errors[0].getMessage()
    assert first["config_error"] and second["config_error"]
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING, sync_attempts=0).count() == 2


@pytest.mark.django_db
def test_the_task_reports_djangos_improperly_configured_from_deeper_down(
    fresh_task_reports, caplog, monkeypatch
):
    from django.core.exceptions import ImproperlyConfigured

    def refuse(**kwargs):
        raise ImproperlyConfigured("CRMSYNC['RATE_LIMIT_MAX'] must be an integer >= 1")

    monkeypatch.setattr(services, "sync_pending", refuse)
    with override_settings(CRMSYNC={"ACCESS_TOKEN": "t"}):
        result = tasks.sync_pending()
    assert "RATE_LIMIT_MAX" in result["stopped_reason"]
    assert [r.levelname for r in caplog.records if r.name == "crmsync.tasks"] == ["ERROR"]


# -- the save-time nudge: no broker, or a broker that is down --------------------------------


@pytest.fixture
def celery_conf():
    conf = current_app.conf
    saved = (conf.task_always_eager, conf.broker_url, conf.broker_write_url)
    tasks._broker_down_until = 0.0
    yield conf
    conf.task_always_eager, conf.broker_url, conf.broker_write_url = saved
    tasks._broker_down_until = 0.0


@pytest.mark.parametrize("eager", [True, False])
def test_no_broker_configured_is_the_debug_message(celery_conf, caplog, eager):
    caplog.set_level(logging.DEBUG, logger="crmsync")
    celery_conf.task_always_eager = eager
    if not eager:
        celery_conf.broker_url = None
        celery_conf.broker_write_url = None
    assert tasks.enqueue_sync() is False
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "crmsync: no Celery broker; run manage.py crmsync_sync to send")
    ]


def test_a_configured_broker_that_is_down_warns_quickly_with_its_url_redacted(celery_conf, caplog):
    caplog.set_level(logging.DEBUG, logger="crmsync")
    celery_conf.task_always_eager = False
    celery_conf.broker_write_url = None
    celery_conf.broker_url = f"redis://user:s3cret@127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    assert tasks.enqueue_sync() is False
    assert time.monotonic() - started < 1.0
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    text = record.getMessage()
    assert "the Celery broker at redis://user:***@127.0.0.1:" in text
    assert "is unreachable" in text and "beat schedule will pick the row up" in text
    assert "s3cret" not in caplog.text
    # Saves made during the outage do not try again at once, nor warn again.
    started = time.monotonic()
    assert tasks.enqueue_sync() is False
    assert time.monotonic() - started < 0.05
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_a_reachable_broker_gets_the_nudge(celery_conf):
    from kombu import Connection

    celery_conf.task_always_eager = False
    celery_conf.broker_write_url = None
    celery_conf.broker_url = "memory://"
    assert tasks.enqueue_sync() is True
    with Connection("memory://") as connection:
        message = connection.SimpleQueue("celery").get(timeout=1)
    assert message.headers["task"] == "crmsync.sync_pending_contacts"
    message.ack()


@pytest.mark.django_db
def test_a_save_never_waits_for_a_broker_that_does_not_answer(
    celery_conf, django_capture_on_commit_callbacks, caplog
):
    silent = socket.socket()  # accepts connections, never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        celery_conf.task_always_eager = False
        celery_conf.broker_write_url = None
        celery_conf.broker_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            Contact.objects.create(email="quick@example.com")
        assert time.monotonic() - started < 0.3  # the nudge thread waits, not the save
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "unreachable" not in caplog.text:
            time.sleep(0.05)
        assert "is unreachable" in caplog.text  # and says so, from its own thread
    finally:
        silent.close()
