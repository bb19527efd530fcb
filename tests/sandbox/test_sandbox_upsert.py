"""batch/upsert by a custom unique property, and unique values on create and update."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS, contact

UNIQUE = {"name": "crmsync_id", "type": "string", "hasUniqueValue": True}
PLAIN = {"name": "nickname", "type": "string"}


@pytest.fixture(autouse=True)
def _properties(hubspot_sandbox):
    hubspot_sandbox.configure(custom_properties=[UNIQUE, PLAIN])


def upsert(api, *inputs, id_property="crmsync_id", traces=False):
    body = []
    for n, (key, properties) in enumerate(inputs):
        item = {"idProperty": id_property, "id": key, "properties": properties}
        if traces:
            item["objectWriteTraceId"] = f"t{n}"
        body.append(item)
    return api.post(f"{CONTACTS}/batch/upsert", {"inputs": body})


def test_upsert_by_unique_property_creates_then_updates(api, hubspot_sandbox):
    first = upsert(api, ("k-1", {"firstname": "Ada"}), ("k-2", {}))
    assert first.status_code == 200
    created = {r["properties"]["crmsync_id"]: r for r in first.json()["results"]}
    assert {k: r["new"] for k, r in created.items()} == {"k-1": True, "k-2": True}
    again = upsert(api, ("k-1", {"firstname": "Grace"}))
    (result,) = again.json()["results"]
    assert (result["new"], result["id"]) == (False, created["k-1"]["id"])
    assert result["properties"]["firstname"] == "Grace"
    assert len(hubspot_sandbox.contacts()) == 2  # a retried upsert never duplicates


@pytest.mark.parametrize(
    ("name", "words"), [("nickname", "non-unique"), ("missing_prop", "does not exist")]
)
def test_upsert_by_a_property_that_is_not_unique_is_a_400(api, name, words):
    response = upsert(api, ("x", {}), id_property=name)
    assert response.status_code == 400
    assert words in response.json()["message"]


def test_upsert_by_unique_property_is_partial_with_trace_ids(api, hubspot_sandbox):
    response = upsert(api, ("k-1", {}), ("k-2", {"email": "bad@"}), traces=True)
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["context"]["objectWriteTraceId"] == ["t1"]
    assert [c["properties"]["crmsync_id"] for c in hubspot_sandbox.contacts()] == ["k-1"]


def test_upsert_with_an_email_another_contact_holds_conflicts(api, hubspot_sandbox):
    taken = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = upsert(api, ("k-1", {}), ("k-2", {"email": "TAKEN@example.com"}), traces=True)
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["message"] == f"Contact already exists. Existing ID: {taken}"


def test_a_conflict_fails_the_whole_upsert_batch_in_batch_conflict_mode(api, hubspot_sandbox):
    hubspot_sandbox.configure(conflict_mode="batch")
    taken = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = upsert(api, ("k-1", {}), ("k-2", {"email": "taken@example.com"}), traces=True)
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {taken}"
    assert len(hubspot_sandbox.contacts()) == 1  # nothing written


def test_two_inputs_with_one_email_in_an_upsert_conflict(api, hubspot_sandbox):
    response = upsert(
        api,
        ("k-1", {"email": "same@example.com"}),
        ("k-2", {"email": "same@example.com"}),
        traces=True,
    )
    assert response.status_code == 207
    assert len(response.json()["errors"]) == 1
    assert len(hubspot_sandbox.contacts()) == 1


def test_duplicate_upsert_ids_are_a_400(api):
    response = upsert(api, ("k-1", {}), ("k-1", {}))
    assert response.status_code == 400
    assert "Duplicate IDs" in response.json()["message"]


def test_upsert_inputs_take_no_associations(api):
    item = {"idProperty": "crmsync_id", "id": "k", "properties": {}, "associations": []}
    response = api.post(f"{CONTACTS}/batch/upsert", {"inputs": [item]})
    assert response.status_code == 400
    assert "associations" in response.json()["message"]


def test_unique_values_are_enforced_on_create_and_update(api, hubspot_sandbox):
    holder = hubspot_sandbox.add_contact({"email": "a@example.com", "crmsync_id": "k-1"})
    other = hubspot_sandbox.add_contact({"email": "b@example.com"})
    created = api.create(contact("c@example.com", crmsync_id="k-1"))
    assert created.status_code == 409
    assert f"Existing ID: {holder}" in created.json()["message"]
    updated = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": other, "properties": {"crmsync_id": "k-1"}}]},
    )
    assert updated.status_code == 409
    # The holder may keep (resend) its own value, and a freed value can be taken.
    same = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": holder, "properties": {"crmsync_id": "k-1"}}]},
    )
    assert same.status_code == 200
    api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": holder, "properties": {"crmsync_id": "k-9"}}]},
    )
    moved = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": other, "properties": {"crmsync_id": "k-1"}}]},
    )
    assert moved.status_code == 200


def test_an_archived_record_frees_its_unique_value(api, hubspot_sandbox):
    first = upsert(api, ("k-1", {}))
    (result,) = first.json()["results"]
    api.post(f"{CONTACTS}/batch/archive", {"inputs": [{"id": result["id"]}]})
    again = upsert(api, ("k-1", {}))
    (second,) = again.json()["results"]
    assert second["new"] is True and second["id"] != result["id"]


def test_batch_read_by_a_custom_unique_property(api):
    upsert(api, ("k-1", {"firstname": "Ada"}))
    body = {
        "idProperty": "crmsync_id",
        "inputs": [{"id": "k-1"}, {"id": "k-9"}],
        "properties": ["crmsync_id"],
    }
    response = api.post(f"{CONTACTS}/batch/read", body)
    assert response.status_code == 207
    (found,) = response.json()["results"]
    assert found["properties"]["crmsync_id"] == "k-1"
    assert response.json()["errors"][0]["context"]["ids"] == ["k-9"]
    plain = api.post(f"{CONTACTS}/batch/read", {**body, "idProperty": "nickname"})
    assert plain.status_code == 400 and "not a unique property" in plain.json()["message"]
