"""Every answer read strictly against HubSpot's OpenAPI shapes (see ``spec_shapes``)."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS, contact
from spec_shapes import batch_response_problems, error_body_problems, standard_error_problems


def _associated(email, trace, company_id):
    item = contact(email, trace)
    item["associations"] = [
        {
            "to": {"id": company_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
        }
    ]
    return item


def test_every_failed_create_input_is_a_whole_standard_error(api, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "taken@example.com"})
    response = api.create(
        contact("good@example.com", "ok"),
        contact("bad@", "email"),
        contact("x@example.com", "option", lifecyclestage="bogus"),
        contact("y@example.com", "unknown", no_such_property="1"),
        contact("taken@example.com", "conflict"),
        contact("GOOD@example.com", "in-batch-duplicate"),
        _associated("z@example.com", "association", "424242"),
    )
    assert response.status_code == 207
    body = response.json()
    assert batch_response_problems(body, 207) == []
    assert len(body["errors"]) == 6
    for error in body["errors"]:
        assert error["links"] == {}
        assert isinstance(error["errors"], list)
        (trace,) = error["context"]["objectWriteTraceId"]
        if trace in ("conflict", "in-batch-duplicate", "association"):
            assert error["errors"] == []


def test_update_errors_are_whole_standard_errors(api, hubspot_sandbox):
    known = hubspot_sandbox.add_contact({"email": "u@example.com"})
    body = {
        "inputs": [
            {"id": known, "properties": {"firstname": "Ada"}, "objectWriteTraceId": "1"},
            {"id": "999999", "properties": {"firstname": "X"}, "objectWriteTraceId": "2"},
            {"id": known + "0", "properties": {"email": "bad@"}, "objectWriteTraceId": "3"},
        ]
    }
    response = api.post(f"{CONTACTS}/batch/update", body)
    assert response.status_code == 207
    assert batch_response_problems(response.json(), 207) == []


def test_update_not_found_without_trace_ids_is_a_whole_standard_error(api):
    body = {"inputs": [{"id": "999999", "properties": {"firstname": "X"}}]}
    response = api.post(f"{CONTACTS}/batch/update", body)
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert standard_error_problems(error) == []
    assert error["context"] == {"ids": ["999999"]}


def test_upsert_errors_are_whole_standard_errors(api, hubspot_sandbox):
    hubspot_sandbox.configure(
        custom_properties=[{"name": "crmsync_id", "type": "string", "hasUniqueValue": True}]
    )
    hubspot_sandbox.add_contact({"email": "main@example.com", "hs_additional_emails": "o@x.com"})
    inputs = [
        {"idProperty": "crmsync_id", "id": "k1", "properties": {"email": "new@example.com"}},
        {"idProperty": "crmsync_id", "id": "k2", "properties": {"email": "b@"}},
        {"idProperty": "crmsync_id", "id": "k3", "properties": {"email": "o@x.com"}},
    ]
    for i, item in enumerate(inputs):
        item["objectWriteTraceId"] = str(i)
    response = api.post(f"{CONTACTS}/batch/upsert", {"inputs": inputs})
    assert response.status_code == 207
    body = response.json()
    assert batch_response_problems(body, 207) == []
    assert len(body["errors"]) == 2


def test_read_not_found_is_a_whole_standard_error(api):
    body = {"inputs": [{"id": "gone@example.com"}], "idProperty": "email", "properties": ["email"]}
    response = api.post(f"{CONTACTS}/batch/read", {**body, "propertiesWithHistory": []})
    assert response.status_code == 207
    answer = response.json()
    assert batch_response_problems(answer, 207) == []
    assert answer["errors"][0]["links"] == {} and answer["errors"][0]["errors"] == []


def test_successful_writes_conform(api, hubspot_sandbox):
    created = api.create(contact("a@example.com", "1"), contact("b@example.com", "2"))
    assert created.status_code == 201
    assert batch_response_problems(created.json(), 201) == []
    first = created.json()["results"][0]["id"]
    updated = api.post(
        f"{CONTACTS}/batch/update", {"inputs": [{"id": first, "properties": {"firstname": "A"}}]}
    )
    assert updated.status_code == 200
    assert batch_response_problems(updated.json(), 200) == []


@pytest.mark.parametrize("fault", ["fault_423_rate", "fault_477_rate"])
def test_other_faults_answer_hubspots_json_error_body(api, hubspot_sandbox, fault):
    hubspot_sandbox.configure(**{fault: 1.0})
    assert error_body_problems(api.create(contact("a@example.com")).json()) == []


def test_whole_batch_failures_conform(api, hubspot_sandbox):
    hubspot_sandbox.add_contact({"email": "taken@example.com"})
    invalid = api.create(contact("bad@"))
    conflict = api.create(contact("taken@example.com"))
    too_many = api.create(*[contact(f"x{i}@example.com") for i in range(101)])
    for response, status in ((invalid, 400), (conflict, 409), (too_many, 400)):
        assert response.status_code == status
        assert error_body_problems(response.json()) == []


def test_the_association_checkers_catch_wrong_shapes():
    from spec_shapes import (
        association_batch_problems,
        association_multi_with_label_problems,
        labels_between_object_pair_problems,
        public_default_association_problems,
    )

    pair = {"fromObjectTypeId": "0-1", "fromObjectId": 1, "toObjectTypeId": "0-2", "toObjectId": 2}
    assert labels_between_object_pair_problems({**pair, "labels": []}) == []
    assert labels_between_object_pair_problems(pair) == ["result.labels must be a list of strings"]
    assert labels_between_object_pair_problems({**pair, "labels": [], "toObjectId": True})
    default = {"from": {"id": "1"}, "to": {"id": "2"}, "associationSpec": {}}
    assert len(public_default_association_problems(default)) == 2
    multi = {"from": {"id": "1"}, "to": [{"toObjectId": 2, "associationTypes": [{"typeId": 1}]}]}
    assert len(association_multi_with_label_problems(multi)) == 2  # category, label
    body = {"status": "COMPLETE", "results": [], "startedAt": "x", "completedAt": "y"}
    assert association_batch_problems(body, 201, labels_between_object_pair_problems) == []
    assert association_batch_problems(body, 207, labels_between_object_pair_problems) == [
        "a 207 needs a non-empty errors list"
    ]
    with_errors = {**body, "errors": [{"status": "error"}], "numErrors": 1}
    assert association_batch_problems(with_errors, 207, labels_between_object_pair_problems)
