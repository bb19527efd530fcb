"""Associations v4, contacts -> companies, over HTTP: create, default, archive, read, labels."""

from __future__ import annotations

import pytest
import requests
from sandbox_helpers import CONTACTS, contact
from spec_shapes import (
    association_batch_problems,
    association_multi_with_label_problems,
    error_body_problems,
    labels_between_object_pair_problems,
    public_default_association_problems,
)

V4 = "/crm/v4/associations/contacts/companies"
UNLABELED = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
PRIMARY = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}


def _pair(contact_id, company_id, *types):
    item = {"from": {"id": contact_id}, "to": {"id": company_id}}
    if types:
        item["types"] = list(types)
    return item


def _create(api, *inputs, path=V4):
    return api.post(f"{path}/batch/create", {"inputs": list(inputs)})


def _read(api, *ids):
    return api.post(f"{V4}/batch/read", {"inputs": [{"id": i} for i in ids]})


@pytest.fixture
def ada(hubspot_sandbox):
    return hubspot_sandbox.add_contact({"email": "ada@example.com"})


def test_batch_create_answers_201_with_labels_between_object_pairs(api, hubspot_sandbox, ada):
    response = _create(api, _pair(ada, "9001", UNLABELED), _pair(ada, "9002", PRIMARY))
    assert response.status_code == 201
    body = response.json()
    assert association_batch_problems(body, 201, labels_between_object_pair_problems) == []
    by_company = {r["toObjectId"]: r for r in body["results"]}
    assert by_company[9001] == {
        "fromObjectTypeId": "0-1",
        "fromObjectId": int(ada),
        "toObjectTypeId": "0-2",
        "toObjectId": 9001,
        "labels": [],
    }
    assert by_company[9002]["labels"] == ["Primary"]
    assert hubspot_sandbox.associations(ada) == ["9001", "9002"]
    # A labeled association comes with the unlabeled one, as in HubSpot.
    assert hubspot_sandbox.association_types(ada) == {"9001": [279], "9002": [1, 279]}
    assert hubspot_sandbox.stats()["associations_created"] == 2
    assert hubspot_sandbox.stats()["requests_by_endpoint"]["assoc_create"] == {"201": 1}


def test_batch_create_is_idempotent(api, hubspot_sandbox, ada):
    assert _create(api, _pair(ada, "9001", UNLABELED)).status_code == 201
    assert _create(api, _pair(ada, "9001", UNLABELED)).status_code == 201
    assert hubspot_sandbox.association_types(ada) == {"9001": [279]}


def test_a_new_primary_company_demotes_the_old_one(api, hubspot_sandbox, ada):
    _create(api, _pair(ada, "9001", PRIMARY))
    _create(api, _pair(ada, "9002", PRIMARY))
    assert hubspot_sandbox.association_types(ada) == {"9001": [279], "9002": [1, 279]}


def test_unknown_contact_or_company_is_a_per_input_207(api, hubspot_sandbox, ada):
    response = _create(
        api,
        _pair(ada, "9001", UNLABELED),
        _pair("999999999", "9001", UNLABELED),
        _pair(ada, "424242", UNLABELED),
    )
    assert response.status_code == 207
    body = response.json()
    assert association_batch_problems(body, 207, labels_between_object_pair_problems) == []
    assert [r["toObjectId"] for r in body["results"]] == [9001]
    assert body["numErrors"] == 2
    errors = sorted(body["errors"], key=lambda e: sorted(e["context"]))
    assert errors == [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "No CONTACT with id 999999999 exists",
            "context": {"fromObjectId": ["999999999"]},
            "links": {},
            "errors": [],
        },
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "No COMPANY with id 424242 exists",
            "context": {"toObjectId": ["424242"]},
            "links": {},
            "errors": [],
        },
    ]
    assert hubspot_sandbox.associations(ada) == ["9001"]


def test_an_archived_contact_cannot_be_associated(api, hubspot_sandbox, ada):
    api.post(f"{CONTACTS}/batch/archive", {"inputs": [{"id": ada}]})
    response = _create(api, _pair(ada, "9001", UNLABELED))
    assert response.status_code == 207
    assert response.json()["errors"][0]["context"] == {"fromObjectId": [ada]}


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"inputs": "x"},
        {"inputs": [{"from": {"id": "1"}, "to": {"id": "9001"}}]},  # no types
        {"inputs": [{"from": {"id": "1"}, "to": {"id": "9001"}, "types": []}]},
        {"inputs": [{"from": "1", "to": {"id": "9001"}, "types": [UNLABELED]}]},
        {"inputs": [{"from": {"id": "1"}, "to": {}, "types": [UNLABELED]}]},
        {"inputs": [{"from": {"id": "1"}, "to": {"id": "9001"}, "types": [{"x": 1}]}]},
        {
            "inputs": [
                {
                    "from": {"id": "1"},
                    "to": {"id": "9001"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
                }
            ]
        },
        {"inputs": [_pair("1", "9001", UNLABELED)] * 2001},
    ],
)
def test_bad_bodies_are_a_400_validation_error(api, hubspot_sandbox, body):
    response = api.post(f"{V4}/batch/create", body)
    assert response.status_code == 400
    assert error_body_problems(response.json()) == []
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_associate_default_creates_the_unlabeled_association(api, hubspot_sandbox, ada):
    response = api.post(
        f"{V4}/batch/associate/default",
        {"inputs": [_pair(ada, "9003"), _pair(ada, "31337")]},
    )
    assert response.status_code == 207
    body = response.json()
    assert association_batch_problems(body, 207, public_default_association_problems) == []
    assert body["results"] == [
        {"from": {"id": ada}, "to": {"id": "9003"}, "associationSpec": UNLABELED}
    ]
    assert body["errors"][0]["context"] == {"toObjectId": ["31337"]}
    assert hubspot_sandbox.association_types(ada) == {"9003": [279]}
    ok = api.post(f"{V4}/batch/associate/default", {"inputs": [_pair(ada, "9004")]})
    assert ok.status_code == 200
    assert association_batch_problems(ok.json(), 200, public_default_association_problems) == []


def test_archive_removes_every_association_of_the_pairs(api, hubspot_sandbox, ada):
    _create(api, _pair(ada, "9001", PRIMARY), _pair(ada, "9002", UNLABELED))
    _create(api, _pair(ada, "9003", UNLABELED))
    response = api.post(
        f"{V4}/batch/archive",
        {
            "inputs": [
                {"from": {"id": ada}, "to": [{"id": "9001"}, {"id": "9003"}, {"id": "9005"}]},
                {"from": {"id": "999999999"}, "to": [{"id": "9001"}]},
            ]
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert hubspot_sandbox.associations(ada) == ["9002"]
    assert hubspot_sandbox.stats()["associations_archived"] == 2
    bad = api.post(f"{V4}/batch/archive", {"inputs": [{"from": {"id": ada}, "to": {"id": "1"}}]})
    assert bad.status_code == 400


def test_labels(api):
    response = api.get(f"{V4}/labels")
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
        ]
    }


def test_batch_read_lists_companies_with_their_types(api, hubspot_sandbox, ada):
    bob = hubspot_sandbox.add_contact({"email": "bob@example.com"})
    _create(api, _pair(ada, "9001", PRIMARY), _pair(ada, "9002", UNLABELED))
    response = _read(api, ada, bob, "999999999")
    assert response.status_code == 207
    body = response.json()
    assert association_batch_problems(body, 207, association_multi_with_label_problems) == []
    assert body["results"] == [
        {
            "from": {"id": ada},
            "to": [
                {
                    "toObjectId": 9001,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
                        {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
                    ],
                },
                {
                    "toObjectId": 9002,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
                    ],
                },
            ],
        }
    ]
    errors = {e["context"]["fromObjectId"][0]: e for e in body["errors"]}
    assert set(errors) == {bob, "999999999"}
    assert errors[bob] == {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No company is associated with contact {bob}.",
        "context": {
            "fromObjectId": [bob],
            "fromObjectType": ["contact"],
            "toObjectType": ["company"],
        },
        "links": {},
        "errors": [],
    }
    only_ada = _read(api, ada)
    assert only_ada.status_code == 200
    assert "errors" not in only_ada.json()
    assert _read(api, *[str(i) for i in range(1001)]).status_code == 400


def test_associations_given_at_contact_creation_share_the_store(api, hubspot_sandbox):
    item = contact("c@example.com")
    item["associations"] = [{"to": {"id": "9004"}, "types": [PRIMARY]}]
    created = api.create(item)
    assert created.status_code == 201
    contact_id = created.json()["results"][0]["id"]
    assert hubspot_sandbox.association_types(contact_id) == {"9004": [1, 279]}
    (result,) = _read(api, contact_id).json()["results"]
    assert [t["toObjectId"] for t in result["to"]] == [9004]
    api.post(
        f"{V4}/batch/archive", {"inputs": [{"from": {"id": contact_id}, "to": [{"id": "9004"}]}]}
    )
    assert hubspot_sandbox.associations(contact_id) == []
    assert hubspot_sandbox.contacts()[0]["associations"] == []


def test_archived_contacts_have_no_associations_to_read(api, hubspot_sandbox, ada):
    hubspot_sandbox.associate(ada, "9001")
    api.post(f"{CONTACTS}/batch/archive", {"inputs": [{"id": ada}]})
    response = _read(api, ada)
    assert response.status_code == 207
    assert response.json()["results"] == []
    # The sandbox keeps them with the archived record, as HubSpot does for a restore.
    assert hubspot_sandbox.associations(ada) == ["9001"]


def test_python_api_associate_and_unknown_ids(hubspot_sandbox, ada):
    hubspot_sandbox.associate(ada, "9002", 1)
    assert hubspot_sandbox.association_types(ada) == {"9002": [1, 279]}
    with pytest.raises(KeyError):
        hubspot_sandbox.associate(ada, "424242")
    with pytest.raises(KeyError):
        hubspot_sandbox.associations("999999999")


def test_date_versioned_and_singular_paths(api, hubspot_sandbox, ada):
    path = "/crm/associations/2026-03/contact/company"
    assert _create(api, _pair(ada, "9001", UNLABELED), path=path).status_code == 201
    assert api.get("/crm/associations/2026-09/0-1/0-2/labels").status_code == 200
    assert hubspot_sandbox.associations(ada) == ["9001"]
    other = api.post("/crm/v4/associations/contacts/deals/batch/create", {"inputs": []})
    assert other.status_code == 404


def test_missing_scopes_names_the_write_scope_for_writes(api, hubspot_sandbox, ada):
    hubspot_sandbox.configure(missing_scopes=True)
    write = _create(api, _pair(ada, "9001", UNLABELED))
    assert write.status_code == 403
    scopes = write.json()["errors"][0]["context"]["requiredGranularScopes"]
    assert scopes == ["crm.objects.contacts.write"]
    for response in (
        api.post(f"{V4}/batch/archive", {"inputs": []}),
        api.post(f"{V4}/batch/associate/default", {"inputs": []}),
    ):
        assert response.status_code == 403
        scopes = response.json()["errors"][0]["context"]["requiredGranularScopes"]
        assert scopes == ["crm.objects.contacts.write"]
    read = _read(api, ada)
    assert read.status_code == 403
    scopes = read.json()["errors"][0]["context"]["requiredGranularScopes"]
    assert scopes == ["crm.objects.contacts.read"]
    assert api.get(f"{V4}/labels").status_code == 403
    assert hubspot_sandbox.associations(ada) == []


@pytest.mark.hubspot_sandbox(rate_limit_max=2)
def test_associations_count_toward_the_rate_limit(api, ada):
    first = api.get(f"{V4}/labels")
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert _read(api, ada).status_code == 207
    limited = _create(api, _pair(ada, "9001", UNLABELED))
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"


@pytest.mark.hubspot_sandbox(fault_423_rate=1.0, fault_endpoints=("assoc_create", "assoc_archive"))
def test_faults_apply_to_the_association_endpoints_named(api, hubspot_sandbox, ada):
    assert _create(api, _pair(ada, "9001", UNLABELED)).status_code == 423
    archive = api.post(f"{V4}/batch/archive", {"inputs": []})
    assert archive.status_code == 423
    assert _read(api, ada).status_code == 207  # assoc_read is not in fault_endpoints
    assert api.create(contact("x@example.com")).status_code == 201  # nor is create
    assert hubspot_sandbox.associations(ada) == []
    stats = hubspot_sandbox.stats()
    assert stats["faults"] == {"423": 2}
    assert stats["requests_by_endpoint"]["assoc_archive"] == {"423": 1}


@pytest.mark.hubspot_sandbox(drop_after_commit_rate=1.0, fault_endpoints=("assoc_create",))
def test_a_dropped_answer_leaves_the_association_written(api, hubspot_sandbox, ada):
    with pytest.raises(requests.ConnectionError):
        _create(api, _pair(ada, "9001", UNLABELED))
    assert hubspot_sandbox.associations(ada) == ["9001"]
    assert hubspot_sandbox.stats()["requests_by_endpoint"]["assoc_create"] == {"dropped": 1}
