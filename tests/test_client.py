"""The HTTP client against the sandbox over real HTTP: no database, no models."""

from __future__ import annotations

import logging
import socket

import pytest
import requests
from django.views.debug import ExceptionReporter

from crmsync import exceptions as exc
from crmsync.client import USER_AGENT, HubSpotClient, read_by_email_body


def make_client(sandbox, **kw) -> HubSpotClient:
    options = {"base_url": sandbox.url, "access_token": sandbox.token, "timeout": 2.0}
    options.update(kw)
    return HubSpotClient(**options)


def test_batch_create_returns_plain_data(hubspot_sandbox):
    client = make_client(hubspot_sandbox)
    answer = client.batch_create(
        [{"properties": {"email": "a@example.com"}, "objectWriteTraceId": "t1"}]
    )
    assert answer.http_status == 201
    assert answer.status == "COMPLETE"
    assert answer.results[0]["id"]
    assert answer.correlation_id
    assert answer.started_at and answer.completed_at


def test_date_versioned_paths(hubspot_sandbox):
    client = make_client(hubspot_sandbox, api_version="2026-03")
    answer = client.batch_create(
        [{"properties": {"email": "v@example.com"}, "objectWriteTraceId": "t"}]
    )
    assert answer.http_status == 201
    assert any(p["name"] == "email" for p in client.get_properties())


def test_a_configuration_error_is_outside_the_api_tree():
    # No retry loop that catches HubSpotError may swallow a bad setting; the settings are
    # checked once, by crmsync.conf (tests/test_settings.py), before a client is built.
    assert not issubclass(exc.ConfigurationError, exc.HubSpotError)
    assert issubclass(exc.EndpointNotFoundError, exc.ConfigurationError)


def test_a_404_for_the_whole_request_names_the_settings_to_fix(hubspot_sandbox):
    client = make_client(hubspot_sandbox, api_version="2099-01")
    with pytest.raises(exc.EndpointNotFoundError) as info:
        client.batch_create([{"properties": {"email": "a@example.com"}, "associations": []}])
    assert info.value.status == 404
    assert "/crm/objects/2099-01/contacts/batch/create" in str(info.value)
    assert "CRMSYNC['API_VERSION']" in str(info.value)


# A module constant, not a local: the test's own frame is part of the traceback it walks.
SECRET_TOKEN = "pat-na1-0b5e1f7c-secret-in-no-frame"


def _assert_token_in_no_frame(info: pytest.ExceptionInfo) -> None:
    tb = info.tb
    frames = 0
    while tb is not None:
        for name, value in tb.tb_frame.f_locals.items():
            assert SECRET_TOKEN not in repr(value), f"{tb.tb_frame.f_code.co_name}: {name}"
        frames += 1
        tb = tb.tb_next
    assert frames >= 2  # this test's frame and the client's constructor at least
    reporter = ExceptionReporter(None, info.type, info.value, info.tb)
    assert SECRET_TOKEN not in reporter.get_traceback_text()
    page = reporter.get_traceback_html()  # the debug page: it shows every frame's locals
    assert "&lt;redacted&gt;" in page
    assert SECRET_TOKEN not in page


def test_a_client_built_from_settings_leaves_the_token_in_no_frame(monkeypatch):
    from crmsync import runtime
    from crmsync.conf import CrmSyncSettings

    def broken(*_args, **_kwargs):
        raise RuntimeError("environment unreadable")

    monkeypatch.setattr(requests.utils, "get_environ_proxies", broken)
    conf = CrmSyncSettings(ACCESS_TOKEN=SECRET_TOKEN, API_BASE_URL="http://127.0.0.1:1")
    with pytest.raises(RuntimeError) as info:
        runtime.get_client(conf)
    _assert_token_in_no_frame(info)


def test_any_error_in_the_constructor_leaves_the_token_in_no_frame(monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("environment unreadable")

    monkeypatch.setattr(requests.utils, "get_environ_proxies", broken)
    with pytest.raises(RuntimeError) as info:
        HubSpotClient(base_url="http://127.0.0.1:1", access_token=SECRET_TOKEN)
    _assert_token_in_no_frame(info)


def test_the_token_still_reaches_the_authorization_header():
    client = HubSpotClient(base_url="http://127.0.0.1:1", access_token=SECRET_TOKEN)
    assert client.session.headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    assert SECRET_TOKEN not in repr(client)
    client.close()


def test_401_is_a_pipeline_halt_and_never_shows_the_token(hubspot_sandbox, caplog):
    client = make_client(hubspot_sandbox, access_token="secret-token-123")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(exc.AuthenticationError) as info:
        client.batch_create([{"properties": {"email": "a@example.com"}}])
    error = info.value
    assert error.status == 401 and error.category == "INVALID_AUTHENTICATION"
    assert error.correlation_id
    for text in (str(error), repr(error), repr(client), str(error.body), caplog.text):
        assert "secret-token-123" not in text


def test_403_missing_scopes(hubspot_sandbox):
    hubspot_sandbox.configure(missing_scopes=True)
    with pytest.raises(exc.MissingScopesError) as info:
        make_client(hubspot_sandbox).batch_create([{"properties": {"email": "a@example.com"}}])
    assert info.value.status == 403


def test_409_conflict_carries_the_existing_id(hubspot_sandbox):
    existing = hubspot_sandbox.add_contact({"email": "dup@example.com"})
    with pytest.raises(exc.ConflictError) as info:
        make_client(hubspot_sandbox).batch_create([{"properties": {"email": "dup@example.com"}}])
    assert info.value.existing_id == existing
    assert isinstance(info.value, exc.RejectedError)


def test_429_rolling_and_daily(hubspot_sandbox):
    hubspot_sandbox.configure(rate_limit_max=1, rate_limit_interval_ms=60_000)
    client = make_client(hubspot_sandbox)
    client.batch_read_by_email(["x@example.com"])
    with pytest.raises(exc.RateLimitedError) as info:
        client.batch_read_by_email(["x@example.com"])
    assert info.value.policy_name == "TEN_SECONDLY_ROLLING" and not info.value.is_daily
    assert isinstance(info.value, exc.RetryLaterError)
    hubspot_sandbox.reset()
    hubspot_sandbox.configure(daily_limit=1)
    client.batch_read_by_email(["x@example.com"])
    with pytest.raises(exc.RateLimitedError) as info:
        client.batch_read_by_email(["x@example.com"])
    assert info.value.is_daily


@pytest.mark.parametrize(
    ("option", "error_type"),
    [
        ("fault_5xx_rate", exc.ServerError),
        ("fault_423_rate", exc.LockedError),
        ("fault_477_rate", exc.ServerError),
    ],
)
def test_transient_faults_are_retry_later(hubspot_sandbox, option, error_type):
    hubspot_sandbox.configure(**{option: 1.0})
    with pytest.raises(error_type) as info:
        make_client(hubspot_sandbox).batch_create([{"properties": {"email": "a@example.com"}}])
    assert isinstance(info.value, exc.RetryLaterError)
    if error_type is exc.LockedError:
        assert info.value.retry_after is not None and info.value.retry_after >= 2
    assert hubspot_sandbox.contacts() == []


def test_timeout_after_commit_is_outcome_unknown(hubspot_sandbox):
    hubspot_sandbox.configure(slow_after_commit_rate=1.0, slow_after_commit_seconds=1.5)
    client = make_client(hubspot_sandbox, timeout=0.5)
    with pytest.raises(exc.OutcomeUnknownError):
        client.batch_create([{"properties": {"email": "slow@example.com"}}])
    assert hubspot_sandbox.contact_by_email("slow@example.com") is not None


def test_dropped_connection_after_commit_is_outcome_unknown(hubspot_sandbox):
    hubspot_sandbox.configure(drop_after_commit_rate=1.0)
    with pytest.raises(exc.OutcomeUnknownError):
        make_client(hubspot_sandbox).batch_create([{"properties": {"email": "d@example.com"}}])
    assert hubspot_sandbox.contact_by_email("d@example.com") is not None


def test_refused_connection_is_never_sent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = HubSpotClient(base_url=f"http://127.0.0.1:{port}", access_token="t", timeout=1)
    with pytest.raises(exc.ConnectionFailedError):
        client.batch_create([{"properties": {"email": "a@example.com"}}])


def test_user_agent_and_keep_alive(hubspot_sandbox):
    client = make_client(hubspot_sandbox)
    assert client.session.headers["User-Agent"] == USER_AGENT and "crmsync/" in USER_AGENT
    for _ in range(3):
        client.batch_read_by_email(["k@example.com"])
    adapter = client.session.get_adapter(hubspot_sandbox.url)
    pool_map = adapter.poolmanager.pools  # iterable only through keys()
    pools = [pool_map[key] for key in pool_map.keys()]  # noqa: SIM118
    assert sum(p.num_connections for p in pools) == 1  # one connection reused for all three


def test_batch_read_by_email_lists_found_and_missing(hubspot_sandbox):
    found_id = hubspot_sandbox.add_contact({"email": "found@example.com"})
    answer = make_client(hubspot_sandbox).batch_read_by_email(
        ["FOUND@example.com", "missing@example.com"]
    )
    assert [r["id"] for r in answer.results] == [found_id]
    assert answer.errors and answer.errors[0]["category"] == "OBJECT_NOT_FOUND"


def test_read_by_email_body_has_every_field_the_spec_requires(hubspot_sandbox):
    body = read_by_email_body(["a@example.com"], ["email", "firstname"])
    assert body == {
        "idProperty": "email",
        "properties": ["email", "firstname"],
        "propertiesWithHistory": [],
        "inputs": [{"id": "a@example.com"}],
    }
    hubspot_sandbox.add_contact({"email": "a@example.com"})
    answer = make_client(hubspot_sandbox).batch_read_by_email(["a@example.com"])
    assert answer.http_status == 200
    assert "propertiesWithHistory" not in answer.results[0]


class RecordingLimiter:
    """A limiter that admits everything and records what the client tells it."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.answered_slots: list[str] = []

    def acquire(self, deadline=None):
        self.taken.append(f"slot-{len(self.taken)}")
        return self.taken[-1]

    def answered(self, slot) -> None:
        self.answered_slots.append(slot)

    def observe(self, headers) -> None:
        pass

    def cool_down(self, seconds: float) -> None:
        pass


def test_the_limiter_hears_of_each_answer_and_of_no_lost_one(hubspot_sandbox):
    """An answered slot may free early (HubSpot counted it before answering); one whose
    answer was lost keeps its headroom: the request may still be on its way."""
    limiter = RecordingLimiter()
    client = make_client(hubspot_sandbox, limiter=limiter)
    client.batch_create([{"properties": {"email": "answered@example.com"}}])
    with pytest.raises(exc.RejectedError):
        client.batch_create([{"properties": {"email": "not-an-email"}}])  # a 400 is an answer
    hubspot_sandbox.configure(drop_after_commit_rate=1.0)
    with pytest.raises(exc.OutcomeUnknownError):
        client.batch_create([{"properties": {"email": "lost@example.com"}}])
    assert limiter.taken == ["slot-0", "slot-1", "slot-2"]
    assert limiter.answered_slots == ["slot-0", "slot-1"]
