"""The token-info endpoints (private app / service key, OAuth) and the granted scopes."""

from __future__ import annotations

import pytest
import requests
from sandbox_helpers import contact

from crmsync.sandbox.pytest_plugin import TOKEN

PRIVATE = "/oauth/v2/private-apps/get/access-token-info"
WRITE = "crm.objects.contacts.write"
READ = "crm.objects.contacts.read"


def test_private_app_token_info_lists_the_granted_scopes(hubspot_sandbox):
    response = requests.post(f"{hubspot_sandbox.url}{PRIVATE}", json={"tokenKey": TOKEN}, timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert {READ, WRITE} <= set(body["scopes"])
    assert isinstance(body["hubId"], int)
    assert hubspot_sandbox.stats()["requests_by_endpoint"]["token_info.private_app"] == {"200": 1}


@pytest.mark.hubspot_sandbox(scopes=[READ])
def test_scopes_are_configurable_and_enforced(hubspot_sandbox, api):
    body = requests.post(
        f"{hubspot_sandbox.url}{PRIVATE}", json={"tokenKey": TOKEN}, timeout=5
    ).json()
    assert body["scopes"] == [READ]
    response = api.create(contact("a@example.com"))
    assert response.status_code == 403
    assert response.json()["errors"][0]["context"]["requiredGranularScopes"] == [WRITE]
    assert api.get("/crm/v3/objects/contacts?limit=1").status_code == 200


def test_private_app_endpoint_refuses_an_unknown_token(hubspot_sandbox):
    response = requests.post(f"{hubspot_sandbox.url}{PRIVATE}", json={"tokenKey": "x"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


@pytest.mark.hubspot_sandbox(app_kind="oauth")
def test_oauth_token_info_and_private_app_form_refuses_it(hubspot_sandbox):
    url = hubspot_sandbox.url
    assert requests.post(f"{url}{PRIVATE}", json={"tokenKey": TOKEN}, timeout=5).status_code == 400
    response = requests.get(f"{url}/oauth/v1/access-tokens/{TOKEN}", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "access"
    assert WRITE in body["scopes"]
    assert requests.get(f"{url}/oauth/v1/access-tokens/other", timeout=5).status_code == 404
