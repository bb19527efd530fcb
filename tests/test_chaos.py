"""The chaos harness (bench.chaos) at a small size, and its verdict on made-up outcomes.

The harness runs in child processes against a database of its own, which this test creates
and drops: it neither uses pytest-django's test database nor asks for it (no ``django_db``).
"""

from __future__ import annotations

import os

import pytest

from bench import chaos, chaos_oauth, common


def planned(key, kind="valid", email="", invalid_reason=""):
    fields = {"email": email, "firstname": "Ada", "lastname": f"Row {key}", "properties": {}}
    return chaos.PlannedRow(key, kind, fields, invalid_reason)


def local(db_id, key, status, hubspot_id="", email=""):
    return {
        "id": db_id,
        "email": email,
        "firstname": "Ada",
        "lastname": f"Row {key}",
        "version": 1,
        "synced_version": 1 if status == chaos.SYNCED else 0,
        "sync_status": status,
        "hubspot_id": hubspot_id,
        "sync_error": "",
        "properties": {chaos.ROW_ID_PROPERTY: key},
    }


def remote(record_id, key="", email="", firstname="Ada", lastname=None):
    props = {"email": email or None, "firstname": firstname, "lastname": lastname or f"Row {key}"}
    if key:
        props[chaos.ROW_ID_PROPERTY] = key
    return {"id": record_id, "archived": False, "properties": props}


def test_the_verdict_counts_every_kind_of_damage():
    rows = [
        planned("ok", email="ok@x.com"),
        planned("wrong", email="wrong@x.com"),
        planned("twice"),  # no email, created twice
        planned("waiting", email="waiting@x.com"),
        planned("gave-up", email="gave-up@x.com"),
        planned("bad", kind="invalid", email="bad@", invalid_reason="invalid email"),
        planned("unsure"),  # no email, held, created once
        planned("gone", email="gone@x.com"),  # synced to an id HubSpot does not hold
        planned("vanished", email="vanished@x.com"),  # no longer in the database
        planned("changed", email="changed@x.com"),
    ]
    contacts = [
        local(1, "ok", chaos.SYNCED, "101", "ok@x.com"),
        local(2, "wrong", chaos.SYNCED, "101", "wrong@x.com"),
        local(3, "twice", chaos.SYNCED, "103"),
        local(4, "waiting", chaos.IN_FLIGHT, email="waiting@x.com"),
        local(5, "gave-up", chaos.FAILED, email="gave-up@x.com"),
        local(6, "bad", chaos.FAILED),
        local(7, "unsure", chaos.HELD),
        local(8, "gone", chaos.SYNCED, "999", "gone@x.com"),
        local(10, "changed", chaos.SYNCED, "110", "changed@x.com"),
    ]
    records = [
        remote("101", "ok", "ok@x.com"),
        remote("102", "wrong", "wrong@x.com"),
        remote("103", "twice"),
        remote("104", "twice"),
        remote("107", "unsure"),
        remote("110", "changed", "changed@x.com", firstname="Grace"),
        remote("111", "stray", "stray@x.com"),
    ]
    report = chaos.ChaosReport()
    chaos.analyse(report, rows, contacts, records)

    problems = {(p.what, p.key) for p in report.problems}
    assert report.duplicated == 1 and ("duplicated", "twice") in problems
    assert report.wrong_id == 1 and ("wrong id", "wrong") in problems
    assert report.stuck == 1 and ("stuck", "waiting") in problems
    assert report.lost == 3
    assert {("lost", "gave-up"), ("lost", "gone"), ("lost", "vanished")} <= problems
    assert report.wrong_data == 1 and ("wrong data", "changed") in problems
    # 102 (the record "wrong" should have pointed to) and 111 are pointed at by no row.
    assert report.orphans == 2
    assert (report.failed, report.failed_invalid, report.invalid) == (2, 1, 1)
    assert (report.held, report.held_in_hubspot) == (1, 1)
    assert not report.ok
    assert "NOT OK: 1 valid rows failed" in chaos.format_report(report, cores=2)


def test_a_failed_invalid_row_in_hubspot_is_wrong_unless_it_points_at_its_record():
    """An upserted contact whose association then fails is written in HubSpot: the row may
    fail holding that record's id (a re-queue updates it); not holding it is the damage."""
    rows = [
        planned("kept", kind="invalid", invalid_reason="association to a missing company"),
        planned("lost-id", kind="invalid", invalid_reason="association to a missing company"),
    ]
    contacts = [local(1, "kept", chaos.FAILED, "201"), local(2, "lost-id", chaos.FAILED)]
    records = [remote("201", "kept"), remote("202", "lost-id")]
    report = chaos.ChaosReport()
    chaos.analyse(report, rows, contacts, records)
    problems = {(p.what, p.key) for p in report.problems}
    assert problems == {("failed row in HubSpot", "lost-id")}
    assert report.wrong_data == 1 and report.orphans == 0


def test_the_harness_refuses_sqlite():
    with pytest.raises(chaos.ChaosError, match="needs PostgreSQL"):
        chaos.check_postgres_url("sqlite:///db.sqlite3")


@pytest.mark.postgres
def test_workers_killed_at_random_lose_duplicate_and_corrupt_nothing(tmp_path):
    server = os.environ["DATABASE_URL"]
    url = common.with_database(server, f"crmsync_chaos_pytest_{os.getpid()}")
    options = chaos.ChaosOptions(
        contacts=400,
        workers=3,
        seed=11,
        database_url=url,
        # Without Redis every worker paces itself alone; the run is just as valid.
        redis_url=os.environ.get("REDIS_URL", ""),
        kill_seconds=60,
        # Each kill costs a fresh worker's Django start-up: a few, not dozens.
        kill_interval=(1.0, 2.5),
        # Generous: a loaded 2-core machine is slow, and nothing here is about speed.
        deadline_seconds=240,
        batch_size=10,
        lease_seconds=6,
        # Fewer requests than the full run: more of them go wrong, so that unknown outcomes
        # and their reconciliation happen at this size too.
        fault_5xx_rate=0.05,
        drop_after_commit_rate=0.06,
        slow_after_commit_rate=0.04,
        sandbox_rate_limit=8,
        worker_rate_limit=30,
        # Concurrent edits (1 % of rows, emails included) while workers are killed.
        edits=None,
        work_dir=tmp_path,
    )
    try:
        report = chaos.run_chaos(options)
    finally:
        common.drop_database(url)
    text = f"{chaos.format_report(report)}\n{chaos.format_problems(report)}"
    print(text)
    assert report.converged, text
    assert report.workers_killed >= 2, text
    assert report.faults_total > 0, text
    assert (report.lost, report.duplicated, report.wrong_id, report.stuck) == (0, 0, 0, 0), text
    assert (report.wrong_data, report.orphans) == (0, 0), text
    assert report.failed == report.failed_invalid == report.invalid, text
    assert report.synced + report.held + report.failed == report.rows, text


@pytest.mark.postgres
def test_contacts_merged_in_hubspot_mid_run_are_relinked(tmp_path):
    """bench.chaos_merges: 12 rows' records merged into new contacts while workers are killed
    and faults fly (lookups' answers dropped too): every one ends synced to its survivor,
    nothing lost or duplicated."""
    server = os.environ["DATABASE_URL"]
    url = common.with_database(server, f"crmsync_chaos_merges_{os.getpid()}")
    options = chaos.ChaosOptions(
        contacts=200,
        workers=2,
        seed=5,
        database_url=url,
        redis_url=os.environ.get("REDIS_URL", ""),
        kill_seconds=40,
        kill_interval=(2.0, 4.0),
        deadline_seconds=240,
        batch_size=10,
        lease_seconds=6,
        fault_5xx_rate=0.05,
        drop_after_commit_rate=0.05,
        slow_after_commit_rate=0.03,
        sandbox_rate_limit=10,
        worker_rate_limit=30,
        merges=12,
        work_dir=tmp_path,
    )
    try:
        report = chaos.run_chaos(options)
    finally:
        common.drop_database(url)
    text = f"{chaos.format_report(report)}\n{chaos.format_problems(report)}"
    print(text)
    assert report.converged, text
    assert report.merged == 12, text
    assert report.not_relinked == 0, text
    assert (report.lost, report.duplicated, report.wrong_id, report.stuck) == (0, 0, 0, 0), text
    assert (report.wrong_data, report.orphans) == (0, 0), text
    assert report.ok, text


def test_the_verdict_counts_merged_rows_not_relinked():
    from bench import chaos_merges

    merged = {"a": ("101", "201"), "b": ("102", "202"), "c": ("103", "203")}
    contacts = [
        {**local(1, "a", chaos.SYNCED, "201"), "sync_error": ""},
        {**local(2, "b", chaos.FAILED, "102"), "sync_error": "OBJECT_NOT_FOUND"},
    ]
    problems = chaos_merges.check(merged, contacts)
    assert [p[0] for p in problems] == ["b", "c"]
    assert "merged from 102 into 202" in problems[0][4]


def test_write_modes_side_by_side():
    reports = []
    for mode, held in (("create", 4), ("upsert", 0)):
        report = chaos.ChaosReport(write_mode=mode, held=held, kinds={"no_email": 30})
        reports.append(report)
    text = chaos.format_modes(reports)
    assert "30 rows without email" in text
    held_line = next(line for line in text.splitlines() if line.startswith("held"))
    assert held_line.split()[-2:] == ["4", "0"]


@pytest.mark.postgres
def test_upsert_mode_holds_nothing_and_duplicates_nothing_under_dropped_answers(tmp_path):
    """Contacts without email whose answers are dropped after HubSpot wrote them: create mode
    holds some for an operator; upsert mode sends them again, and none is held or duplicated."""
    server = os.environ["DATABASE_URL"]
    reports = {}
    for mode in ("create", "upsert"):
        url = common.with_database(server, f"crmsync_chaos_pytest_{mode}_{os.getpid()}")
        options = chaos.ChaosOptions(
            contacts=80,
            workers=2,
            seed=5,
            write_mode=mode,
            database_url=url,
            redis_url=os.environ.get("REDIS_URL", ""),
            kill_seconds=8,
            kill_interval=(2.0, 4.0),
            deadline_seconds=180,
            batch_size=4,
            lease_seconds=6,
            no_email_share=0.5,
            drop_after_commit_rate=0.3,
            fault_5xx_rate=0.0,
            fault_423_rate=0.0,
            slow_after_commit_rate=0.0,
            sandbox_rate_limit=20,
            neighbour=False,
            edits=0,
            work_dir=tmp_path / mode,
        )
        try:
            reports[mode] = chaos.run_chaos(options)
        finally:
            common.drop_database(url)
    text = chaos.format_modes(list(reports.values()))
    print(text)
    upsert, create = reports["upsert"], reports["create"]
    assert upsert.converged and upsert.kinds["no_email"] >= 40, text
    assert upsert.faults["drop after commit"] > 0, text
    assert (upsert.held, upsert.duplicated, upsert.lost, upsert.stuck) == (0, 0, 0, 0), text
    assert (upsert.wrong_id, upsert.wrong_data, upsert.orphans) == (0, 0, 0), text
    assert create.held > 0, text  # what upsert mode saves: rows an operator must check


@pytest.mark.postgres
@pytest.mark.redis
def test_oauth_tokens_expiring_every_few_seconds_fail_no_row_and_refresh_once(tmp_path):
    """3 workers (killed at random) on OAuth tokens that live 3 s, each refresh ending the
    previous token: no row fails for it, and each expiry is refreshed once, by one worker."""
    server = os.environ["DATABASE_URL"]
    url = common.with_database(server, f"crmsync_chaos_oauth_pytest_{os.getpid()}")
    options = chaos.ChaosOptions(
        contacts=200,
        workers=3,
        seed=12,
        database_url=url,
        redis_url=os.environ["REDIS_URL"],
        kill_seconds=20,
        kill_interval=(2.0, 4.0),
        deadline_seconds=240,
        batch_size=10,
        lease_seconds=6,
        sandbox_rate_limit=8,
        worker_rate_limit=30,
        edits=0,
        oauth_token_seconds=3.0,
        work_dir=tmp_path,
    )
    try:
        report = chaos.run_chaos(options)
    finally:
        common.drop_database(url)
    text = f"{chaos.format_report(report)}\n{chaos.format_problems(report)}"
    print(text)
    assert report.converged, text
    assert (report.lost, report.duplicated, report.wrong_id, report.stuck) == (0, 0, 0, 0), text
    assert report.failed == report.failed_invalid == report.invalid, text
    in_use = report.oauth["oauth_milliseconds_in_use"] / 1000
    assert report.oauth["oauth_refreshes"] >= 3, text  # the run outlived several tokens
    assert report.oauth["oauth_early_refreshes"] == 0, text  # no expiry refreshed twice
    # One refresh per token needed (a worker killed between HubSpot's answer and Redis may
    # cost one more: the next refresher cannot know of a token it never saw).
    assert report.oauth["oauth_refreshes"] <= chaos_oauth.expiries(in_use, 3.0) + 1, text
