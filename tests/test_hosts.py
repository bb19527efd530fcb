"""bench.hosts: the chaos run on hosts made as network namespaces (as root), and its parts.

The short run (2 hosts, 500 contacts, one host cut from HubSpot, the other's clock 10
minutes ahead) needs root, ``ip netns``, socat, redis-server, libfaketime and PostgreSQL; it
is skipped, saying which is missing, otherwise. Like tests/test_chaos.py it runs in child
processes against a database it creates and drops itself, never pytest-django's.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from bench import chaos, common, hosts, hosts_procs, netns


def _missing() -> str:
    reason = netns.unavailable_reason()
    if reason:
        return reason
    for tool in ("socat", "redis-server"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install {tool.replace('-server', '')})"
    if not glob.glob("/usr/lib/*/faketime/libfaketime.so.1"):
        return "needs libfaketime (apt-get install faketime)"
    return ""


MISSING = _missing()
needs_hosts = pytest.mark.skipif(bool(MISSING), reason=f"hosts in network namespaces: {MISSING}")


def test_a_fault_plan_is_read_from_its_spelling():
    assert hosts.Fault.parse("postgres@22:3/20") == hosts.Fault("postgres", 22, 3, 20)
    assert hosts.Fault.parse("terminate@4") == hosts.Fault("terminate", 4)
    assert "host 2 cut from HubSpot for 20 s" in hosts.Fault.parse("hubspot@6:2/20").describe()
    for bad in ("hubspot@6/20", "hubspot@6:2", "sigkill@3", "reboot@1", "terminate"):
        with pytest.raises(ValueError):
            hosts.Fault.parse(bad)


def test_the_default_plan_has_every_host_fault_of_the_issue():
    options = hosts.parse_args([])
    kinds = [f.kind for f in options.plan]
    assert set(kinds) == set(hosts.KINDS)
    assert kinds.count("redis-restart") == 2
    assert options.skews == {1: "+10m"} and options.hosts == 3
    assert {(f.kind, f.seconds) for f in options.plan if f.kind in ("hubspot", "postgres")} == {
        ("hubspot", 20),
        ("postgres", 20),
    }
    baseline = hosts.parse_args(["--no-host-faults"])
    assert baseline.plan == [] and baseline.skews == {}


def test_stale_and_wrong_are_told_apart_in_the_verdict():
    report = hosts.HostsReport(chaos.ChaosReport())
    report.chaos.problems = [
        chaos.Problem("wrong data", "k1", "valid", 1, "synced", "1", "synced, but not latest"),
        chaos.Problem("failed row in HubSpot", "k2", "invalid", 2, "failed", "", "records"),
    ]
    report.chaos.wrong_id = 1
    assert (report.stale, report.wrong) == (1, 2)
    assert "1 stale" in hosts.format_report(report)


@pytest.mark.skipif(not glob.glob("/usr/lib/*/faketime/libfaketime.so.1"), reason="no libfaketime")
def test_a_skewed_worker_can_sleep_and_wait():
    """libfaketime 0.9.10 with the real monotonic clock makes time.sleep fail with EINVAL;
    the shim the harness preloads for skewed hosts makes it wait on an Event instead."""
    code = (
        "import threading, time\n"
        "time.sleep(0.05); threading.Event().wait(0.05)\n"
        "print(time.time())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(hosts_procs.faketime_env("+10m"))
    before = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert 590 <= float(done.stdout) - before <= 610  # its wall clock, 10 minutes ahead
    env["PYTHONPATH"] = ""  # without the shim, time.sleep fails under this libfaketime
    unshimmed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert unshimmed.returncode != 0 and "Invalid argument" in unshimmed.stderr


@needs_hosts
def test_a_cut_drops_one_service_only_and_everything_is_removed_at_exit():
    probe = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)"
    with (
        socket.socket() as a,
        socket.socket() as b,
        pytest.raises(RuntimeError),
        netns.Network(hosts=1) as net,
    ):
        # Two listeners on the bridge (the kernel completes a connection without accept()).
        for sock, service in ((a, net.postgres), (b, net.redis)):
            sock.bind((service.address, 0))
            sock.listen(16)
        pg = net.set_port(net.postgres, a.getsockname()[1])
        redis = net.set_port(net.redis, b.getsockname()[1])

        def reaches(service):
            argv = net.exec_args(1, [sys.executable, "-c", probe, service.address])
            argv.append(str(service.port))
            return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0

        assert reaches(pg) and reaches(redis)
        net.cut(1, pg)
        assert not reaches(pg) and reaches(redis)
        net.heal(1, pg)
        assert reaches(pg)
        name = net.namespace(1)
        raise RuntimeError("the run fails: the namespaces must go all the same")
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert name not in namespaces
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"crmbr{net.k}:" not in links and f"crm{net.k}h1@" not in links


@pytest.mark.postgres
@needs_hosts
def test_two_hosts_one_cut_from_hubspot_one_clock_ahead_lose_nothing(tmp_path):
    server = os.environ["DATABASE_URL"]
    url = common.with_database(server, f"crmsync_chaos_hosts_pytest_{os.getpid()}")
    options = hosts.HostsOptions(
        hosts=2,
        plan=[hosts.Fault.parse("hubspot@1:2/6")],
        skews={1: "+10m"},
        chaos=chaos.ChaosOptions(
            contacts=500,
            workers=2,
            seed=21,
            database_url=url,
            deadline_seconds=150,
            batch_size=10,
            lease_seconds=6,
            fault_5xx_rate=0.05,
            drop_after_commit_rate=0.05,
            sandbox_rate_limit=8,
            worker_rate_limit=30,
            edits=5,
            work_dir=tmp_path,
        ),
    )
    try:
        report = hosts.run_hosts(options)
    finally:
        common.drop_database(url)
    text = f"{hosts.format_report(report)}\n{chaos.format_problems(report.chaos)}"
    print(text)
    c = report.chaos
    assert c.converged, text
    assert [i.fault.kind for i in report.injected] == ["hubspot"], text
    assert 590 <= report.measured_skews[1] <= 610, text
    assert (c.lost, c.duplicated, report.wrong, report.stale, c.stuck) == (0, 0, 0, 0, 0), text
    assert c.failed == c.failed_invalid == c.invalid, text
    assert c.synced + c.held + c.failed == c.rows, text
    # The skewed host's worker ran throughout without an error (under libfaketime without
    # the harness's sleep shim, its first time.sleep raised OSError).
    assert "Traceback" not in (tmp_path / "worker-h1-1.log").read_text(), text
