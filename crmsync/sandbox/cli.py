"""Command-line options of ``python -m crmsync.sandbox`` and ``manage.py crmsync_sandbox``."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .config import (
    CONFLICT_MODES,
    MERGED_READ_MODES,
    MERGED_UPDATE_MODES,
    SandboxConfig,
    load_custom_properties,
)
from .server import SandboxServer

#: (flag, option, type) for the options that map one-to-one onto SandboxConfig fields.
_VALUE_FLAGS: tuple[tuple[str, str, type], ...] = (
    ("--rate-limit-max", "rate_limit_max", int),
    ("--rate-limit-interval-ms", "rate_limit_interval_ms", int),
    ("--daily-limit", "daily_limit", int),
    ("--search-rate-limit", "search_rate_limit", int),
    ("--search-lag-ms", "search_lag_ms", int),
    ("--fault-5xx-rate", "fault_5xx_rate", float),
    ("--fault-423-rate", "fault_423_rate", float),
    ("--fault-477-rate", "fault_477_rate", float),
    ("--fault-477-retry-after-seconds", "fault_477_retry_after_seconds", int),
    ("--latency-ms", "latency_ms", float),
    ("--drop-after-commit-rate", "drop_after_commit_rate", float),
    ("--slow-after-commit-rate", "slow_after_commit_rate", float),
    ("--slow-after-commit-seconds", "slow_after_commit_seconds", float),
    ("--seed", "seed", int),
)


def add_arguments(parser: argparse.ArgumentParser | Any) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument("--token", default="sandbox-token", help="bearer token to accept")
    for flag, option, kind in _VALUE_FLAGS:
        parser.add_argument(flag, dest=option, type=kind, default=None)
    parser.add_argument("--no-shuffle", dest="shuffle_results", action="store_false", default=None)
    parser.add_argument("--echo-trace-ids", action="store_true", default=None)
    parser.add_argument(
        "--no-multi-status", dest="multi_status", action="store_false", default=None
    )
    parser.add_argument(
        "--no-retry-after", dest="retry_after_on_429", action="store_false", default=None
    )
    parser.add_argument("--conflict-mode", choices=CONFLICT_MODES, default=None)
    parser.add_argument("--merged-update", choices=MERGED_UPDATE_MODES, default=None)
    parser.add_argument("--merged-read", choices=MERGED_READ_MODES, default=None)
    parser.add_argument("--missing-scopes", action="store_true", default=None)
    parser.add_argument(
        "--fault-endpoints", default=None, help="comma-separated, e.g. create,update,upsert"
    )
    parser.add_argument(
        "--custom-properties",
        metavar="FILE.json",
        default=None,
        help="JSON list of property definitions, as POST /crm/v3/properties/contacts takes",
    )


def config_from_options(options: Mapping[str, Any]) -> SandboxConfig:
    names = [option for _, option, _ in _VALUE_FLAGS]
    names += ["shuffle_results", "echo_trace_ids", "retry_after_on_429", "conflict_mode"]
    names += ["missing_scopes", "fault_endpoints", "multi_status", "merged_update", "merged_read"]
    chosen = {name: options[name] for name in names if options.get(name) is not None}
    if options.get("custom_properties"):
        chosen["custom_properties"] = load_custom_properties(options["custom_properties"])
    return SandboxConfig().replace(**chosen)


def serve(options: Mapping[str, Any], write: Callable[[str], object] = print) -> None:
    """Run in the foreground until SIGTERM or SIGINT."""
    server = SandboxServer(
        host=options["host"],
        port=options["port"],
        token=options["token"],
        config=config_from_options(options),
    )
    # A process that only runs the sandbox keeps every record for its whole life: collecting
    # the young generation less often spares the cyclic GC from rescanning a growing store.
    gc.set_threshold(50_000, 50, 100)
    server.start()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    write(f"crmsync sandbox listening on {server.url}")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crmsync.sandbox", description="A local HubSpot contacts API sandbox."
    )
    add_arguments(parser)
    serve(vars(parser.parse_args(argv)))
