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


def test_the_baseline_runs_the_same_hubspot_faults_for_as_long():
    """--no-host-faults used to end HubSpot's faults as soon as the edits were done (no plan
    left to wait for): a shorter, gentler run, no fair baseline for the held rows."""
    faulty = hosts.parse_args(["--quiet"])
    baseline = hosts.parse_args(["--quiet", "--no-host-faults"])
    assert baseline.plan == [] and baseline.skews == {}
    last = max(f.at + f.seconds for f in faulty.plan)
    assert baseline.hubspot_faults_until == faulty.hubspot_faults_until == last
    assert baseline.chaos == faulty.chaos  # the same rows, seed and HubSpot faults

    def over(options, now, **state):
        flags = {"pending_faults": False, "settled": False, "editing": False, **state}
        return hosts.phase_one_over(now, options, **flags)

    for options in (faulty, baseline):
        assert not over(options, last - 1)
        assert over(options, last)
        assert not over(options, last, editing=True)
        assert over(options, 5, settled=True)
    assert not over(faulty, last + 1, pending_faults=True)  # a cut not healed yet
    options, compare = hosts._parse(["--compare", "--fault", "terminate@3"])
    assert compare and options.hubspot_faults_until == 3
    assert options.without_host_faults().hubspot_faults_until == 3


def test_compare_prints_both_runs_in_one_table():
    def report(held: int, injected: list[hosts.Fault]) -> hosts.HostsReport:
        r = hosts.HostsReport(chaos.ChaosReport(held=held), skews={1: "+10m"} if injected else {})
        r.injected = [hosts.Injected(f.at, f, "done") for f in injected]
        return r

    plan = [hosts.Fault.parse("terminate@4"), hosts.Fault.parse("hubspot@6:2/20")]
    text = hosts.format_comparison(report(3, []), report(3, plan))
    lines = text.splitlines()
    assert "without host faults" in lines[0] and "with host faults" in lines[0]
    assert [line.split()[-2:] for line in lines if line.startswith("held for review")] == [
        ["3", "3"]
    ]
    assert [line.split()[-2:] for line in lines if line.startswith("host faults")] == [["0", "3"]]
    assert lines[-1] == "held rows: no more with host faults than without"
    assert hosts.format_comparison(report(3, []), report(5, plan)).endswith(
        "2 more with host faults than without"
    )


def test_the_chaos_table_counts_host_faults_beside_the_http_faults():
    plan = [hosts.Fault.parse(f) for f in hosts.DEFAULT_PLAN]
    counts = hosts.host_fault_counts(plan, skews=1)
    assert counts == {
        "clock skew": 1,
        "pg_terminate_backend": 3,
        "Redis restart": 2,
        "cut from HubSpot": 1,
        "cut from Redis": 1,
        "cut from PostgreSQL": 1,
        "SIGTERM": 2,
        "SIGKILL": 2,
    }
    report = chaos.ChaosReport(host_faults=counts)
    lines = chaos.format_report(report, cores=2).splitlines()
    faults = next(i for i, line in enumerate(lines) if line.startswith("faults injected"))
    assert lines[faults + 1].split()[:3] == ["host", "faults", "13"]
    assert "pg_terminate_backend 3, Redis restart 2, cut from HubSpot 1" in lines[faults + 1]
    # bench.chaos's own run: its SIGKILLs, in the same line of the same table
    single = chaos.ChaosReport(host_faults={"SIGKILL": 4})
    assert "clock skew 0, pg_terminate_backend 0," in chaos.format_report(single, cores=2)
    assert "SIGTERM 0, SIGKILL 4" in chaos.format_report(single, cores=2)


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
