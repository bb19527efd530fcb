"""Migrations, system checks, settings from the environment, management commands."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

import crmsync
from crmsync.checks import check_settings
from crmsync.conf import from_environ, get_settings
from crmsync.models import Contact, SyncStatus
from tests.factories import ContactFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_no_missing_migrations():
    out = io.StringIO()
    try:
        call_command("makemigrations", "crmsync", "shop", "--check", "--dry-run", stdout=out)
    except SystemExit as exc:  # --check exits non-zero when a migration is missing
        pytest.fail(f"model changes without a migration:\n{out.getvalue()} ({exc})")


def test_settings_are_read_at_call_time():
    with override_settings(CRMSYNC={"BATCH_SIZE": 7}):
        assert get_settings().BATCH_SIZE == 7
    with override_settings(CRMSYNC={}):
        assert get_settings().BATCH_SIZE == 100


def test_every_setting_comes_from_the_environment():
    env = {
        "CRMSYNC_BATCH_SIZE": "50",
        "CRMSYNC_HTTP_TIMEOUT_SECONDS": "2.5",
        "CRMSYNC_API_VERSION": "2026-03",
        "UNRELATED": "x",
    }
    assert from_environ(env) == {
        "BATCH_SIZE": 50,
        "HTTP_TIMEOUT_SECONDS": 2.5,
        "API_VERSION": "2026-03",
    }


@pytest.mark.parametrize(
    ("conf", "check_id"),
    [
        ({"BATCH_SIZE": 101}, "crmsync.E002"),
        ({"API_BASE_URL": "ftp://x"}, "crmsync.E003"),
        ({"RATE_LIMIT_MAX": 0}, "crmsync.E004"),
        ({"LEASE_SECONDS": 10, "HTTP_TIMEOUT_SECONDS": 30}, "crmsync.E005"),
        ({"TYPO": 1}, "crmsync.W001"),
        ({"ACCESS_TOKEN": ""}, "crmsync.W002"),
    ],
)
def test_system_checks(conf, check_id):
    with override_settings(CRMSYNC=conf):
        assert check_id in {m.id for m in check_settings()}


def test_project_settings_read_the_environment():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; "
        "django.setup(); from crmsync.conf import get_settings as g; s=g(); "
        "print(s.API_BASE_URL, s.BATCH_SIZE, s.MAX_ATTEMPTS, bool(s.ACCESS_TOKEN))"
    )
    env = {
        **os.environ,
        "HUBSPOT_API_BASE_URL": "http://127.0.0.1:9",
        "CRMSYNC_BATCH_SIZE": "10",
        "CRMSYNC_MAX_ATTEMPTS": "3",
        "HUBSPOT_ACCESS_TOKEN": "t",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["http://127.0.0.1:9", "10", "3", "True"]


@pytest.mark.django_db
def test_crmsync_sync_command(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(3)
    ContactFactory(email="bad-email")
    out = io.StringIO()
    call_command("crmsync_sync", stdout=out)
    assert out.getvalue() == (
        "synced 3, failed 1, to retry later 0, held for review 0 (1 request in 1 batch); "
        "left in the queue: 0\n"
    )
    assert not Contact.objects.filter(sync_status=SyncStatus.IN_FLIGHT).exists()


@pytest.mark.django_db
def test_crmsync_sync_without_a_token_fails_with_one_line(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "ACCESS_TOKEN": ""}
    with pytest.raises(CommandError, match="No HubSpot access token"):
        call_command("crmsync_sync")


@pytest.mark.django_db
def test_crmsync_sync_with_an_unreachable_url_fails(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "API_BASE_URL": "http://127.0.0.1:9"}
    with pytest.raises(CommandError, match="cannot reach"):
        call_command("crmsync_sync")


@pytest.mark.django_db
def test_crmsync_sync_with_a_rejected_token_fails_with_one_line(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "ACCESS_TOKEN": "expired"}
    ContactFactory()
    with pytest.raises(CommandError, match="sending is paused: HTTP 401") as info:
        call_command("crmsync_sync", stdout=io.StringIO())
    assert "expired" not in str(info.value)


@pytest.mark.django_db
def test_resume_command(crmsync_settings):
    from crmsync import services

    services.pause_pipeline("manual", "testing")
    out = io.StringIO()
    call_command("crmsync_resume", stdout=out)
    assert "resumed" in out.getvalue()
    assert not services.pipeline_state().paused


@pytest.mark.django_db
def test_resume_command_refuses_while_the_cause_persists(crmsync_settings):
    """A daily-limit pause before its reset: resuming would only pause again at once."""
    import datetime as dt

    from django.utils import timezone

    from crmsync import services

    services.pause_pipeline("daily_limit", "limit", until=timezone.now() + dt.timedelta(hours=3))
    with pytest.raises(CommandError, match="Not resumed"):
        call_command("crmsync_resume", stdout=io.StringIO())
    assert services.pipeline_state().paused
    out = io.StringIO()
    call_command("crmsync_resume", "--force", stdout=out)
    assert "unchecked" in out.getvalue() and not services.pipeline_state().paused


def readme_snippet(first_line: str) -> str:
    """The README's Python block that starts with ``first_line``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"```python\n{first_line}\n") + len("```python\n")
    return text[start : text.index("```", start)]


@pytest.mark.django_db
def test_the_readme_registers_auth_user_in_a_few_lines(crmsync_sandbox):
    from django.contrib.auth.models import User

    from crmsync import registry
    from crmsync.testing import assert_in_hubspot, sync_now

    code = readme_snippet("# accounts/hubspot.py")
    assert len(code.splitlines()) <= 10
    try:
        exec(compile(code, "README.md", "exec"), {})
        ada = User.objects.create_user("ada", email="ada@example.com", first_name="Ada")
        User.objects.create_user("noemail", first_name="No")  # when= is false: not sent
        User.objects.create_user("gone", email="gone@example.com", is_active=False)
        assert sync_now().synced == 1
        assert_in_hubspot(
            crmsync_sandbox,
            email="ada@example.com",
            properties={"firstname": "Ada", "lastname": None},
        )
        assert len(crmsync_sandbox.contacts()) == 1
        ada.last_name = "Lovelace"
        ada.save()
        assert sync_now().synced == 1
        assert_in_hubspot(
            crmsync_sandbox, email="ada@example.com", properties={"lastname": "Lovelace"}
        )
        assert crmsync.hubspot_id(ada) == crmsync_sandbox.contacts()[0]["id"]
    finally:
        registry.unregister(User)
