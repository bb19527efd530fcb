"""How many batch/create requests of 100 inputs per second the HubSpot sandbox answers.

Starts the sandbox as a subprocess (``python -m crmsync.sandbox``; ``--in-process`` runs it in
this process instead), then hammers it from keep-alive ``requests.Session`` clients: PROCESSES
processes of THREADS threads each, for SECONDS seconds. Prints requests/s and contacts/s.

    .venv/bin/python -m bench.sandbox_speed [--seconds 5] [--processes 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import Sandbox

TOKEN = "bench-token"
BATCH = 100


def _client(url: str, worker: str, seconds: float, out: Any) -> None:
    session = requests.Session()
    # No proxies for loopback; it also spares requests a scan of the environment per call.
    session.trust_env = False
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    endpoint = f"{url}/crm/v3/objects/contacts/batch/create"
    # One body template, made unique per request with a plain string replace, so that the
    # client spends its time on HTTP rather than on building JSON.
    template = json.dumps(
        {
            "inputs": [
                {
                    "properties": {
                        "email": f"@@-{i}@example.com",
                        "firstname": "Ada",
                        "lastname": f"Lovelace {i}",
                        "lifecyclestage": "lead",
                    },
                    "objectWriteTraceId": f"@@-{i}",
                }
                for i in range(BATCH)
            ]
        }
    )
    ok = failed = n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = template.replace("@@", f"{worker}-{n}").encode()
        n += 1
        response = session.post(endpoint, data=body, headers=headers, timeout=30)
        if response.status_code == 201:
            ok += 1
        else:
            failed += 1
    out.put((ok, failed))


def _process(url: str, index: int, threads: int, seconds: float, out: Any) -> None:
    workers = [
        threading.Thread(target=_client, args=(url, f"p{index}t{t}", seconds, out))
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def _start_subprocess(log: Path) -> Sandbox:
    args = ["-m", "crmsync.sandbox", "--port", "0", "--token", TOKEN]
    args += ["--rate-limit-max", "100000000", "--daily-limit", "1000000000"]
    return Sandbox.start(args, os.environ, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()

    server = None
    sandbox = None
    tmp = tempfile.TemporaryDirectory(prefix="crmsync-sandbox-speed-")
    if args.in_process:
        from crmsync.sandbox import SandboxConfig, SandboxServer

        config = SandboxConfig(rate_limit_max=100_000_000, daily_limit=1_000_000_000)
        server = SandboxServer(token=TOKEN, config=config).start()
        url = server.url
    else:
        sandbox = _start_subprocess(Path(tmp.name) / "sandbox.log")
        url = sandbox.url
    try:
        cpu_before = requests.get(f"{url}/_sandbox/stats", timeout=10).json()["process_cpu_seconds"]
        out: Any = multiprocessing.Queue()
        started = time.monotonic()
        procs = [
            multiprocessing.Process(target=_process, args=(url, i, args.threads, args.seconds, out))
            for i in range(args.processes)
        ]
        for p in procs:
            p.start()
        results = [out.get() for _ in range(args.processes * args.threads)]
        for p in procs:
            p.join()
        elapsed = time.monotonic() - started
        stats = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
        server_cpu = stats["process_cpu_seconds"] - cpu_before
    finally:
        if server is not None:
            server.stop()
        if sandbox is not None:
            sandbox.stop()
        tmp.cleanup()
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    print(
        f"{args.processes} process(es) x {args.threads} thread(s), {elapsed:.1f} s: "
        f"{ok / elapsed:.0f} batch/create requests/s, {ok * BATCH / elapsed:.0f} contacts/s "
        f"({ok} ok, {failed} failed; sandbox stored {stats['records_created']} contacts)"
    )
    if not args.in_process and ok:
        per_request = server_cpu / (ok + failed) * 1000
        print(
            f"sandbox CPU: {per_request:.2f} ms per request, i.e. at most "
            f"{1000 / per_request:.0f} requests/s on one core with the clients elsewhere"
        )


if __name__ == "__main__":
    main()
