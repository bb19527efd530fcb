"""The /_sandbox/ control endpoints and the Python handle."""

from __future__ import annotations

import pytest
import requests
from sandbox_helpers import contact

from crmsync.sandbox import ConfigError, SandboxConfig, SandboxServer


def _control(server, method, name, body=None):
    response = requests.request(method, f"{server.url}/_sandbox/{name}", json=body, timeout=5)
    return response.status_code, response.json()


def test_seed_and_list_contacts_over_http(hubspot_sandbox):
    status, body = _control(
        hubspot_sandbox,
        "POST",
        "contacts",
        {"contacts": [{"email": "Seed@Example.com", "firstname": "S"}, {"firstname": "T"}]},
    )
    assert status == 201
    assert len(body["ids"]) == 2
    status, body = _control(hubspot_sandbox, "GET", "contacts")
    assert [r["properties"].get("email") for r in body["results"]] == ["seed@example.com", None]
    _, body = _control(hubspot_sandbox, "GET", "contacts?email=SEED@example.com")
    assert body["results"][0]["properties"]["firstname"] == "S"
    status, _ = _control(hubspot_sandbox, "POST", "contacts", [{"email": "seed@example.com"}])
    assert status == 409


def test_seeding_bypasses_the_rate_limit(hubspot_sandbox):
    hubspot_sandbox.configure(rate_limit_max=1)
    for i in range(3):
        assert _control(hubspot_sandbox, "POST", "contacts", [{"email": f"{i}@ex.com"}])[0] == 201
    assert hubspot_sandbox.stats()["daily_used"] == 0


def test_stats_count_requests_by_endpoint_and_status(api, hubspot_sandbox):
    api.create(contact("a@example.com"))
    api.create(contact("a@example.com"))
    api.get("/crm/v3/properties/contacts")
    _, stats = _control(hubspot_sandbox, "GET", "stats")
    assert stats["requests_by_endpoint"] == {
        "create": {"201": 1, "409": 1},
        "properties.list": {"200": 1},
    }
    assert stats["requests_total"] == 3
    assert stats["records_created"] == 1
    assert stats["max_requests_in_window"] == 3
    assert stats["faults"] == {}
    assert stats["rate_limited_total"] == 0


def test_config_over_http_and_reset_keeps_it_unless_asked(api, hubspot_sandbox):
    status, config = _control(hubspot_sandbox, "POST", "config", {"conflict_mode": "batch"})
    assert status == 200
    assert config["conflict_mode"] == "batch"
    api.create(contact("a@example.com"))
    status, _body = _control(hubspot_sandbox, "POST", "reset")
    assert status == 200
    assert hubspot_sandbox.contacts() == []
    assert hubspot_sandbox.stats()["requests_total"] == 0
    assert hubspot_sandbox.config.conflict_mode == "batch"
    _control(hubspot_sandbox, "POST", "reset", {"restore_config": True})
    assert hubspot_sandbox.config.conflict_mode == "per_input"
    assert _control(hubspot_sandbox, "GET", "config")[1]["conflict_mode"] == "per_input"


def test_bad_config_is_refused(hubspot_sandbox):
    assert _control(hubspot_sandbox, "POST", "config", {"no_such_option": 1})[0] == 400
    assert _control(hubspot_sandbox, "POST", "config", {"fault_5xx_rate": 2})[0] == 400
    with pytest.raises(ConfigError):
        hubspot_sandbox.configure(conflict_mode="sometimes")
    with pytest.raises(ConfigError):
        hubspot_sandbox.configure(nope=True)


def test_companies_over_http(api, hubspot_sandbox):
    status, body = _control(hubspot_sandbox, "POST", "companies", {"id": "777", "name": "Seven"})
    assert (status, body) == (201, {"id": "777"})
    _, listed = _control(hubspot_sandbox, "GET", "companies")
    assert "777" in [c["id"] for c in listed["results"]]
    assert api.get("/crm/v3/objects/companies/777").json()["properties"]["name"] == "Seven"


def test_python_handle(hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "H@example.com", "firstname": "H"})
    record = hubspot_sandbox.contact_by_email("h@EXAMPLE.com")
    assert record["id"] == contact_id
    assert set(record) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert hubspot_sandbox.contacts() == [record]
    assert hubspot_sandbox.add_company("8001", "Eight") == "8001"
    assert hubspot_sandbox.add_company(name="Auto") not in {"8001", "9001"}
    assert hubspot_sandbox.token == "sandbox-token"
    assert hubspot_sandbox.url.startswith("http://127.0.0.1:")


def test_reset_restores_the_construction_config():
    server = SandboxServer(port=0, token="t", config=SandboxConfig(rate_limit_max=7))
    server.start()
    try:
        server.configure(rate_limit_max=9, echo_trace_ids=True)
        server.add_contact({"email": "x@example.com"})
        server.reset()
        assert server.config.rate_limit_max == 7
        assert server.config.echo_trace_ids is False
        assert server.contacts() == []
    finally:
        server.stop()
    assert not server.running


def test_only_loopback_addresses():
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(host="0.0.0.0")


@pytest.mark.hubspot_sandbox(conflict_mode="batch")
def test_marker_configures_one_test(hubspot_sandbox):
    assert hubspot_sandbox.config.conflict_mode == "batch"


def test_config_is_restored_after_a_marked_test(hubspot_sandbox):
    assert hubspot_sandbox.config == SandboxConfig()


def test_session_server_is_shared(hubspot_sandbox, hubspot_sandbox_server):
    assert hubspot_sandbox is hubspot_sandbox_server
