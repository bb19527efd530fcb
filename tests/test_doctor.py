"""crmsync_doctor against the sandbox: one line per check, OK / WARN / FAIL with the fix, exit 2
on FAIL, --json; read-only; never a traceback; never the token."""

from __future__ import annotations

import io
import json
import logging
import socket

import pytest
from django.core.management import call_command
from django.test import override_settings

import crmsync
from crmsync import doctor, health, heartbeats, registry
from crmsync.models import Contact, WorkerHeartbeat
from crmsync.sync.pipeline import pause_pipeline
from crmsync.testing import sandbox_settings, sync_now
from tests.factories import ContactFactory
from tests.hostapp.models import Customer

pytestmark = pytest.mark.django_db
SECRET = "pat-na1-0123456789abcdef-secret"  # a made-up token the output must hide


def doctor_run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("crmsync_doctor", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue()


def checks(*args: str) -> tuple[int, dict[str, dict]]:
    code, out = doctor_run("--json", *args)
    data = json.loads(out)
    assert data["ok"] is (code == 0)
    return code, {c["name"]: c for c in data["checks"]}


@pytest.fixture
def dated(crmsync_sandbox):
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, API_VERSION="2026-03")):
        yield crmsync_sandbox


def test_a_working_setup_is_ok_line_by_line(dated, monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: True)
    heartbeats.record(WorkerHeartbeat.Kind.WORKER, "host-a:1")
    heartbeats.record(WorkerHeartbeat.Kind.BEAT, "host-a:2")
    code, out = doctor_run()
    assert code == 0, out
    lines = out.splitlines()
    for name in ("settings", "token", "scopes", "api version", "properties", "worker", "beat"):
        assert any(line.startswith("OK") and f" {name} " in line for line in lines), (name, out)
    assert "crm.objects.contacts.read, crm.objects.contacts.write" in out
    assert "no legacy path" in out


def test_doctor_is_read_only(dated):
    ContactFactory(email="a@example.com")
    before = list(Contact.objects.values())
    doctor_run()
    assert list(Contact.objects.values()) == before
    by_endpoint = dated.stats()["requests_by_endpoint"]
    assert set(by_endpoint) <= {"list", "token_info.private_app", "properties.list"}


@pytest.mark.hubspot_sandbox(scopes=["crm.objects.contacts.read"])
def test_a_missing_write_scope_fails_with_the_fix(dated):
    code, found = checks()
    assert code == 2
    assert found["scopes"]["level"] == "FAIL"
    assert "crm.objects.contacts.write" in found["scopes"]["message"]
    assert "Add crm.objects.contacts.write" in found["scopes"]["fix"]


@pytest.mark.hubspot_sandbox(app_kind="oauth")
def test_an_oauth_token_is_described_by_the_oauth_endpoint(dated):
    _, found = checks()
    assert found["scopes"]["level"] == "OK"
    assert "OAuth access token" in found["scopes"]["message"]


def test_a_refused_token_fails_and_never_appears(crmsync_sandbox):
    raw = sandbox_settings(crmsync_sandbox, ACCESS_TOKEN=SECRET)
    with override_settings(CRMSYNC=raw):
        code, out = doctor_run()
        _, json_out = doctor_run("--json")
    assert code == 2
    assert "FAIL token" in out and "HubSpot refused the token (HTTP 401" in out
    assert "not checked" in out
    assert SECRET not in out and SECRET not in json_out


def test_unreachable_hubspot_is_a_fail_with_the_reason_not_a_traceback(crmsync_sandbox):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    raw = sandbox_settings(crmsync_sandbox, API_BASE_URL=f"http://127.0.0.1:{port}")
    with override_settings(CRMSYNC=raw):
        code, found = checks()
    assert code == 2
    assert found["token"]["level"] == "FAIL"
    assert "cannot reach HubSpot" in found["token"]["message"]


def test_legacy_v3_paths_warn_until_the_sunset(crmsync_sandbox):
    _, found = checks()
    assert found["api version"]["level"] == "OK"  # the default: 2026-03
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, API_VERSION="v3")):
        _, found = checks()
    assert found["api version"]["level"] == "WARN"
    assert "September 2027" in found["api version"]["message"]
    assert "2026-03" in found["api version"]["fix"]


def test_a_mapped_property_missing_in_hubspot_fails(dated):
    crmsync.register(Customer, properties={"email": "email", "favourite_colour": "first_name"})
    try:
        code, found = checks()
    finally:
        registry.unregister(Customer)
    assert code == 2
    assert "favourite_colour" in found["properties"]["message"]
    assert "crmsync_properties --create" in found["properties"]["fix"]


@pytest.mark.hubspot_sandbox(daily_limit=1000)
def test_the_daily_quota_comes_from_hubspots_last_answer(dated):
    ContactFactory(email="a@example.com")
    sync_now()
    # Every request before the create counts (preflight's schema reads too).
    left = 1000 - dated.stats()["requests_total"]
    _, found = checks()
    assert f"{left} of 1,000 requests left" in found["daily quota"]["message"]
    limit = crmsync.conf.get_settings().RATE_LIMIT_MAX
    assert found["rate limit"]["message"].startswith(f"{limit} requests per ")


def test_paused_pipeline_and_dead_worker_fail(dated, monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: True)
    pause_pipeline("manual", "stopped by an operator")
    code, found = checks()
    assert code == 2
    assert found["pipeline"]["level"] == "FAIL"
    assert "crmsync_resume" in found["pipeline"]["fix"]
    assert found["worker"]["level"] == "FAIL"
    assert found["beat"]["level"] == "FAIL"


def test_bad_settings_fail_the_first_check_and_the_rest_still_run(crmsync_sandbox):
    raw = sandbox_settings(crmsync_sandbox, BATCH_SIZE=500)
    with override_settings(CRMSYNC=raw):
        code, found = checks()
    assert code == 2
    assert found["settings"]["level"] == "FAIL" and "crmsync.E002" in found["settings"]["message"]
    assert "pipeline" in found


def test_a_check_that_raises_is_a_fail_naming_the_error():
    def check_boom(ctx):
        raise RuntimeError("the database went away")

    (result,) = doctor.run([check_boom])
    assert (result.name, result.level) == ("boom", "FAIL")
    assert "RuntimeError: the database went away" in result.message


@pytest.mark.hubspot_sandbox(app_kind="oauth")
def test_the_oauth_lookup_keeps_the_token_out_of_urllib3s_debug_log(dated, caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3")
    _, found = checks()
    assert found["scopes"]["level"] == "OK"
    assert "/oauth/v1/access-tokens/<token>" in caplog.text
    assert dated.token not in caplog.text


def test_doctor_writes_no_row_not_even_the_pipelines(dated):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crmsync.models import PipelineState

    assert not PipelineState.objects.exists()
    with CaptureQueriesContext(connection) as queries:
        doctor_run()
    assert not PipelineState.objects.exists()
    writes = [q["sql"] for q in queries if q["sql"].split()[0].upper() in ("UPDATE", "DELETE")]
    assert writes == []


def test_an_oauth_app_is_checked_with_the_workers_credentials(crmsync_sandbox):
    """With OAUTH_CLIENT_ID/SECRET/REFRESH_TOKEN and no ACCESS_TOKEN, the doctor gets an
    access token as the workers do and checks it (token accepted, its scopes); the secret
    and the refresh token never show."""
    raw = sandbox_settings(
        crmsync_sandbox,
        ACCESS_TOKEN="",
        OAUTH_CLIENT_ID="sandbox-client-id",
        OAUTH_CLIENT_SECRET="sandbox-client-secret",
        OAUTH_REFRESH_TOKEN="sandbox-refresh-token",
        REDIS_URL="",
    )
    with override_settings(CRMSYNC=raw):
        code, out = doctor_run("--json")
    found = {c["name"]: c for c in json.loads(out)["checks"]}
    assert found["token"]["level"] == "OK", found["token"]
    assert "OAuth" in found["token"]["message"]
    assert found["scopes"]["level"] == "OK", found["scopes"]
    assert "OAuth access token" in found["scopes"]["message"]
    assert "sandbox-client-secret" not in out and "sandbox-refresh-token" not in out
    with override_settings(CRMSYNC={**raw, "OAUTH_REFRESH_TOKEN": "revoked-refresh-token"}):
        code, out = doctor_run("--json")
    found = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 2 and found["token"]["level"] == "FAIL", found["token"]
    assert "grant" in found["token"]["message"] and "OAUTH_REFRESH_TOKEN" in found["token"]["fix"]
    assert "revoked-refresh-token" not in out


@pytest.mark.parametrize("mode", ["create", "upsert"])
def test_the_key_property_is_checked_whenever_one_is_set(crmsync_sandbox, mode):
    conf = sandbox_settings(
        crmsync_sandbox, API_VERSION="2026-03", WRITE_MODE=mode, UNIQUE_PROPERTY="crmsync_id"
    )
    with override_settings(CRMSYNC=conf):
        code, found = checks()
        assert code == 2
        assert "crmsync_id does not exist" in found["key property"]["message"]
        assert "crmsync_unique_property crmsync_id --create" in found["key property"]["fix"]
        call_command("crmsync_unique_property", "crmsync_id", "--create", stdout=io.StringIO())
        found = checks()[1]
        assert found["key property"]["level"] == "OK", found["key property"]
        assert f"({mode} mode)" in found["key property"]["message"]
