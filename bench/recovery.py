"""Recovery at full speed: the tail of a rate-limited run under faults, before and after.

    .venv/bin/python -m bench.recovery [--contacts 5000] [--workers 2]

The machinery of ``bench.throughput`` (its PostgreSQL, Redis, sandbox and worker processes),
with the sandbox at HubSpot's 40 requests per 2 s (a ceiling of 2,000 contacts/s), 2 % 5xx
and 2 % answers dropped after the records were written, and retries after 0.5-2 s. Two
ways of running the same workers, side by side with the run without faults:

- ``tick``: one ``sync_pending()`` per beat tick (``--tick``, 5 s as in project/settings.py),
  returning as soon as nothing is due: a row to retry in half a second waits for the tick;
- ``drain``: ``services.drain`` (``crmsync_sync --drain``), which waits for rows due within
  ``DRAIN_HORIZON_SECONDS`` and runs until nothing is pending or in flight.

The rate is synced contacts over the span from the first request's start to the last
answer, as part 1 of bench.throughput; the share is of the ceiling.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from bench import common
from bench.throughput import BATCH, DEFAULT_DATABASE_URL, Bench, fmt, table

LIMIT, INTERVAL_MS = 40, 2000
FAULTS = {"fault_5xx_rate": 0.02, "drop_after_commit_rate": 0.02}
NO_FAULTS = {"fault_5xx_rate": 0.0, "drop_after_commit_rate": 0.0}


def run(
    bench: Bench, mode: str, faults: dict[str, float], contacts: int, workers: int
) -> list[str]:
    label = f"{mode}-{'faults' if faults['fault_5xx_rate'] else 'clean'}"
    bench.sandbox_limits(LIMIT, INTERVAL_MS)
    bench.sandbox_call("POST", "config", faults)
    bench.prepare(contacts, f"{bench.run_id}-{label}")
    phase = bench.run_workers(
        label, workers, concurrency=4, limit=LIMIT, interval_ms=INTERVAL_MS, mode=mode, timeout=300
    )
    ceiling = LIMIT * 1000 / INTERVAL_MS * BATCH
    faults_seen = phase.sandbox.get("faults", {})
    bench.log(f"{label}: {phase.rate:,.0f} contacts/s over {phase.span:.1f} s")
    return [
        mode,
        "2 % 5xx + 2 % drops" if faults["fault_5xx_rate"] else "none",
        f"{phase.synced:,}/{contacts:,}",
        f"{phase.span:.1f}",
        fmt(phase.rate),
        f"{100 * phase.rate / ceiling:.0f} %",
        str(int(phase.sandbox.get("rate_limited_total", 0))),
        str(sum(int(v) for v in faults_seen.values()) if isinstance(faults_seen, dict) else "?"),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", common.DEFAULT_REDIS_URL)
    )
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tick", type=float, default=5.0)
    parser.add_argument("--modes", default="tick,drain")
    args = parser.parse_args(argv)
    bench = Bench(args)
    bench.env.update(
        common.crmsync_settings(
            retry_base_seconds=0.5,
            retry_max_seconds=2,
            max_attempts=100,
            http_timeout_seconds=5,
            lease_seconds=30,
            drain_horizon_seconds=5,
        )
    )
    rows = []
    try:
        bench.setup()
        for mode in args.modes.split(","):
            for faults in (NO_FAULTS, FAULTS):
                rows.append(run(bench, mode, faults, args.contacts, args.workers))
    finally:
        bench.close()
    print(
        f"Recovery: {args.contacts:,} contacts, {args.workers} workers x CONCURRENCY 4, sandbox "
        f"{LIMIT} requests / {INTERVAL_MS} ms (ceiling {LIMIT * 1000 // INTERVAL_MS * BATCH:,} "
        f"contacts/s), retries after 0.5-2 s, tick {args.tick:g} s"
    )
    headers = ["mode", "faults", "synced", "span s", "contacts/s", "of ceiling", "429s", "faults"]
    print("\n".join(table(headers, rows)))


if __name__ == "__main__":
    main()
