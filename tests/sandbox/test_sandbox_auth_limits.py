"""Authentication, scopes, rate limits and correlation ids."""

from __future__ import annotations

import uuid

import pytest
import requests
from sandbox_helpers import CONTACTS, contact

RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "sandbox-token"])
def test_missing_or_wrong_token_is_a_401(hubspot_sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.post(
        f"{hubspot_sandbox.url}{CONTACTS}/batch/create",
        json={"inputs": [contact("a@example.com")]},
        headers=headers,
        timeout=5,
    )
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    assert hubspot_sandbox.contacts() == []


def test_missing_scopes_switch_answers_403(api, hubspot_sandbox):
    hubspot_sandbox.configure(missing_scopes=True)
    response = api.create(contact("a@example.com"))
    assert response.status_code == 403
    body = response.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert hubspot_sandbox.contacts() == []


def test_every_answer_has_a_uuid4_correlation_id(api):
    first = api.create(contact("a@example.com"))
    second = api.get("/crm/v3/properties/contacts")
    ids = {first.headers["X-HubSpot-Correlation-Id"], second.headers["X-HubSpot-Correlation-Id"]}
    assert len(ids) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_rate_limit_headers_on_normal_answers(api):
    response = api.create(contact("a@example.com"))
    assert [response.headers[h] for h in RATE_HEADERS] == [
        "190",
        "189",
        "10000",
        "1000000",
        "999999",
    ]


@pytest.mark.hubspot_sandbox(rate_limit_max=3, rate_limit_interval_ms=60_000)
def test_rolling_window_429_with_hubspots_body_and_retry_after(api, hubspot_sandbox):
    statuses = [api.get("/crm/v3/properties/contacts").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = api.create(contact("a@example.com"))
    assert response.status_code == 429
    body = response.json()
    assert body == {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert hubspot_sandbox.contacts() == []
    stats = hubspot_sandbox.stats()
    assert stats["rate_limited"] == {"TEN_SECONDLY_ROLLING": 1}
    assert stats["max_requests_in_window"] == 3
    assert stats["daily_used"] == 3  # the 429 did not count


@pytest.mark.hubspot_sandbox(rate_limit_max=2, rate_limit_interval_ms=300)
def test_window_rolls_and_429s_do_not_count(api):
    import time

    assert [api.get("/crm/v3/properties/contacts").status_code for _ in range(4)] == [
        200,
        200,
        429,
        429,
    ]
    time.sleep(0.35)
    assert [api.get("/crm/v3/properties/contacts").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.hubspot_sandbox(rate_limit_max=1, retry_after_on_429=False)
def test_retry_after_can_be_switched_off(api):
    api.get("/crm/v3/properties/contacts")
    response = api.get("/crm/v3/properties/contacts")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


@pytest.mark.hubspot_sandbox(daily_limit=2)
def test_daily_cap(api):
    assert (
        api.get("/crm/v3/properties/contacts").headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    )
    api.get("/crm/v3/properties/contacts")
    response = api.get("/crm/v3/properties/contacts")
    assert response.status_code == 429
    assert response.json()["policyName"] == "DAILY"
    assert response.json()["message"] == "You have reached your daily limit."
    assert int(response.headers["Retry-After"]) >= 1


def _search(api):
    return api.post(f"{CONTACTS}/search", {"filterGroups": [], "limit": 1})


@pytest.mark.parametrize(
    ("options", "send", "policy", "message"),
    [
        (
            {"daily_limit": 1},
            lambda api: api.get("/crm/v3/properties/contacts"),
            "DAILY",
            "You have reached your daily limit.",
        ),
        (
            {"search_rate_limit": 1},
            _search,
            "SECONDLY",
            "You have reached your secondly limit.",
        ),
    ],
    ids=["daily", "search"],
)
def test_429_body_is_exactly_hubspots_for_every_policy(
    api, hubspot_sandbox, options, send, policy, message
):
    # HubSpot's 429 names its kind in errorType, not category, and has no other field.
    hubspot_sandbox.configure(**options)
    assert send(api).status_code == 200
    response = send(api)
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "policyName": policy,
    }
