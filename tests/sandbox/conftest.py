"""Fixtures of the sandbox's own tests: a keep-alive HTTP client pointed at the fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Api

from crmsync.sandbox import SandboxServer


@pytest.fixture
def api(hubspot_sandbox: SandboxServer) -> Iterator[Api]:
    client = Api(hubspot_sandbox)
    yield client
    client.session.close()
