"""A local server that answers like HubSpot's CRM contacts API, for the demo, tests and benchmarks.

Standard library only, and nothing of Django's: host projects can use it in their own tests.
See docs/sandbox.md for every option.
"""

from __future__ import annotations

from .config import ConfigError, SandboxConfig
from .server import SandboxServer

__all__ = ["ConfigError", "SandboxConfig", "SandboxServer"]
