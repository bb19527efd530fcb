"""Hosts on one machine: Linux network namespaces, a bridge, and cuts between them (as root).

    with Network(hosts=3) as net:          # crmsync-<k>h1..3, bridge crmbr<k>, 10.231.<k>.0/24
        net.exec_args(1, ["python", ...])  # argv that runs inside host 1's namespace
        net.cut(2, net.postgres)           # host 2 loses PostgreSQL until net.heal(2, ...)

Topology: a bridge in the root namespace holds 10.231.<k>.1 (PostgreSQL's forwarder), .2
(Redis) and .3 (the sandbox); host N is a namespace whose ``eth0`` (one end of a veth pair,
the other end on the bridge) is 10.231.<k>.(10+N)/24. A host has no default route: nothing
it sends can leave for any address outside that /24. ``k`` (1..250) is the first subnet no
other live run holds, so two runs (a test and a manual one) never share a namespace.

A cut drops one service's packets inside the host's namespace, silently, as a partition
does: ``iptables -A OUTPUT -d ADDRESS -p tcp --dport PORT -j DROP`` when iptables is
installed, else a ``blackhole`` route to that service's own address (each service has one,
so either way only that service is cut). Established connections then hang in TCP
retransmission, exactly as across a real split.

Everything made is removed on exit, on an exception or Ctrl-C (``Network.close`` is
idempotent); a run killed with SIGKILL leaves a pid file, and the next run clears what it
left (namespaces, the processes inside them, the bridge) before it picks its subnet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.common import BenchError

SUBNET_PREFIX = "10.231"
STATE_DIR = Path("/run/crmsync-netns")
NAMESPACE_PREFIX = "crmsync-"


class NetnsError(BenchError):
    """Namespaces cannot be made here (not root, no ``ip netns``...)."""


@dataclass(frozen=True)
class Service:
    """A service the hosts reach over the bridge: its own address, one TCP port."""

    name: str
    address: str
    port: int


def unavailable_reason() -> str:
    """Why this machine cannot run hosts in namespaces ('' when it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (ip netns add, veth pairs)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip (apt-get install iproute2)"
    probe = f"{NAMESPACE_PREFIX}probe-{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"ip netns add fails here: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clear(k: int) -> None:
    """Remove what run ``k`` made: processes inside its namespaces, the namespaces (their
    veth ends go with them, and so the pairs), the bridge, the pid file."""
    for name in _ip("netns", "list", check=False).stdout.split("\n"):
        ns = name.split(" ")[0]
        if not ns.startswith(f"{NAMESPACE_PREFIX}{k}h"):
            continue
        pids = _ip("netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", ns, check=False)
    _ip("link", "del", f"crmbr{k}", check=False)
    with contextlib.suppress(FileNotFoundError):
        (STATE_DIR / f"{k}.pid").unlink()


def _claim_subnet() -> int:
    """The first ``k`` free for this run; clears runs whose owner died (SIGKILL)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    for k in range(1, 251):
        pid_file = STATE_DIR / f"{k}.pid"
        try:
            fd = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(pid_file.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and _alive(owner):
                continue
            _clear(k)  # a dead run's leftovers
            try:
                fd = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue  # another run took it meanwhile
        with os.fdopen(fd, "w") as out:
            out.write(str(os.getpid()))
        if _ip("link", "show", f"crmbr{k}", check=False).returncode == 0:
            _clear(k)  # a bridge without a pid file: leftovers of an older run
            fd = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w") as out:
                out.write(str(os.getpid()))
        return k
    raise NetnsError(f"no free subnet {SUBNET_PREFIX}.1-250.0/24 (stale runs in {STATE_DIR}?)")


class Network:
    """``hosts`` namespaces on one bridge; services at .1 (PostgreSQL), .2 (Redis), .3
    (sandbox). Ports are set by the caller (``set_port``) once it knows them."""

    def __init__(self, hosts: int) -> None:
        reason = unavailable_reason()
        if reason:
            raise NetnsError(reason)
        self.hosts = hosts
        self.k = _claim_subnet()
        self.bridge = f"crmbr{self.k}"
        self.subnet = f"{SUBNET_PREFIX}.{self.k}"
        self.postgres = Service("PostgreSQL", f"{self.subnet}.1", 5432)
        self.redis = Service("Redis", f"{self.subnet}.2", 0)
        self.sandbox = Service("HubSpot", f"{self.subnet}.3", 0)
        self.use_iptables = shutil.which("iptables") is not None
        self.cuts: set[tuple[int, str]] = set()
        self.closed = False
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        for last in (1, 2, 3):
            _ip("addr", "add", f"{self.subnet}.{last}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for n in range(1, self.hosts + 1):
            ns = self.namespace(n)
            veth = f"crm{self.k}h{n}"
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.address(n)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def namespace(self, n: int) -> str:
        return f"{NAMESPACE_PREFIX}{self.k}h{n}"

    def address(self, n: int) -> str:
        return f"{self.subnet}.{10 + n}"

    def set_port(self, service: Service, port: int) -> Service:
        updated = Service(service.name, service.address, port)
        for attr in ("postgres", "redis", "sandbox"):
            if getattr(self, attr) == service:
                setattr(self, attr, updated)
        return updated

    def exec_args(self, n: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside host ``n``'s namespace (``ip netns exec`` execs, no fork)."""
        return ["ip", "netns", "exec", self.namespace(n), *argv]

    def _cut_args(self, op: str, service: Service) -> list[str]:
        if self.use_iptables:
            rule = ["OUTPUT", "-d", service.address, "-p", "tcp", "--dport", str(service.port)]
            return ["iptables", "-w", op, *rule, "-j", "DROP"]
        verb = "add" if op == "-A" else "del"
        return ["ip", "route", verb, "blackhole", f"{service.address}/32"]

    def cut(self, n: int, service: Service) -> None:
        """Host ``n`` can no longer reach ``service``: its packets are dropped."""
        if (n, service.name) in self.cuts:
            return
        self._run_in(n, self._cut_args("-A", service))
        self.cuts.add((n, service.name))

    def heal(self, n: int, service: Service) -> None:
        if (n, service.name) not in self.cuts:
            return
        self._run_in(n, self._cut_args("-D", service))
        self.cuts.discard((n, service.name))

    def how_cut(self) -> str:
        return "iptables DROP" if self.use_iptables else "blackhole route"

    def _run_in(self, n: int, argv: Sequence[str]) -> None:
        done = subprocess.run(self.exec_args(n, argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise NetnsError(f"{' '.join(argv)} in host {n}: {done.stderr.strip()}")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        _clear(self.k)

    def __enter__(self) -> Network:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
