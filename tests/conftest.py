"""Shared fixtures. The sandbox fixtures come from crmsync's test kit, as in a host project
(crmsync.testing, which brings crmsync.sandbox.pytest_plugin)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import connection

pytest_plugins = ["crmsync.testing"]

REDIS_URL = os.environ.get("REDIS_URL", "")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Skip, and say so, what this machine cannot run; conftest's summary lists them."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/crmsync"
    )
    skip_redis = pytest.mark.skip(reason="needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/0")
    for item in items:
        if "postgres" in item.keywords and "postgresql" not in engine:
            item.add_marker(skip_pg)
        if ("redis" in item.keywords or "celery_worker" in item.keywords) and not REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture
def crmsync_settings(crmsync_sandbox: Any) -> dict[str, Any]:
    """CRMSYNC as crmsync.testing's ``crmsync_sandbox`` sets it: pointed at the sandbox, with
    fast retries and an in-process rate limiter (tests that need the shared Redis limiter say
    so)."""
    from django.conf import settings

    return settings.CRMSYNC


@pytest.fixture
def nudges(monkeypatch):
    """Count sync tasks enqueued, as a broker would receive them (none is published)."""
    from celery import current_app

    from crmsync import tasks

    sent: list[tuple] = []
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    monkeypatch.setattr(tasks, "nudge_soon", lambda: sent.append(()))
    monkeypatch.setattr(tasks, "_broker_down_until", 0.0)
    yield sent
    current_app.conf.task_always_eager = eager
