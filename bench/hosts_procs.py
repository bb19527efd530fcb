"""The processes of ``bench.hosts``: PostgreSQL's forwarder, a Redis of its own, and the
workers on each host (``manage.py crmsync_sync --drain`` inside a network namespace).

Nothing here imports Django (see bench.common).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import common
from bench.common import BenchError
from bench.netns import Network, Service

#: Seconds a worker's ``crmsync_sync --drain`` may run before it exits (and is started again).
DRAIN_TIMEOUT_SECONDS = 120
#: A worker that exited is started again this long after (a crash loop must not eat the CPU).
RESPAWN_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(address: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on {address}:{port} after {timeout:.0f} s")


def _die_with_parent() -> None:
    """In the child, before exec: Linux SIGKILLs it when the harness dies (even by SIGKILL),
    so no forwarder or Redis outlives a run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _start(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )


def _check_listening(proc: subprocess.Popen[bytes], address: str, port: int) -> None:
    """Up, and ours: another process on that address (a leftover) would answer the probe
    while this one failed to bind and exited."""
    _wait_for_port(address, port, 10, proc)
    time.sleep(0.2)
    if proc.poll() is not None:
        raise BenchError(f"{address}:{port} is taken by another process; {proc.args!r} exited")


class Forwarder:
    """PostgreSQL listens on 127.0.0.1 only: socat, in the root namespace, bound to the
    bridge's PostgreSQL address, passes each connection on to it (one process per
    connection, ``fork``). A host cut from PostgreSQL is cut from this address."""

    def __init__(self, service: Service, target: tuple[str, int], log: Path) -> None:
        if shutil.which("socat") is None:
            raise BenchError(
                "needs socat to reach PostgreSQL from the hosts: apt-get install socat"
            )
        listen = f"TCP-LISTEN:{service.port},bind={service.address},reuseaddr,fork,backlog=256"
        self.proc = _start(["socat", listen, f"TCP:{target[0]}:{target[1]}"], log)
        _check_listening(self.proc, service.address, service.port)

    def stop(self) -> None:
        # socat's children (one per connection) are in its process group only if started
        # so; they die when their connections close, which stopping the workers does.
        common.stop([self.proc], 5)


class RedisServer:
    """A redis-server of the harness's own (the machine's shared Redis is never touched),
    bound to the bridge's Redis address and loopback, without persistence: a restart comes
    back empty, the hardest case for the shared rate limiter."""

    def __init__(self, service: Service, log: Path) -> None:
        if shutil.which("redis-server") is None:
            raise BenchError("needs redis-server for a Redis of the harness's own")
        self.service = service
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.service.address}:{self.service.port}/0"

    @property
    def loopback_url(self) -> str:
        return f"redis://127.0.0.1:{self.service.port}/0"

    def start(self) -> None:
        argv = [
            "redis-server",
            "--bind",
            self.service.address,
            "127.0.0.1",
            "--port",
            str(self.service.port),
            "--save",
            "",
            "--appendonly",
            "no",
            # No password, and reached from the hosts' addresses: protected mode would
            # refuse every host's connection.
            "--protected-mode",
            "no",
        ]
        self.proc = _start(argv, self.log)
        _check_listening(self.proc, "127.0.0.1", self.service.port)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, down_seconds: float) -> None:
        """SIGKILL, ``down_seconds`` without Redis, then a fresh empty one on the same port."""
        self.kill()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        self.kill()


def faketime_env(offset: str) -> dict[str, str]:
    """libfaketime preloaded directly (not the ``faketime`` wrapper, which forks: a signal
    to the worker must reach Python, not the wrapper). The monotonic clock is left alone:
    libfaketime's faked one hangs Python's timed waits (tests/test_clock.py), and the real
    one makes ``time.sleep`` fail, hence the shim (bench/faketime_shim/sitecustomize.py)."""
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    libs += sorted(glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    if not libs:
        raise BenchError("needs libfaketime to skew a host's clock: apt-get install faketime")
    shim = Path(__file__).resolve().parent / "faketime_shim"
    return {
        "PYTHONPATH": f"{shim}{os.pathsep}{common.ROOT}",
        "LD_PRELOAD": libs[0],
        "FAKETIME": offset,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_NO_CACHE": "1",
    }


def measured_skew(net: Network, host: int, offset: str) -> float:
    """Seconds host ``host``'s workers' wall clock is ahead of this process's, as a worker
    started the same way reads it (proof the skew is applied, for the table)."""
    env = {**os.environ, **faketime_env(offset)}
    argv = net.exec_args(host, [sys.executable, "-c", "import time; print(time.time())"])
    before = time.time()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    after = time.time()
    if done.returncode != 0:
        raise BenchError(f"a skewed process on host {host} failed: {done.stderr[-500:]}")
    return float(done.stdout.strip()) - (before + after) / 2


@dataclass
class Slot:
    host: int
    index: int
    proc: subprocess.Popen[bytes] | None = None
    dead_since: float = 0.0
    started: int = 0


@dataclass
class HostWorkers:
    """``per_host`` workers on each host, each ``manage.py crmsync_sync --drain`` inside the
    host's namespace; one that exits (the queue was empty, it lost its database, it was
    stopped) is started again while the run lasts, as a process supervisor would."""

    net: Network
    per_host: int
    env: Mapping[str, str]
    work: Path
    skews: Mapping[int, str] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    exits: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for host in range(1, self.net.hosts + 1):
            for index in range(1, self.per_host + 1):
                self.slots.append(Slot(host, index))
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        env = dict(self.env)
        if slot.host in self.skews:
            env.update(faketime_env(self.skews[slot.host]))
        argv = self.net.exec_args(
            slot.host,
            [
                sys.executable,
                "manage.py",
                "crmsync_sync",
                "--drain",
                f"--timeout={DRAIN_TIMEOUT_SECONDS}",
            ],
        )
        log = self.work / f"worker-h{slot.host}-{slot.index}.log"
        with log.open("ab") as out:
            slot.proc = subprocess.Popen(
                argv,
                cwd=common.ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        slot.started += 1

    def tend(self) -> None:
        """Note workers that exited and start them again."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is None:
                if now - slot.dead_since >= RESPAWN_SECONDS:
                    self._spawn(slot)
                continue
            code = slot.proc.poll()
            if code is not None:
                self.exits[_exit_name(code)] += 1
                slot.proc = None
                slot.dead_since = now

    def signal(self, host: int, signum: int) -> int | None:
        """Send ``signum`` to one running worker on ``host``; its pid, None if none runs."""
        for slot in self.slots:
            if slot.host == host and slot.proc is not None and slot.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.proc.pid, signum)
                return slot.proc.pid
        return None

    def stop(self, grace: float = 20) -> None:
        procs = [s.proc for s in self.slots if s.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for slot in self.slots:
            slot.proc = None

    @property
    def starts(self) -> int:
        return sum(slot.started for slot in self.slots)


def _exit_name(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    names = {0: "0 (queue empty)", 1: "1 (error)", 3: "3 (not sent)", 4: "4 (stopped)"}
    names[5] = "5 (HubSpot unreachable)"
    return names.get(code, str(code))
