"""Seeded faults: before any work (5xx, 423, 477), latency, and after the commit."""

from __future__ import annotations

import time

import pytest
import requests
from sandbox_helpers import CONTACTS, contact
from spec_shapes import error_body_problems


@pytest.mark.hubspot_sandbox(fault_5xx_rate=1.0)
def test_5xx_before_any_work(api, hubspot_sandbox):
    statuses = {api.create(contact(f"a{i}@example.com")).status_code for i in range(12)}
    assert statuses <= {502, 503, 504}
    assert len(statuses) > 1
    assert hubspot_sandbox.contacts() == []
    assert sum(hubspot_sandbox.stats()["faults"].values()) == 12


@pytest.mark.parametrize("status", [502, 503, 504])
def test_5xx_faults_answer_hubspots_json_error_body(api, hubspot_sandbox, status):
    # Find a seed whose first 5xx draw is ``status`` (the fault generator is deterministic).
    for seed in range(200):
        hubspot_sandbox.reset()
        hubspot_sandbox.configure(seed=seed, fault_5xx_rate=1.0)
        response = api.create(contact("a@example.com"))
        if response.status_code == status:
            break
    else:
        pytest.fail(f"no seed below 200 gives a {status}")
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert error_body_problems(body) == []
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    assert hubspot_sandbox.contacts() == []


@pytest.mark.hubspot_sandbox(fault_423_rate=1.0)
def test_423_locked(api, hubspot_sandbox):
    response = api.create(contact("a@example.com"))
    assert response.status_code == 423
    assert response.json()["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    assert hubspot_sandbox.contacts() == []
    assert hubspot_sandbox.stats()["faults"] == {"423": 1}


@pytest.mark.hubspot_sandbox(fault_477_rate=1.0, fault_477_retry_after_seconds=3)
def test_477_with_retry_after(api, hubspot_sandbox):
    response = api.create(contact("a@example.com"))
    assert response.status_code == 477
    assert response.headers["Retry-After"] == "3"
    assert hubspot_sandbox.contacts() == []


@pytest.mark.hubspot_sandbox(fault_5xx_rate=1.0)
def test_faults_spare_reads_unless_asked(api, hubspot_sandbox):
    read = {"inputs": [{"id": "1"}], "properties": ["email"]}
    assert api.post(f"{CONTACTS}/batch/read", read).status_code == 207
    hubspot_sandbox.configure(fault_endpoints=["create", "read"])
    assert api.post(f"{CONTACTS}/batch/read", read).status_code in (502, 503, 504)


@pytest.mark.hubspot_sandbox(latency_ms=150)
def test_latency_is_added_to_every_answer(api):
    started = time.monotonic()
    api.get("/crm/v3/properties/contacts")
    assert time.monotonic() - started >= 0.15


@pytest.mark.hubspot_sandbox(drop_after_commit_rate=1.0)
def test_drop_after_commit_writes_then_closes_without_an_answer(api, hubspot_sandbox):
    with pytest.raises(requests.ConnectionError):
        api.create(contact("a@example.com"), contact("b@example.com"))
    assert len(hubspot_sandbox.contacts()) == 2
    assert hubspot_sandbox.stats()["faults"] == {"drop_after_commit": 1}
    hubspot_sandbox.configure(drop_after_commit_rate=0.0)
    assert api.create(contact("a@example.com")).status_code == 409


@pytest.mark.hubspot_sandbox(slow_after_commit_rate=1.0, slow_after_commit_seconds=1.0)
def test_slow_after_commit_answers_after_the_clients_timeout(api, hubspot_sandbox):
    with pytest.raises(requests.Timeout):
        api.create(contact("a@example.com"), timeout=0.3)
    assert hubspot_sandbox.contact_by_email("a@example.com") is not None
    assert hubspot_sandbox.stats()["faults"] == {"slow_after_commit": 1}


def _fault_sequence(api, hubspot_sandbox, seed):
    hubspot_sandbox.reset()
    hubspot_sandbox.configure(seed=seed, fault_5xx_rate=0.3, fault_423_rate=0.3)
    return [api.create(contact(f"s{i}@example.com")).status_code for i in range(30)]


def test_same_seed_same_faults(api, hubspot_sandbox):
    first = _fault_sequence(api, hubspot_sandbox, seed=7)
    again = _fault_sequence(api, hubspot_sandbox, seed=7)
    other = _fault_sequence(api, hubspot_sandbox, seed=8)
    assert first == again
    assert first != other
    assert 201 in first and set(first) - {201}


def test_the_same_seed_shuffles_the_same_way(api, hubspot_sandbox):
    def order():
        hubspot_sandbox.reset()
        inputs = [contact(f"o{i}@example.com") for i in range(20)]
        return [r["properties"]["email"] for r in api.create(*inputs).json()["results"]]

    assert order() == order()
