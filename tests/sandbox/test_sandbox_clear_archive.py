"""Clearing values with "" in batch/update and upsert, and batch/archive, as HubSpot does them."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS, contact
from spec_shapes import batch_response_problems

FULL = {
    "email": "c@example.com",
    "firstname": "Ada",
    "lastname": "Lovelace",
    "phone": "123",
    "lifecyclestage": "lead",
    "date_of_birth": "1815-12-10",
    "annualrevenue": "1000",
    "hs_email_optout": "false",
}


def _update(api, contact_id, **properties):
    return api.post(
        f"{CONTACTS}/batch/update", {"inputs": [{"id": contact_id, "properties": properties}]}
    )


def _read(api, *ids, properties=None, **extra):
    body = {"inputs": [{"id": i} for i in ids], "properties": properties or [], **extra}
    return api.post(f"{CONTACTS}/batch/read", body)


def _search(api, name, operator, **extra):
    body = {"filterGroups": [{"filters": [{"propertyName": name, "operator": operator, **extra}]}]}
    return api.post(f"{CONTACTS}/search", body)


@pytest.mark.parametrize(
    "name",
    ["firstname", "phone", "lifecyclestage", "date_of_birth", "annualrevenue", "hs_email_optout"],
)
def test_an_empty_string_clears_the_stored_value(api, hubspot_sandbox, name):
    contact_id = hubspot_sandbox.add_contact(FULL)
    response = _update(api, contact_id, **{name: ""})
    assert response.status_code == 200
    assert batch_response_problems(response.json(), 200) == []
    (result,) = response.json()["results"]
    assert name not in result["properties"]
    (record,) = hubspot_sandbox.contacts()
    assert name not in record["properties"]  # gone, not stored as ""
    assert record["properties"]["lastname"] == "Lovelace"
    # batch/read leaves it out (the spec's properties hold strings only) ...
    read = _read(api, contact_id, properties=[name, "lastname"])
    assert read.status_code == 200
    assert name not in read.json()["results"][0]["properties"]
    assert read.json()["results"][0]["properties"]["lastname"] == "Lovelace"
    # ... GET gives it as null, as for a value never set.
    got = api.get(f"{CONTACTS}/{contact_id}", params={"properties": name})
    assert got.json()["properties"][name] is None


def test_a_cleared_value_is_not_a_property_for_search(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact(FULL)
    _update(api, contact_id, phone="")
    assert _search(api, "phone", "HAS_PROPERTY").json()["total"] == 0
    assert [r["id"] for r in _search(api, "phone", "NOT_HAS_PROPERTY").json()["results"]] == [
        contact_id
    ]


def test_leaving_a_property_out_changes_nothing(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact(FULL)
    response = _update(api, contact_id, firstname="Augusta")
    assert response.status_code == 200
    properties = hubspot_sandbox.contacts()[0]["properties"]
    assert properties["firstname"] == "Augusta"
    for name, value in FULL.items():
        if name != "firstname":
            assert properties[name] == value
    assert _update(api, contact_id).status_code == 200  # no properties at all
    assert hubspot_sandbox.contacts()[0]["properties"]["firstname"] == "Augusta"


def test_clearing_the_email_frees_it(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact(FULL)
    assert _update(api, contact_id, email="").status_code == 200
    assert "email" not in hubspot_sandbox.contacts()[0]["properties"]
    assert hubspot_sandbox.contact_by_email("c@example.com") is None
    assert _read(api, "c@example.com", idProperty="email").status_code == 207
    assert api.create(contact("c@example.com")).status_code == 201


def test_upsert_clears_with_an_empty_string_too(api, hubspot_sandbox):
    hubspot_sandbox.add_contact(FULL)
    response = api.post(
        f"{CONTACTS}/batch/upsert",
        {"inputs": [{"idProperty": "email", "id": "c@example.com", "properties": {"phone": ""}}]},
    )
    assert response.status_code == 200
    properties = hubspot_sandbox.contacts()[0]["properties"]
    assert "phone" not in properties
    assert properties["firstname"] == "Ada"


def test_clearing_a_read_only_property_is_rejected(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact(FULL)
    response = _update(api, contact_id, createdate="")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "READ_ONLY_VALUE"
    assert "createdate" in hubspot_sandbox.contacts()[0]["properties"]
