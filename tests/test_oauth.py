"""OAuth 2.0 with refresh beside static tokens (crmsync.credentials), against the sandbox's
token endpoint over real HTTP, and the date-versioned paths crmsync uses by default."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import uuid

import pytest
import redis
import requests
from django.core.management import call_command
from django.urls import reverse

from crmsync import runtime, services
from crmsync.client import HubSpotClient
from crmsync.conf import CrmSyncSettings, get_settings, validate
from crmsync.credentials import (
    LocalTokenStore,
    OAuthGrantError,
    OAuthTokens,
    RedisTokenStore,
    build_credentials,
    token_path,
)
from crmsync.models import PipelineState, SyncBatch, SyncStatus
from tests.conftest import REDIS_URL
from tests.factories import ContactFactory

SECRET = "sandbox-client-secret"
REFRESH = "sandbox-refresh-token"


def oauth_settings(crmsync_settings, **extra):
    return {
        **crmsync_settings,
        "ACCESS_TOKEN": "",
        "OAUTH_CLIENT_ID": "sandbox-client-id",
        "OAUTH_CLIENT_SECRET": SECRET,
        "OAUTH_REFRESH_TOKEN": REFRESH,
        **extra,
    }


def tokens(sandbox, store=None, margin=300.0, version="2026-03") -> OAuthTokens:
    return OAuthTokens(
        token_url=sandbox.url + token_path(version),
        client_id="sandbox-client-id",
        client_secret=SECRET,
        refresh_token=REFRESH,
        store=store or LocalTokenStore(),
        margin_seconds=margin,
        timeout=2.0,
    )


def client_with(sandbox, credentials) -> HubSpotClient:
    return HubSpotClient(base_url=sandbox.url, credentials=credentials, timeout=2.0)


# -- the sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/2026-03/token", "/oauth/v1/token"])
def test_the_sandbox_token_endpoint_answers_as_hubspot(hubspot_sandbox, path):
    form = {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client-id",
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }
    answer = requests.post(hubspot_sandbox.url + path, data=form, timeout=2)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert body["expires_in"] == 1800 and body["token_type"] == "bearer"
    contacts = requests.get(
        hubspot_sandbox.url + "/crm/objects/2026-03/contacts?limit=1",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=2,
    )
    assert contacts.status_code == 200
    hubspot_sandbox.revoke_refresh_token(REFRESH)
    refused = requests.post(hubspot_sandbox.url + path, data=form, timeout=2)
    assert refused.status_code == 400
    assert refused.json()["status"] == "BAD_REFRESH_TOKEN"
    assert refused.json()["error"] == "invalid_grant"
    assert hubspot_sandbox.stats()["oauth_refreshes"] == 1


@pytest.mark.hubspot_sandbox(oauth_token_seconds=0.3)
def test_the_sandbox_refuses_an_expired_token_with_hubspots_answer(hubspot_sandbox):
    source = tokens(hubspot_sandbox, margin=0)
    bearer = source.bearer().header()
    url = hubspot_sandbox.url + "/crm/objects/2026-03/contacts?limit=1"
    assert requests.get(url, headers={"Authorization": bearer}, timeout=2).status_code == 200
    time.sleep(1.4)
    answer = requests.get(url, headers={"Authorization": bearer}, timeout=2)
    assert answer.status_code == 401
    assert answer.json()["category"] == "EXPIRED_AUTHENTICATION"
    match = re.fullmatch(
        r"The OAuth token used to make this call expired (\d+) second\(s\) ago\.",
        answer.json()["message"],
    )
    assert match and int(match.group(1)) >= 2  # 1.1 s and more, rounded up


# -- refresh before expiry, and after a 401 ------------------------------------------------------


@pytest.mark.hubspot_sandbox(oauth_token_seconds=1.2)
def test_the_token_is_refreshed_before_it_expires(hubspot_sandbox):
    client = client_with(hubspot_sandbox, tokens(hubspot_sandbox, margin=300))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        client.probe()
        time.sleep(0.05)
    stats = hubspot_sandbox.stats()
    # The margin is a quarter of the 1.2 s lifetime: a refresh every 0.9 s, each before the
    # token it replaces expired.
    assert stats["oauth_expired_rejected"] == 0
    assert stats["oauth_late_refreshes"] == 0
    assert 3 <= stats["oauth_refreshes"] <= 5
    assert client.credentials.refreshes == stats["oauth_refreshes"]


@pytest.mark.hubspot_sandbox(oauth_refresh_invalidates=True)
def test_a_401_expired_refreshes_once_and_resends_the_request(hubspot_sandbox, caplog):
    source = tokens(hubspot_sandbox)
    client = client_with(hubspot_sandbox, source)
    client.probe()  # our first token
    # Another installation of the app refreshes: HubSpot ends our token at once.
    other = tokens(hubspot_sandbox)
    other.bearer()
    caplog.set_level(logging.DEBUG)
    answer = client.batch_create([{"properties": {"email": "resent@example.com"}}])
    assert answer.http_status == 201
    stats = hubspot_sandbox.stats()
    assert stats["oauth_expired_rejected"] == 1
    assert stats["oauth_refreshes"] == 3 and source.refreshes == 2
    assert stats["requests_by_endpoint"]["create"] == {"401": 1, "201": 1}
    assert hubspot_sandbox.contact_by_email("resent@example.com") is not None


def test_a_static_token_is_not_resent_after_a_401(hubspot_sandbox):
    client = HubSpotClient(base_url=hubspot_sandbox.url, access_token="wrong", timeout=2.0)
    with pytest.raises(Exception, match="Authentication credentials not found"):
        client.probe()
    assert hubspot_sandbox.stats()["requests_by_status"] == {"401": 1}


@pytest.mark.hubspot_sandbox(oauth_rotate_refresh_token=True, oauth_token_seconds=0.4)
def test_a_new_refresh_token_from_hubspot_is_used(hubspot_sandbox):
    source = tokens(hubspot_sandbox, margin=0.1)
    client = client_with(hubspot_sandbox, source)
    for _ in range(3):
        client.probe()
        time.sleep(0.45)
    client.probe()
    # Each refresh revoked the one before: three refreshes work only with the new tokens.
    assert source.refreshes == 4
    assert hubspot_sandbox.stats()["oauth_bad_grants"] == 0


# -- one refresher across workers ------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.hubspot_sandbox(
    oauth_token_seconds=1.0, oauth_refresh_invalidates=True, rate_limit_max=100_000
)
def test_many_workers_sharing_redis_refresh_once_per_expiry(hubspot_sandbox):
    """Six workers, each with its own credentials (as on six hosts), one Redis key."""
    connection = redis.Redis.from_url(REDIS_URL)
    key = f"crmsync-test:oauth:{uuid.uuid4().hex}"
    workers = [tokens(hubspot_sandbox, RedisTokenStore(connection, key)) for _ in range(6)]
    clients = [client_with(hubspot_sandbox, w) for w in workers]
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def work(client: HubSpotClient) -> None:
        try:
            while time.monotonic() < stop:
                client.probe()
                seen.add(client.credentials.bearer().header())
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.delete(key, f"{key}:lock", f"{key}:refresh")
    assert not errors
    refreshes = hubspot_sandbox.stats()["oauth_refreshes"]
    # A refresh every 0.75 s (the margin is a quarter of the lifetime) over 3 s: 4 or 5
    # expiries, one refresh each, whoever made it. Six refreshers would make 20 or more.
    assert 4 <= refreshes <= 5
    assert sum(w.refreshes for w in workers) == refreshes
    assert len(seen) == refreshes
    assert hubspot_sandbox.stats()["oauth_early_refreshes"] == 0


_PROCESS = """
import sys, time
import redis
from crmsync.client import HubSpotClient
from crmsync.credentials import OAuthTokens, RedisTokenStore
url, redis_url, key, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
source = OAuthTokens(token_url=url + "/oauth/2026-03/token", client_id="sandbox-client-id",
    client_secret="sandbox-client-secret", refresh_token="sandbox-refresh-token",
    store=RedisTokenStore(redis.Redis.from_url(redis_url), key), timeout=2.0)
client = HubSpotClient(base_url=url, credentials=source, timeout=2.0)
time.sleep(max(start - time.time(), 0))
while time.time() < start + 3.0:
    client.probe()
    time.sleep(0.01)
print(source.refreshes)
"""


@pytest.mark.redis
@pytest.mark.hubspot_sandbox(
    oauth_token_seconds=1.0, oauth_refresh_invalidates=True, rate_limit_max=100_000
)
def test_three_processes_sharing_redis_refresh_once_per_expiry(hubspot_sandbox):
    import subprocess
    import sys

    key = f"crmsync-test:oauth:{uuid.uuid4().hex}"
    start = str(time.time() + 1.5)  # every process started and waiting
    args = [hubspot_sandbox.url, REDIS_URL, key, start]
    procs = [
        subprocess.Popen([sys.executable, "-c", _PROCESS, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=30)[0] for p in procs]
    redis.Redis.from_url(REDIS_URL).delete(key, f"{key}:lock", f"{key}:refresh")
    assert [p.returncode for p in procs] == [0, 0, 0]
    stats = hubspot_sandbox.stats()
    assert sum(int(out) for out in outputs) == stats["oauth_refreshes"]
    assert 4 <= stats["oauth_refreshes"] <= 5  # one per 0.75 s over 3 s
    # (A process still on the ended token meets a 401 and takes the new one: not a refresh.)
    assert stats["oauth_early_refreshes"] == stats["oauth_late_refreshes"] == 0


# Hosts share a server database; SQLite's in-memory test database, shared between threads,
# answers "table is locked" instead of waiting for the row lock.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.hubspot_sandbox(
    oauth_token_seconds=1.0, oauth_refresh_invalidates=True, rate_limit_max=100_000
)
def test_without_redis_the_database_shares_the_token_and_the_lock(hubspot_sandbox):
    """Four workers with their own database connections (as on four hosts), no Redis."""
    from django.db import connection

    from crmsync.credentials.database import DatabaseTokenStore

    key = f"crmsync-test:oauth:{uuid.uuid4().hex}"
    workers = [tokens(hubspot_sandbox, DatabaseTokenStore(key)) for _ in range(4)]
    errors: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def work(client: HubSpotClient) -> None:
        try:
            while time.monotonic() < stop:
                client.probe()
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(client_with(hubspot_sandbox, w),)) for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    refreshes = hubspot_sandbox.stats()["oauth_refreshes"]
    assert 4 <= refreshes <= 5  # as with Redis: one per expiry, whoever made it
    assert hubspot_sandbox.stats()["oauth_early_refreshes"] == 0
    assert sum(w.refreshes for w in workers) == refreshes


# -- the pipeline ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.hubspot_sandbox(oauth_token_seconds=0.6)
def test_a_sync_with_oauth_tokens_expiring_under_it_fails_no_row(crmsync_settings, settings):
    settings.CRMSYNC = oauth_settings(crmsync_settings, BATCH_SIZE=5)
    rows = ContactFactory.create_batch(30)
    synced = 0
    for _ in range(6):
        synced += services.sync_pending().synced
        time.sleep(0.25)
    assert synced == 30
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED and row.sync_attempts == 0


@pytest.mark.django_db
@pytest.mark.hubspot_sandbox(oauth_refresh_invalidates=True)
def test_a_401_expired_mid_run_is_resent_and_is_no_attempt(
    crmsync_settings, settings, hubspot_sandbox
):
    settings.CRMSYNC = oauth_settings(crmsync_settings)
    ContactFactory()
    assert services.sync_pending().synced == 1  # the workers' token
    tokens(hubspot_sandbox).bearer()  # another installation refreshes: ours ends at once
    rows = ContactFactory.create_batch(3)
    assert services.sync_pending().synced == 3
    assert hubspot_sandbox.stats()["requests_by_endpoint"]["create"] == {"201": 2, "401": 1}
    assert SyncBatch.objects.count() == 2  # the resend is the same request, not another batch
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED and row.sync_attempts == 0
    assert not PipelineState.objects.filter(paused=True).exists()


@pytest.mark.django_db
def test_a_revoked_grant_pauses_the_pipeline_with_a_clear_reason(
    crmsync_settings, settings, hubspot_sandbox, caplog, admin_client
):
    settings.CRMSYNC = oauth_settings(crmsync_settings)
    hubspot_sandbox.revoke_refresh_token()
    rows = ContactFactory.create_batch(3)
    caplog.set_level(logging.DEBUG)
    summary = services.sync_pending()
    assert summary.stopped_reason.startswith("paused")
    state = PipelineState.objects.get(pk=1)
    assert state.paused and state.reason == PipelineState.Reason.AUTH
    assert "BAD_REFRESH_TOKEN" in state.message
    assert "CRMSYNC['OAUTH_REFRESH_TOKEN'] is revoked or invalid" in state.message
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and row.sync_attempts == 0
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("crmsync_status", stdout=out)
    assert "OAUTH_REFRESH_TOKEN" in out.getvalue()
    admin = admin_client.get(reverse("admin:crmsync_dashboard")).content.decode()
    assert "BAD_REFRESH_TOKEN" in admin
    for text in (state.message, caplog.text, out.getvalue(), admin):
        assert SECRET not in text and REFRESH not in text.replace("OAUTH_REFRESH_TOKEN", "")


def test_no_secret_in_any_repr_exception_or_log(hubspot_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    source = tokens(hubspot_sandbox)
    client = client_with(hubspot_sandbox, source)
    client.probe()
    access = source.bearer().header().removeprefix("Bearer ")
    hubspot_sandbox.revoke_refresh_token()
    source._local = None
    source._store = LocalTokenStore()
    with pytest.raises(OAuthGrantError) as info:
        client.probe()
    conf = CrmSyncSettings(OAUTH_CLIENT_SECRET=SECRET, OAUTH_REFRESH_TOKEN=REFRESH)
    texts = [str(info.value), repr(info.value), repr(source), str(source), repr(client)]
    texts += [repr(conf), repr(source.bearer), caplog.text, str(info.value.body)]
    texts += [f"{name}={v!r}" for tb in _frames(info) for name, v in tb.items()]
    for text in texts:
        for secret in (SECRET, REFRESH, access):
            assert secret not in text, text


def _frames(info: pytest.ExceptionInfo) -> list[dict]:
    out, tb = [], info.tb.tb_next  # the frames below this test's own
    while tb is not None:
        out.append(dict(tb.tb_frame.f_locals))
        tb = tb.tb_next
    return out


def test_a_bad_oauth_value_is_never_echoed_by_the_checks():
    problems = validate({"OAUTH_CLIENT_SECRET": 12345678, "OAUTH_REFRESH_TOKEN": ["r-secret"]})
    text = " ".join(p.message for p in problems)
    assert "12345678" not in text and "r-secret" not in text


# -- settings and paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "s"}, ("crmsync.E050", "error")),
        (
            {
                "ACCESS_TOKEN": "t",
                "OAUTH_CLIENT_ID": "i",
                "OAUTH_CLIENT_SECRET": "s",
                "OAUTH_REFRESH_TOKEN": "r",
            },
            ("crmsync.E051", "error"),
        ),
        ({"ACCESS_TOKEN": "t", "OAUTH_REFRESH_MARGIN_SECONDS": -1.0}, ("crmsync.E052", "error")),
        ({"ACCESS_TOKEN": "t", "API_VERSION": "v3"}, ("crmsync.W003", "warning")),
    ],
)
def test_credential_and_version_checks(raw, expected):
    found = {(p.id, p.level) for p in validate(raw)}
    assert expected in found


def test_oauth_alone_needs_no_access_token():
    raw = {"OAUTH_CLIENT_ID": "i", "OAUTH_CLIENT_SECRET": "s", "OAUTH_REFRESH_TOKEN": "r"}
    assert validate(raw) == []


def test_date_versioned_paths_are_the_default(settings):
    settings.CRMSYNC = {"ACCESS_TOKEN": "t"}
    conf = get_settings()
    assert conf.API_VERSION == "2026-03"
    client = HubSpotClient(base_url="http://127.0.0.1:1", access_token="t")
    assert client.objects_path() == "/crm/objects/2026-03/contacts"
    assert client.properties_path() == "/crm/properties/2026-03/contacts"
    assert client.associations_path() == "/crm/associations/2026-03/contacts/companies"
    assert token_path(conf.API_VERSION) == "/oauth/2026-03/token"
    assert token_path("v3") == "/oauth/v1/token"


@pytest.mark.django_db
def test_a_sync_by_default_calls_the_date_versioned_path(crmsync_settings, settings):
    settings.CRMSYNC = {k: v for k, v in crmsync_settings.items() if k != "API_VERSION"}
    ContactFactory()
    assert services.sync_pending().synced == 1
    assert SyncBatch.objects.get().path == "/crm/objects/2026-03/contacts/batch/create"


@pytest.mark.django_db
def test_the_legacy_v3_paths_still_work(crmsync_settings, settings):
    settings.CRMSYNC = {**crmsync_settings, "API_VERSION": "v3"}
    ContactFactory()
    assert services.sync_pending().synced == 1
    assert SyncBatch.objects.get().path == "/crm/v3/objects/contacts/batch/create"


def test_the_runtime_builds_oauth_credentials_from_the_settings(crmsync_settings, settings):
    settings.CRMSYNC = oauth_settings(crmsync_settings)
    client = runtime.get_client()
    assert isinstance(client.credentials, OAuthTokens)
    assert "Authorization" not in client.session.headers
    conf = get_settings()
    assert isinstance(build_credentials(conf, None), OAuthTokens)


def test_the_project_reads_the_oauth_settings_from_the_environment():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; "
        "django.setup(); from django.conf import settings; "
        "from crmsync.conf import get_settings as g, validate; s=g(); "
        "print(s.OAUTH_CLIENT_ID, s.OAUTH_CLIENT_SECRET, s.OAUTH_REFRESH_TOKEN, "
        "[p.id for p in validate(settings.CRMSYNC)])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "HUBSPOT_"))}
    env.update(
        {
            "CRMSYNC_OAUTH_CLIENT_ID": "an-id",
            "CRMSYNC_OAUTH_CLIENT_SECRET": "a-secret",
            "CRMSYNC_OAUTH_REFRESH_TOKEN": "a-refresh-token",
        }
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["an-id", "a-secret", "a-refresh-token", "[]"]
