"""batch/create: shapes, 207 multi-status, whole-batch failures, conflicts, associations."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS, contact


def test_create_answers_201_with_string_ids_and_hubspot_properties(api, hubspot_sandbox):
    response = api.create(contact("Ada@Example.COM", firstname="Ada"))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= body.keys()
    (result,) = body["results"]
    assert isinstance(result["id"], str)
    assert result["archived"] is False
    props = result["properties"]
    assert props["email"] == "ada@example.com"  # stored lower-cased, like HubSpot
    assert props["hs_object_id"] == result["id"]
    assert {"createdate", "lastmodifieddate"} <= props.keys()
    assert result["createdAt"] and result["updatedAt"]
    assert "objectWriteTraceId" not in result
    assert hubspot_sandbox.contact_by_email("ADA@example.com")["id"] == result["id"]


def test_results_are_shuffled_by_default_and_in_order_with_no_shuffle(api, hubspot_sandbox):
    inputs = [contact(f"c{i}@example.com") for i in range(50)]
    emails = [i["properties"]["email"] for i in inputs]
    shuffled = [r["properties"]["email"] for r in api.create(*inputs).json()["results"]]
    assert sorted(shuffled) == sorted(emails)
    assert shuffled != emails

    hubspot_sandbox.configure(shuffle_results=False)
    inputs = [contact(f"d{i}@example.com") for i in range(50)]
    ordered = [r["properties"]["email"] for r in api.create(*inputs).json()["results"]]
    assert ordered == [i["properties"]["email"] for i in inputs]


def test_echo_trace_ids_switch(api, hubspot_sandbox):
    hubspot_sandbox.configure(echo_trace_ids=True)
    body = api.create(contact("a@example.com", "t-a"), contact("b@example.com", "t-b")).json()
    by_trace = {r["objectWriteTraceId"]: r["properties"]["email"] for r in body["results"]}
    assert by_trace == {"t-a": "a@example.com", "t-b": "b@example.com"}


def test_more_than_100_inputs_is_refused_and_nothing_written(api, hubspot_sandbox):
    response = api.create(*[contact(f"x{i}@example.com") for i in range(101)])
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("The maximum number of inputs supported in a batch is 100")
    assert hubspot_sandbox.contacts() == []


def test_with_unique_trace_ids_bad_inputs_come_back_in_207_and_good_ones_are_written(
    api, hubspot_sandbox
):
    response = api.create(
        contact("good@example.com", "t1"),
        contact("bad@", "t2"),
        contact("other@example.com", "t3", lifecyclestage="bogus"),
    )
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 2
    assert [r["properties"]["email"] for r in body["results"]] == ["good@example.com"]
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert errors["t2"]["category"] == "VALIDATION_ERROR"
    assert errors["t2"]["context"]["propertyName"] == ["email"]
    assert errors["t2"]["errors"][0]["code"] == "INVALID_EMAIL"
    assert errors["t3"]["errors"][0]["code"] == "INVALID_OPTION"
    assert [c["properties"]["email"] for c in hubspot_sandbox.contacts()] == ["good@example.com"]


@pytest.mark.parametrize(
    "traces",
    [(None, None), ("t1", None), ("same", "same"), ("", "")],
    ids=["none", "some", "duplicated", "empty"],
)
def test_without_unique_trace_ids_one_bad_input_fails_the_batch(api, hubspot_sandbox, traces):
    response = api.create(contact("good@example.com", traces[0]), contact("bad@", traces[1]))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    assert hubspot_sandbox.contacts() == []


def test_existing_email_conflicts_case_insensitively_as_a_whole_batch_409(api, hubspot_sandbox):
    existing = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = api.create(contact("fresh@example.com"), contact("TAKEN@example.com"))
    assert response.status_code == 409
    assert response.json() == {
        "status": "error",
        "message": f"Contact already exists. Existing ID: {existing}",
        "correlationId": response.headers["X-HubSpot-Correlation-Id"],
        "category": "CONFLICT",
    }
    assert len(hubspot_sandbox.contacts()) == 1


def test_conflict_is_a_per_input_207_error_with_trace_ids(api, hubspot_sandbox):
    existing = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = api.create(contact("fresh@example.com", "t1"), contact("taken@example.com", "t2"))
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["category"] == "CONFLICT"
    assert error["message"] == f"Contact already exists. Existing ID: {existing}"
    assert error["context"]["objectWriteTraceId"] == ["t2"]
    assert hubspot_sandbox.contact_by_email("fresh@example.com") is not None


def test_conflict_mode_batch_fails_the_whole_batch_even_with_trace_ids(api, hubspot_sandbox):
    hubspot_sandbox.configure(conflict_mode="batch")
    existing = hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = api.create(contact("fresh@example.com", "t1"), contact("taken@example.com", "t2"))
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {existing}"
    assert hubspot_sandbox.contact_by_email("fresh@example.com") is None


def test_same_email_twice_in_one_batch_conflicts_with_the_earlier_input(api, hubspot_sandbox):
    hubspot_sandbox.configure(shuffle_results=False)
    response = api.create(contact("dup@example.com", "t1"), contact("DUP@example.com", "t2"))
    assert response.status_code == 207
    body = response.json()
    first_id = body["results"][0]["id"]
    assert body["errors"][0]["message"] == f"Contact already exists. Existing ID: {first_id}"
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["t2"]


def test_secondary_email_of_another_contact_conflicts(api, hubspot_sandbox):
    owner = hubspot_sandbox.add_contact(
        {"email": "main@example.com", "hs_additional_emails": "old@example.com"}
    )
    response = api.create(contact("old@example.com"))
    assert response.status_code == 409
    assert response.json()["message"] == f"Contact already exists. Existing ID: {owner}"


def test_contacts_without_email_are_created(api, hubspot_sandbox):
    response = api.create(contact(firstname="Anon"), contact(firstname="Anon"))
    assert response.status_code == 201
    assert len(hubspot_sandbox.contacts()) == 2


def _associated(company_id, type_id=279, category="HUBSPOT_DEFINED"):
    item = contact("a@example.com", "t1")
    item["associations"] = [
        {
            "to": {"id": company_id},
            "types": [{"associationCategory": category, "associationTypeId": type_id}],
        }
    ]
    return item


@pytest.mark.parametrize("type_id", [279, 1])
def test_association_to_an_existing_company_is_stored(api, hubspot_sandbox, type_id):
    assert api.create(_associated("9001", type_id)).status_code == 201
    (record,) = hubspot_sandbox.contacts()
    assert record["associations"][0]["to"] == {"id": "9001"}


def test_association_to_a_missing_company_is_a_per_input_error(api, hubspot_sandbox):
    response = api.create(_associated("424242"), contact("b@example.com", "t2"))
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["category"] == "VALIDATION_ERROR"
    assert "424242" in error["message"]
    assert error["context"]["objectWriteTraceId"] == ["t1"]


def test_association_type_must_be_contact_to_company(api):
    response = api.create(_associated("9001", type_id=3), contact("b@example.com", "t2"))
    assert response.status_code == 207
    assert "279" in response.json()["errors"][0]["message"]


def test_added_company_can_be_associated(api, hubspot_sandbox):
    company = hubspot_sandbox.add_company(name="Newco")
    assert api.create(_associated(company)).status_code == 201
    assert api.get(f"/crm/v3/objects/companies/{company}").json()["properties"]["name"] == "Newco"


def test_date_versioned_path_serves_the_same_handlers(api, hubspot_sandbox):
    response = api.post(
        "/crm/objects/2026-03/contacts/batch/create", {"inputs": [contact("v@example.com")]}
    )
    assert response.status_code == 201
    assert api.get("/crm/properties/2026-03/contacts").status_code == 200
    assert hubspot_sandbox.contact_by_email("v@example.com") is not None


def test_invalid_json_is_a_400(api):
    response = api.session.post(
        api.server.url + f"{CONTACTS}/batch/create", data=b"{nope", timeout=5
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_multi_status_off_fails_the_whole_batch_despite_trace_ids(api, hubspot_sandbox):
    hubspot_sandbox.configure(multi_status=False)
    response = api.create(contact("good@example.com", "t1"), contact("bad@", "t2"))
    assert response.status_code == 400
    assert hubspot_sandbox.contacts() == []
