"""The browser tests' harness: the admin on pytest-django's live server, the sandbox as
HubSpot over real HTTP, and Playwright driving Debian's ``chromium`` package.

Playwright never downloads a browser here (its installer's builds cannot be fetched): it
launches the executable at ``CRMSYNC_CHROMIUM`` (default ``/usr/bin/chromium``, which
``make browsers`` installs through apt). A missing chromium fails every browser test, so CI
cannot pass without running them; ``CRMSYNC_SKIP_BROWSER_TESTS=1`` skips them instead, for a
machine that cannot have chromium.

Each test leaves ``artifacts/screenshots/<test>.png`` (its last page, passed or failed) and
whatever it saved with ``pages.shot(label)`` as ``<test>-<label>.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from tests.browser.pages import PASSWORD, AdminPages
from tests.browser.remote import PlaywrightThread, Remote

CHROMIUM = os.environ.get("CRMSYNC_CHROMIUM", "/usr/bin/chromium")
SKIP = os.environ.get("CRMSYNC_SKIP_BROWSER_TESTS", "") not in ("", "0")
VIEWPORT = {"width": 1400, "height": 900}
#: What a staff user who may look but not act holds.
VIEW_PERMISSIONS = (
    "view_contact",
    "view_syncbatch",
    "view_syncattempt",
    "view_pipelinestate",
    "view_bulkjob",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason="CRMSYNC_SKIP_BROWSER_TESTS is set"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the page fixture knows a test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    """artifacts/screenshots/ (or CRMSYNC_SCREENSHOTS), emptied once per run: what it holds
    is this run's."""
    default = pytestconfig.rootpath / "artifacts" / "screenshots"
    folder = Path(os.environ.get("CRMSYNC_SCREENSHOTS") or default)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the whole run (a launch costs about a second), driven from
    its own thread (tests/browser/remote.py says why)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"no chromium at {CHROMIUM}: install Debian's package (`make browsers`, or "
            "apt-get install chromium), point CRMSYNC_CHROMIUM at one, or set "
            "CRMSYNC_SKIP_BROWSER_TESTS=1 to skip the browser tests",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    runner = PlaywrightThread()
    playwright = runner.run(lambda: async_playwright().start())
    try:
        chromium = runner.run(
            playwright.chromium.launch,
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox"],
        )
        try:
            yield Remote(chromium, runner)
        finally:
            runner.run(chromium.close)
    finally:
        runner.run(playwright.stop)
        runner.stop()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Logins hash a password; PBKDF2's default rounds cost ~0.3 s a login on this machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def site(live_server: Any, crmsync_sandbox: Any, broker: Broker) -> Any:
    """The admin served over HTTP (pytest-django's live server, in this process, so the
    sandbox's CRMSYNC settings reach its requests), with the sandbox as HubSpot
    (``site.sandbox``) and the broker recorded (``broker``)."""
    live_server.sandbox = crmsync_sandbox
    return live_server


@pytest.fixture
def page(
    browser: Any, site: Any, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[AdminPages]:
    """A fresh browser context (no cookies) per test at 1400x900, wrapped in the admin's
    steps. Its last page is saved as ``<test>.png``, passed or failed."""
    context = browser.new_context(viewport=VIEWPORT, base_url=site.url)
    context.set_default_timeout(5_000)
    pages = AdminPages(context.new_page(), shots=screenshots, name=_shot_name(request))
    try:
        yield pages
    finally:
        failed = any(
            getattr(getattr(request.node, f"report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        pages.shot("failed" if failed else None)
        context.close()


def _shot_name(request: pytest.FixtureRequest) -> str:
    name = request.node.name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")


@dataclass
class Broker:
    """The Celery broker as the admin sees it: every nudge and enqueued sync is counted and
    none is published, and ``drain()`` does what a worker receiving them would do."""

    published: list[str] = field(default_factory=list)

    def drain(self) -> Any:
        from crmsync.testing import sync_now

        return sync_now()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
    """A broker that is there (so the admin says "a sync task enqueued", with or without
    REDIS_URL) and publishes nothing: no stray task is left in the shared Redis."""
    from celery import current_app

    from crmsync import tasks

    recorder = Broker()
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    monkeypatch.setattr(
        tasks, "_publish", lambda task=None, *args: recorder.published.append("sync")
    )
    monkeypatch.setattr(tasks, "nudge_soon", lambda: recorder.published.append("nudge"))
    monkeypatch.setattr(tasks, "_broker_down_until", 0.0)
    try:
        yield recorder
    finally:
        current_app.conf.task_always_eager = eager


def _user(username: str, *, superuser: bool = False, perms: tuple[str, ...] = ()) -> User:
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


@pytest.fixture
def superuser(transactional_db: None) -> User:
    return _user("admin", superuser=True)


@pytest.fixture
def viewer(transactional_db: None) -> User:
    """Staff who may view crmsync's pages and nothing more."""
    return _user("viewer", perms=VIEW_PERMISSIONS)


@pytest.fixture
def outsider(transactional_db: None) -> User:
    """Staff without a single crmsync permission."""
    return _user("outsider")
