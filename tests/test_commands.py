"""The entry points with bad settings or a dead dependency: management commands exit with one
line and a status that tells the truth."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from crmsync import services
from crmsync.client import HubSpotClient
from crmsync.management.commands._base import EXIT_CONFIGURATION, EXIT_NOT_SENT
from crmsync.management.commands.crmsync_sync import config_failures
from crmsync.models import Contact, PipelineState, SyncStatus
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
def test_every_row_refused_as_misaddressed_is_status_1(crmsync_settings, settings, monkeypatch):
    # HubSpot answers 404 for a date version it does not serve; the sandbox serves every
    # YYYY-MM, so this stands in for its answer to CRMSYNC["API_VERSION"] = "2099-01".
    settings.CRMSYNC = {**crmsync_settings, "API_VERSION": "2099-01"}
    monkeypatch.setattr(
        HubSpotClient,
        "objects_path",
        lambda self, object_type="contacts": f"/crm/objects/{self.api_version}-unknown/contacts",
    )
    ContactFactory.create_batch(3)
    out, error = sync()
    assert out.startswith("synced 0, failed 3,")
    assert error is not None and error.returncode == EXIT_CONFIGURATION
    assert "all 3 rows failed because HubSpot answered 404" in str(error)
    assert "CRMSYNC['API_VERSION']" in str(error)


@pytest.mark.django_db
def test_config_failures_uses_the_summarys_count_when_it_has_one():
    started = timezone.now()
    assert config_failures(services.RunSummary(), started) == 0  # from history: none
    assert config_failures(SimpleNamespace(config_failures=4), started) == 4  # type: ignore[arg-type]
