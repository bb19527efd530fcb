"""Shared fixtures. The sandbox fixtures come from crmsync's own pytest plugin."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

pytest_plugins = ["crmsync.sandbox.pytest_plugin"]

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
def crmsync_settings(hubspot_sandbox: Any) -> Iterator[dict[str, Any]]:
    """CRMSYNC pointed at the sandbox, with fast retries and an in-process rate limiter
    (tests that need the shared Redis limiter say so)."""
    conf = {
        "ACCESS_TOKEN": hubspot_sandbox.token,
        "API_BASE_URL": hubspot_sandbox.url,
        "HTTP_TIMEOUT_SECONDS": 2.0,
        "LEASE_SECONDS": 30.0,
        "RETRY_BASE_SECONDS": 0.01,
        "RETRY_MAX_SECONDS": 0.05,
        "MAX_ATTEMPTS": 5,
        "RATE_LIMIT_MAX": 10_000,
        "RATE_LIMIT_INTERVAL_SECONDS": 1.0,
        "RATE_LIMIT_DAILY": 0,
        "REDIS_URL": "",
        "CONCURRENCY": 1,
    }
    with override_settings(CRMSYNC=conf):
        yield conf
        # The in-process limiter lives as long as the process: start each test afresh.
        from crmsync.ratelimit import get_rate_limiter

        get_rate_limiter().reset()


@pytest.fixture
def nudges(monkeypatch):
    """Count sync tasks enqueued, as a broker would receive them (none is published)."""
    from celery import current_app

    from crmsync import tasks

    sent: list[tuple] = []
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    monkeypatch.setattr(tasks, "_publish", lambda: sent.append(()))
    monkeypatch.setattr(tasks, "_broker_down_until", 0.0)
    yield sent
    current_app.conf.task_always_eager = eager
