"""pytest fixtures for the HubSpot sandbox.

Register with ``pytest_plugins = ["crmsync.sandbox.pytest_plugin"]``. One server runs for the
whole session; ``hubspot_sandbox`` resets it before each test and restores its config after,
so tests stay independent and fast. Options for one test::

    @pytest.mark.hubspot_sandbox(rate_limit_max=5, conflict_mode="batch")
    def test_something(hubspot_sandbox): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .server import SandboxServer

TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's well-known token, not a secret


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hubspot_sandbox(**options): SandboxConfig options for this test's sandbox"
    )


@pytest.fixture(scope="session")
def hubspot_sandbox_server() -> Iterator[SandboxServer]:
    """The session's sandbox server on a free loopback port."""
    server = SandboxServer(host="127.0.0.1", port=0, token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hubspot_sandbox(
    hubspot_sandbox_server: SandboxServer, request: pytest.FixtureRequest
) -> Iterator[SandboxServer]:
    """The session's sandbox, emptied and with its default config, for one test."""
    server = hubspot_sandbox_server
    server.reset()
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("hubspot_sandbox"))):
        options.update(marker.kwargs)
    if options:
        server.configure(**options)
    try:
        yield server
    finally:
        server.reset()
