"""crmsync_sync --progress: a bar on stderr when asked for and drawable, nothing otherwise;
sync_pending tells its callback of every batch."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import override_settings

from crmsync import services
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def sync(crmsync_settings, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with override_settings(CRMSYNC={**crmsync_settings, "BATCH_SIZE": 10}):
        call_command("crmsync_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_sync_pending_reports_each_batch(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(25)
    parts: list[services.RunSummary] = []
    with override_settings(CRMSYNC={**crmsync_settings, "BATCH_SIZE": 10}):
        summary = services.sync_pending(concurrency=2, progress=parts.append)
    assert len(parts) == summary.batches == 3
    assert sum(p.synced for p in parts) == summary.synced == 25


def test_progress_always_draws_a_bar(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(25)
    out, err = sync(crmsync_settings, "--progress=always")
    assert "synced 25" in out
    assert "25/25" in err and "100%" in err and "row/s" in err
    assert "synced=25" in err and "failed=0" in err


def test_progress_on_a_stream_that_is_no_terminal_prints_nothing(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(5)
    out, err = sync(crmsync_settings, "--progress")
    assert "synced 5" in out and err == ""


def test_no_progress_by_default(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(5)
    out, err = sync(crmsync_settings)
    assert "synced 5" in out and err == ""
