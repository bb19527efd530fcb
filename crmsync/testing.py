"""A test kit for host projects: the sandbox as HubSpot, a sync inside the test, assertions.

Register it in your ``conftest.py`` (it needs pytest and pytest-django)::

    pytest_plugins = ["crmsync.testing"]

    @pytest.mark.django_db
    def test_signup_reaches_hubspot(crmsync_sandbox):
        contact = Contact.objects.create(email="ada@example.com", firstname="Ada")
        sync_now()
        assert_synced(contact)
        assert_in_hubspot(crmsync_sandbox, email="ada@example.com", properties={"firstname": "Ada"})

The fixtures of ``crmsync.sandbox.pytest_plugin`` (``hubspot_sandbox``...) come with it. See
docs/sandbox.md, "Testing your project".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from .sandbox.server import SandboxServer

if TYPE_CHECKING:
    from .models import Contact
    from .sync.batch import RunSummary

pytest_plugins = ["crmsync.sandbox.pytest_plugin"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")

#: What ``crmsync_sandbox`` puts in CRMSYNC over the project's own settings: the sandbox's
#: address and token, retries in hundredths of a second, and an in-process rate limiter (no
#: Redis) that the sandbox's own limits never trip.
SANDBOX_SETTINGS: dict[str, Any] = {
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


def sandbox_settings(sandbox: SandboxServer, **overrides: Any) -> dict[str, Any]:
    """The project's CRMSYNC pointed at ``sandbox`` (see ``SANDBOX_SETTINGS``), then
    ``overrides``: for ``override_settings(CRMSYNC=...)``."""
    from django.conf import settings

    own = getattr(settings, "CRMSYNC", None)
    return {
        **(own if isinstance(own, Mapping) else {}),
        **SANDBOX_SETTINGS,
        "ACCESS_TOKEN": sandbox.token,
        "API_BASE_URL": sandbox.url,
        **overrides,
    }


@pytest.fixture
def crmsync_sandbox(hubspot_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox, emptied for this test, with CRMSYNC pointed at it."""
    from django.test import override_settings

    from . import schema
    from .ratelimit import get_rate_limiter

    # The sandbox was emptied: so is the property schema this process cached of it.
    schema.clear()
    with override_settings(CRMSYNC=sandbox_settings(hubspot_sandbox)):
        try:
            yield hubspot_sandbox
        finally:
            # The in-process limiter lives as long as the process: start each test afresh.
            get_rate_limiter().reset()
            schema.clear()


def sync_now(max_batches: int | None = None) -> RunSummary:
    """Send every due contact now, in this thread, on this connection, so a ``django_db``
    test's uncommitted rows are seen; returns the run's summary.

    Only to a sandbox (a loopback address): a test that forgot ``crmsync_sandbox`` must not
    send its contacts to the HubSpot account whose token happens to be in the environment.
    """
    from . import services
    from .conf import get_settings

    url = get_settings().API_BASE_URL
    if urlsplit(url).hostname not in _LOOPBACK:
        raise RuntimeError(
            f"crmsync: sync_now() sends only to a sandbox on a loopback address, and "
            f"CRMSYNC['API_BASE_URL'] is {url}: use the crmsync_sandbox fixture"
        )
    return services.sync_pending(max_batches=max_batches, concurrency=1)


def assert_synced(contact: Contact | int) -> Contact:
    """Fail unless this contact (or contact id) is synced at its latest version; returns it
    fresh from the database."""
    __tracebackhide__ = True  # pytest shows the test's line, not this one
    from .models import Contact, SyncStatus

    pk = contact if isinstance(contact, int) else contact.pk
    row = Contact.objects.filter(pk=pk).first()
    if row is None:
        raise AssertionError(f"crmsync: no contact #{pk} in the database")
    if (
        row.sync_status == SyncStatus.SYNCED
        and row.hubspot_id
        and row.synced_version == row.version
    ):
        return row
    raise AssertionError(f"crmsync: {_describe(row)}")


def _describe(row: Contact) -> str:
    from .models import SyncStatus

    who = f"contact #{row.pk} ({row.email or 'no email'})"
    status = row.get_sync_status_display().lower()
    if row.sync_status == SyncStatus.PENDING:
        hint = (
            "; nothing sent it: call sync_now() (inside a django_db test no transaction "
            "commits, so the save's nudge never runs)"
        )
        if row.sync_attempts:
            hint = f" (retrying after {row.sync_attempts} attempt(s): {row.sync_error})"
        return f"{who} is {status}, not synced{hint}"
    if row.sync_status == SyncStatus.SYNCED:
        return (
            f"{who} is synced at version {row.synced_version}, but it is at version "
            f"{row.version}: its last change was not sent yet"
        )
    error = f": {row.sync_error}" if row.sync_error else ""
    category = f" [{row.sync_error_category}]" if row.sync_error_category else ""
    return f"{who} is {status}, not synced{error}{category}"


def assert_in_hubspot(
    sandbox: SandboxServer, *, email: str, properties: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Fail unless the sandbox holds an active contact with this email whose properties
    have these values; returns its record. Values are compared as HubSpot returns them:
    ``date`` as ``YYYY-MM-DD``, other values as crmsync sends them; ``None`` means unset."""
    __tracebackhide__ = True
    record = sandbox.contact_by_email(email)
    if record is None:
        emails = sorted(
            str(c["properties"].get("email")) for c in sandbox.contacts() if not c["archived"]
        )
        held = ", ".join(emails[:20]) + (
            f" and {len(emails) - 20} more" if len(emails) > 20 else ""
        )
        raise AssertionError(
            f"HubSpot (the sandbox) holds no contact with email {email!r}; "
            + (f"it holds {len(emails)}: {held}" if emails else "it holds none")
        )
    held_props = record["properties"]
    wrong = []
    for name, value in (properties or {}).items():
        expected = _as_returned(value, name)
        actual = held_props.get(name)
        if (actual or None) != expected:
            wrong.append(f"  {name}: HubSpot holds {actual!r}, expected {expected!r}")
    if wrong:
        raise AssertionError(
            f"HubSpot's contact {email!r} (id {record['id']}) differs:\n"
            + "\n".join(wrong)
            + "\nit holds: "
            + ", ".join(f"{k}={v!r}" for k, v in sorted(held_props.items()))
        )
    return record


def _as_returned(value: Any, name: str) -> str | None:
    from .mapping import to_hubspot_value

    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()  # sent as midnight epoch ms, read back as a date
    return to_hubspot_value(value, name) or None
