"""Property groups, property creation, read-only definitions and the portal's validation rules
(served at the date versions, enforced on writes at 2026-09 only)."""

from __future__ import annotations

import pytest
from sandbox_helpers import contact

GROUPS = "/crm/v3/properties/contacts/groups"
RULES = [
    {
        "propertyName": "jobtitle",
        "propertyValidationRules": [
            {"ruleType": "REQUIRED_IF", "ruleArguments": ["lifecyclestage", "customer"]}
        ],
    },
    {"propertyName": "lastname", "propertyValidationRules": [{"ruleType": "REQUIRED"}]},
    {
        "propertyName": "zip",
        "propertyValidationRules": [
            {"ruleType": "ALPHANUMERIC", "ruleArguments": ["NUMERIC_ONLY"]}
        ],
    },
]


@pytest.mark.parametrize("path", [GROUPS, "/crm/properties/2026-09/contacts/groups"])
def test_groups_are_listed_created_and_a_second_create_is_a_409(api, path):
    names = {g["name"] for g in api.get(path).json()["results"]}
    assert "contactinformation" in names and "crmsync" not in names
    created = api.post(path, {"name": "crmsync", "label": "crmsync", "displayOrder": 5})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "crmsync"
    again = api.post(path, {"name": "crmsync", "label": "crmsync"})
    assert again.status_code == 409
    assert again.json()["category"] == "CONFLICT"
    assert "already exists" in again.json()["message"]
    assert "crmsync" in {g["name"] for g in api.get(path).json()["results"]}


def test_a_bad_group_is_a_400(api):
    assert api.post(GROUPS, {"name": "Bad Name", "label": "x"}).status_code == 400
    assert api.post(GROUPS, {"name": "ok"}).status_code == 400


def test_a_property_is_created_in_an_existing_group_only_and_409_when_it_exists(api):
    body = {
        "name": "favorite_color",
        "label": "Favorite color",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "crmsync",
        "hasUniqueValue": False,
        "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
    }
    missing = api.post("/crm/v3/properties/contacts", body)
    assert missing.status_code == 400
    assert "Property group crmsync does not exist" in missing.json()["message"]
    api.post(GROUPS, {"name": "crmsync", "label": "crmsync"})
    created = api.post("/crm/properties/2026-03/contacts", body)
    assert created.status_code == 201, created.text
    assert created.json()["groupName"] == "crmsync"
    assert [o["value"] for o in created.json()["options"]] == ["red", "blue"]
    again = api.post("/crm/v3/properties/contacts", body)
    assert again.status_code == 409
    assert again.json()["message"] == "Property named 'favorite_color' already exists."


def test_calculated_and_hubspot_owned_properties_are_read_only(api):
    props = {p["name"]: p for p in api.get("/crm/v3/properties/contacts").json()["results"]}
    deals = props["num_associated_deals"]
    assert deals["calculated"] is True
    assert deals["modificationMetadata"]["readOnlyValue"] is True
    assert props["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert props["hs_lead_status"]["modificationMetadata"]["readOnlyValue"] is False
    response = api.create(contact("a@example.com", num_associated_deals="3"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "READ_ONLY_VALUE"


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
@pytest.mark.parametrize("version", ["2026-03", "2026-09"])
def test_rules_are_served_at_the_date_versions(api, version):
    response = api.get(f"/crm/property-validations/{version}/0-1")
    assert response.status_code == 200
    by_name = {r["propertyName"]: r for r in response.json()["results"]}
    assert by_name["jobtitle"]["propertyValidationRules"][0] == {
        "ruleType": "REQUIRED_IF",
        "ruleArguments": ["lifecyclestage", "customer"],
        "shouldApplyNormalization": False,
    }


def test_rules_have_no_v3_path(api):
    assert api.get("/crm/v3/property-validations/0-1").status_code == 404


def _create_at(api, version, **properties):
    path = f"/crm/objects/{version}/contacts/batch/create"
    return api.post(path, {"inputs": [contact(**properties)]})


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_rules_are_enforced_at_2026_09_only(api):
    props = {"email": "a@example.com", "lifecyclestage": "customer", "lastname": "Lovelace"}
    assert _create_at(api, "2026-03", **props).status_code == 201
    props["email"] = "b@example.com"
    rejected = _create_at(api, "2026-09", **props)
    assert rejected.status_code == 400
    body = rejected.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["subCategory"] == "PROPERTY_VALIDATION_RULE"
    (detail,) = body["errors"]
    assert detail["code"] == "VALIDATION_RULE_VIOLATED"
    assert detail["message"] == (
        "jobtitle is required when lifecyclestage is customer (a validation rule of this portal)."
    )
    props["jobtitle"] = "Countess"
    assert _create_at(api, "2026-09", **props).status_code == 201


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_create_form_fields_and_format_rules(api):
    missing = _create_at(api, "2026-09", email="c@example.com")
    assert missing.json()["errors"][0]["context"] == {"propertyName": ["lastname"]}
    zip_code = _create_at(api, "2026-09", email="d@example.com", lastname="X", zip="AB1")
    assert zip_code.status_code == 400
    assert "only numeric characters" in zip_code.json()["errors"][0]["message"]


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_an_update_is_checked_over_what_the_record_holds(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "e@example.com", "lastname": "X"})
    path = "/crm/objects/2026-09/contacts/batch/update"
    item = {"id": contact_id, "properties": {"lifecyclestage": "customer"}}
    item["objectWriteTraceId"] = "t1"
    answer = api.post(path, {"inputs": [item]})
    assert answer.status_code == 207
    (error,) = answer.json()["errors"]
    assert error["subCategory"] == "PROPERTY_VALIDATION_RULE"
    assert error["context"]["objectWriteTraceId"] == ["t1"]
    item["properties"]["jobtitle"] = "CEO"
    assert api.post(path, {"inputs": [item]}).status_code == 200


def test_bad_rules_are_refused_by_the_control_api(hubspot_sandbox):
    from crmsync.sandbox.config import ConfigError

    with pytest.raises(ConfigError):
        hubspot_sandbox.configure(
            validation_rules=[
                {"propertyName": "x", "propertyValidationRules": [{"ruleType": "NOPE"}]}
            ]
        )
