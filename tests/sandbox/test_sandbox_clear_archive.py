"""Clearing values with "" in batch/update and upsert, and batch/archive, as HubSpot does them."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS, contact
from spec_shapes import (
    batch_response_problems,
    simple_public_object_problems,
    standard_error_problems,
)

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


# --- batch/archive ------------------------------------------------------------------------


def _archive(api, *ids):
    return api.post(f"{CONTACTS}/batch/archive", {"inputs": [{"id": i} for i in ids]})


def test_archive_answers_204_with_no_body_and_ignores_unknown_ids(api, hubspot_sandbox):
    kept = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    gone = hubspot_sandbox.add_contact({"email": "gone@example.com"})
    response = _archive(api, gone, "999999999", gone)
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert [c["id"] for c in hubspot_sandbox.archived_contacts()] == [gone]
    assert hubspot_sandbox.contact_by_email("kept@example.com")["id"] == kept
    assert hubspot_sandbox.stats()["records_archived"] == 1
    assert _archive(api, "999999999").status_code == 204  # only unknown ids: still 204
    assert _archive(api, gone).status_code == 204  # archiving again changes nothing
    assert hubspot_sandbox.stats()["records_archived"] == 1
    assert hubspot_sandbox.stats()["requests_by_endpoint"]["archive"] == {"204": 3}


def test_archived_contacts_are_object_not_found_in_batch_read(api, hubspot_sandbox):
    kept = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    gone = hubspot_sandbox.add_contact({"email": "gone@example.com"})
    _archive(api, gone)
    response = _read(api, kept, gone)
    assert response.status_code == 207
    body = response.json()
    assert batch_response_problems(body, 207) == []
    assert [r["id"] for r in body["results"]] == [kept]
    (error,) = body["errors"]
    assert standard_error_problems(error) == []
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": [gone]}
    by_email = _read(api, "gone@example.com", idProperty="email")
    assert by_email.status_code == 207
    assert by_email.json()["errors"][0]["context"] == {"ids": ["gone@example.com"]}


def test_archived_contacts_are_gone_from_search_and_updates(api, hubspot_sandbox):
    gone = hubspot_sandbox.add_contact({"email": "gone@example.com", "firstname": "G"})
    _archive(api, gone)
    assert _search(api, "email", "EQ", value="gone@example.com").json()["total"] == 0
    assert _search(api, "firstname", "HAS_PROPERTY").json()["total"] == 0
    update = _update(api, gone, firstname="H")
    assert update.status_code == 207
    assert update.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert hubspot_sandbox.archived_contacts()[0]["properties"]["firstname"] == "G"


def test_get_with_archived_true_still_returns_an_archived_contact(api, hubspot_sandbox):
    gone = hubspot_sandbox.add_contact({"email": "gone@example.com", "firstname": "G"})
    _archive(api, gone)
    assert api.get(f"{CONTACTS}/{gone}").status_code == 404
    response = api.get(f"{CONTACTS}/{gone}", params={"archived": "true", "properties": "firstname"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == gone
    assert body["archived"] is True
    assert isinstance(body["archivedAt"], str)
    assert body["properties"]["firstname"] == "G"
    assert "email" not in body["properties"]  # only those asked for, plus the usual three
    # ``archived=true`` finds archived records only, as HubSpot's.
    kept = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    assert api.get(f"{CONTACTS}/{kept}", params={"archived": "true"}).status_code == 404


def test_a_create_with_an_archived_contacts_email_succeeds(api, hubspot_sandbox):
    gone = hubspot_sandbox.add_contact(
        {"email": "gone@example.com", "hs_additional_emails": "old@example.com"}
    )
    _archive(api, gone)
    response = api.create(contact("GONE@example.com"), contact("old@example.com"))
    assert response.status_code == 201
    new_ids = {r["id"] for r in response.json()["results"]}
    assert gone not in new_ids
    assert hubspot_sandbox.contact_by_email("gone@example.com")["id"] in new_ids
    archived = api.get(f"{CONTACTS}/{gone}", params={"archived": "true"}).json()
    assert archived["properties"]["email"] == "gone@example.com"
    set_values = {k: v for k, v in archived["properties"].items() if v is not None}
    assert simple_public_object_problems({**archived, "properties": set_values}) == []


def test_archived_contacts_python_api(api, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "kept@example.com"})
    assert hubspot_sandbox.archived_contacts() == []
    gone = hubspot_sandbox.add_contact({"email": "gone@example.com"})
    _archive(api, gone)
    (record,) = hubspot_sandbox.archived_contacts()
    assert record["id"] == gone and record["archived"] is True and record["archivedAt"]
    assert len(hubspot_sandbox.contacts()) == 2  # contacts() still lists every record


@pytest.mark.parametrize(
    "body", [None, {}, {"inputs": "x"}, {"inputs": ["1"]}, {"inputs": [{"id": "1"}] * 101}]
)
def test_archive_bad_bodies_are_a_400(api, body):
    response = api.post(f"{CONTACTS}/batch/archive", body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
