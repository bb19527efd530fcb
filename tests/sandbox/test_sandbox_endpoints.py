"""batch/update, batch/upsert, batch/read, batch/archive, GET one, search and companies."""

from __future__ import annotations

import time

import pytest
from sandbox_helpers import CONTACTS, contact
from spec_shapes import batch_response_problems


def test_update_by_id(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "u@example.com", "firstname": "Old"})
    response = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": contact_id, "properties": {"firstname": "New"}}]},
    )
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["properties"]["firstname"] == "New"
    assert hubspot_sandbox.contact_by_email("u@example.com")["properties"]["firstname"] == "New"


def test_update_unknown_id_is_a_207_object_not_found(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "u@example.com"})
    response = api.post(
        f"{CONTACTS}/batch/update",
        {
            "inputs": [
                {"id": contact_id, "properties": {"firstname": "A"}},
                {"id": "999999999", "properties": {"firstname": "B"}},
            ]
        },
    )
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"]["ids"] == ["999999999"]


def test_update_to_an_email_in_use_conflicts(api, hubspot_sandbox):
    taken = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    mover = hubspot_sandbox.add_contact({"email": "mover@example.com"})
    response = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": mover, "properties": {"email": "Taken@example.com"}}]},
    )
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {taken}"


def test_upsert_by_email_creates_and_updates_with_new_flag(api, hubspot_sandbox):
    existing = hubspot_sandbox.add_contact({"email": "old@example.com", "firstname": "Old"})
    response = api.post(
        f"{CONTACTS}/batch/upsert",
        {
            "inputs": [
                {"idProperty": "email", "id": "OLD@example.com", "properties": {"firstname": "X"}},
                {"idProperty": "email", "id": "new@example.com", "properties": {"firstname": "Y"}},
            ]
        },
    )
    assert response.status_code == 200
    results = {r["properties"]["email"]: r for r in response.json()["results"]}
    assert results["old@example.com"]["new"] is False
    assert results["old@example.com"]["id"] == existing
    assert results["new@example.com"]["new"] is True
    assert results["old@example.com"]["properties"]["firstname"] == "X"
    assert len(hubspot_sandbox.contacts()) == 2


def test_upsert_by_email_is_never_partial_even_with_trace_ids(api, hubspot_sandbox):
    # HubSpot: "Partial upserts are not supported when using email as the idProperty".
    response = api.post(
        f"{CONTACTS}/batch/upsert",
        {
            "inputs": [
                {
                    "idProperty": "email",
                    "id": "a@example.com",
                    "properties": {},
                    "objectWriteTraceId": "1",
                },
                {"idProperty": "email", "id": "b@", "properties": {}, "objectWriteTraceId": "2"},
            ]
        },
    )
    assert response.status_code == 400
    assert "b@" in response.json()["message"]
    assert hubspot_sandbox.contacts() == []


def _read(api, ids, **extra):
    body = {"inputs": [{"id": i} for i in ids], "properties": ["email", "firstname"], **extra}
    return api.post(f"{CONTACTS}/batch/read", body)


def test_read_by_id(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "r@example.com", "firstname": "Ada"})
    response = _read(api, [contact_id])
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["properties"]["firstname"] == "Ada"
    assert result["properties"]["hs_object_id"] == contact_id


def test_read_leaves_out_properties_without_a_value(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "r@example.com", "firstname": "Ada"})
    body = {
        "inputs": [{"id": contact_id}],
        "properties": ["email", "firstname", "lastname", "phone"],
        "propertiesWithHistory": [],
    }
    response = api.post(f"{CONTACTS}/batch/read", body)
    assert response.status_code == 200
    answer = response.json()
    assert batch_response_problems(answer, 200) == []
    properties = answer["results"][0]["properties"]
    assert properties["firstname"] == "Ada"
    assert "lastname" not in properties and "phone" not in properties
    assert {"hs_object_id", "createdate", "lastmodifieddate"} <= properties.keys()


@pytest.mark.parametrize("properties", [None, []], ids=["missing", "empty"])
def test_read_without_properties_gives_the_default_ones(api, hubspot_sandbox, properties):
    contact_id = hubspot_sandbox.add_contact({"email": "r@example.com", "firstname": "Ada"})
    body = {"inputs": [{"id": contact_id}], "propertiesWithHistory": []}
    if properties is not None:
        body["properties"] = properties
    response = api.post(f"{CONTACTS}/batch/read", body)
    assert response.status_code == 200
    props = response.json()["results"][0]["properties"]
    assert props.keys() == {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate"}


def test_read_properties_with_history(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "r@example.com", "firstname": "Ada"})
    body = {
        "inputs": [{"id": contact_id}],
        "properties": ["email"],
        "propertiesWithHistory": ["firstname", "lastname"],
    }
    response = api.post(f"{CONTACTS}/batch/read", body)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    (version,) = result["propertiesWithHistory"]["firstname"]
    assert version["value"] == "Ada" and version["sourceType"] == "API" and version["timestamp"]
    assert "lastname" not in result["propertiesWithHistory"]
    bad = api.post(f"{CONTACTS}/batch/read", {**body, "propertiesWithHistory": "firstname"})
    assert bad.status_code == 400


def test_read_by_email_is_case_insensitive_and_lists_missing_ids_in_207(api, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "r@example.com"})
    response = _read(api, ["R@Example.com", "gone@example.com"], idProperty="email")
    assert response.status_code == 207
    body = response.json()
    assert [r["properties"]["email"] for r in body["results"]] == ["r@example.com"]
    assert body["errors"] == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": ["gone@example.com"]},
            "links": {},
            "errors": [],
        }
    ]


def test_archive_answers_204_and_frees_the_email(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "gone@example.com"})
    response = api.post(f"{CONTACTS}/batch/archive", {"inputs": [{"id": contact_id}]})
    assert response.status_code == 204
    assert response.content == b""
    assert hubspot_sandbox.contact_by_email("gone@example.com") is None
    assert hubspot_sandbox.contacts()[0]["archived"] is True
    assert api.get(f"{CONTACTS}/{contact_id}").status_code == 404
    assert api.create(contact("gone@example.com")).status_code == 201


def test_get_one_contact(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "g@example.com", "phone": "123"})
    response = api.get(f"{CONTACTS}/{contact_id}", params={"properties": "phone"})
    assert response.status_code == 200
    assert response.json()["properties"]["phone"] == "123"
    by_email = api.get(f"{CONTACTS}/G@example.com", params={"idProperty": "email"})
    assert by_email.json()["id"] == contact_id
    missing = api.get(f"{CONTACTS}/12345678")
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"


def _search(api, *filters, **extra):
    body = {"filterGroups": [{"filters": list(filters)}], **extra}
    return api.post(f"{CONTACTS}/search", body)


def test_search_by_email_eq_and_in(api, hubspot_sandbox):
    first = hubspot_sandbox.add_contact({"email": "s1@example.com"})
    second = hubspot_sandbox.add_contact({"email": "s2@example.com"})
    hubspot_sandbox.add_contact({"email": "s3@example.com"})
    eq = _search(api, {"propertyName": "email", "operator": "EQ", "value": "S1@example.com"})
    assert eq.status_code == 200
    assert [r["id"] for r in eq.json()["results"]] == [first]
    values = ["s1@example.com", "s2@example.com", "nobody@example.com"]
    found = _search(api, {"propertyName": "email", "operator": "IN", "values": values})
    assert found.json()["total"] == 2
    assert [r["id"] for r in found.json()["results"]] == [first, second]
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in found.headers)


def test_search_has_its_own_limit_of_about_5_per_second(api, hubspot_sandbox):
    statuses = [
        _search(api, {"propertyName": "email", "operator": "EQ", "value": "x@y.com"}).status_code
        for _ in range(8)
    ]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    assert hubspot_sandbox.stats()["rate_limited"] == {"SECONDLY": statuses.count(429)}


@pytest.mark.hubspot_sandbox(search_lag_ms=300)
def test_search_lags_the_writes_when_asked(api):
    api.create(contact("late@example.com"))
    query = {"propertyName": "email", "operator": "EQ", "value": "late@example.com"}
    assert _search(api, query).json()["total"] == 0
    time.sleep(0.35)
    assert _search(api, query).json()["total"] == 1


def test_search_does_not_see_secondary_emails(api, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "a@example.com", "hs_additional_emails": "b@example.com"})
    query = {"propertyName": "email", "operator": "EQ", "value": "b@example.com"}
    assert _search(api, query).json()["total"] == 0


def test_companies_are_preset_and_readable(api):
    response = api.get("/crm/v3/objects/companies/9001")
    assert response.status_code == 200
    assert response.json()["id"] == "9001"
    assert api.get("/crm/v3/objects/companies/9005").status_code == 200
    assert api.get("/crm/v3/objects/companies/1").status_code == 404
