"""``manage.py crmsync_demo`` (``make demo``): sample contacts and the demo project's own
``shop.Customer`` synced to the sandbox it starts itself, a real account only with
``--real-account``, and nothing left behind unless ``--keep``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.ratelimit import get_rate_limiter
from project.shop.models import Customer
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_token(settings):
    """The project's CRMSYNC without a token: the demo starts its own sandbox."""
    settings.CRMSYNC = {**settings.CRMSYNC, "ACCESS_TOKEN": "", "REDIS_URL": ""}
    yield settings.CRMSYNC
    get_rate_limiter().reset()


def demo(*args: str) -> str:
    out = io.StringIO()
    call_command("crmsync_demo", "--count", "20", *args, stdout=out)
    return out.getvalue()


def test_the_demo_syncs_contacts_and_customers_then_deletes_what_it_made(no_token):
    text = demo()
    assert "Started the HubSpot sandbox at http://127.0.0.1:" in text
    assert "Queued 28 contacts and 5 shop.customer rows; syncing..." in text
    # 20 samples + 5 customers synced, the 8 invalid rows failed.
    assert "synced 25, failed 8, to retry later 0, held for review 0" in text
    assert "shop.customer (registered in its app's hubspot.py): 5 of 5 created" in text
    # The edit changed job title and stage: the update carries the job title only.
    assert 'update sent only what changed: {"jobtitle": "CTO"}' in text
    assert "HubSpot holds jobtitle='CTO', lifecyclestage='lead'" in text
    assert "is archived" in text
    assert "Cleaned up: deleted 33 contacts (mirrors included), 4 shop.customer rows" in text
    assert not Contact.objects.exists()
    assert not Customer.objects.exists()
    assert not SyncBatch.objects.exists() and not SyncAttempt.objects.exists()


def test_keep_keeps_the_rows(no_token):
    text = demo("--keep")
    assert "Kept the demo's rows (--keep)." in text and "Cleaned up" not in text
    assert Customer.objects.count() == 4  # one was deleted by the demo
    mirrors = Contact.objects.exclude(source="")
    assert mirrors.count() == 5
    assert mirrors.filter(sync_status=SyncStatus.ARCHIVED).count() == 1
    assert Contact.objects.filter(source="").count() == 28
    assert SyncBatch.objects.filter(endpoint="archive").count() == 1


def test_it_refuses_a_real_account_without_the_flag(settings):
    settings.CRMSYNC = {
        **settings.CRMSYNC,
        "ACCESS_TOKEN": "pat-na1-not-a-real-token",
        "API_BASE_URL": "https://api.hubapi.com",
    }
    with pytest.raises(CommandError) as info:
        demo()
    message = str(info.value)
    assert info.value.returncode == 1 and "\n" not in message
    assert "--real-account" in message and "https://api.hubapi.com" in message
    assert "pat-na1" not in message
    assert not Contact.objects.exists() and not Customer.objects.exists()


def test_with_a_token_for_a_loopback_sandbox_it_uses_that_one(crmsync_sandbox):
    text = demo()
    assert f"Using HubSpot at {crmsync_sandbox.url}" in text
    assert "synced 25, failed 0" in text  # no invalid rows for an account it did not start
    held = [c for c in crmsync_sandbox.contacts() if not c["archived"]]
    assert len(held) == 24 and not Contact.objects.exists()


def test_it_refuses_while_contacts_of_the_project_wait(no_token):
    ContactFactory(email="real@example.com")
    with pytest.raises(CommandError, match="1 contacts of this project wait to be sent"):
        demo()
    assert Contact.objects.get().sync_status == SyncStatus.PENDING


def run(args: list[str], db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": f"sqlite:///{db}",
        "HUBSPOT_ACCESS_TOKEN": "",
        "REDIS_URL": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_demo_works_on_a_fresh_sqlite_database(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    migrated = run(["migrate", "--noinput", "--skip-checks", "-v", "0"], db)
    assert migrated.returncode == 0, migrated.stderr
    done = run(["crmsync_demo", "--count", "10"], db)
    assert done.returncode == 0, done.stderr
    assert "is archived" in done.stdout and "Cleaned up: deleted 23 contacts" in done.stdout
    refused = run(["crmsync_demo"], db, HUBSPOT_ACCESS_TOKEN="pat-na1-x")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "--real-account" in refused.stderr
