"""Property definitions and HubSpot's validation of property values."""

from __future__ import annotations

import json

import pytest
from sandbox_helpers import CONTACTS

PROPERTIES = "/crm/v3/properties/contacts"


def _rejected(api, **properties):
    """The 400 error for one contact with these properties: (code, message, body)."""
    response = api.create({"properties": properties})
    assert response.status_code == 400, response.text
    body = response.json()
    (detail,) = body["errors"]
    return detail["code"], detail["message"], body


def test_validation_error_body_has_hubspots_shape(api):
    code, message, body = _rejected(api, email="a@example.com", lifecyclestage="nope")
    assert code == "INVALID_OPTION"
    assert body["category"] == "VALIDATION_ERROR"
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    (result,) = json.loads(body["message"][len(prefix) :])
    assert result == {
        "isValid": False,
        "message": message,
        "error": "INVALID_OPTION",
        "name": "lifecyclestage",
    }
    assert body["errors"][0]["context"] == {"propertyName": ["lifecyclestage"]}
    assert message.startswith("nope was not one of the allowed options: [subscriber, lead")


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ({"no_such_property": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
        ({"createdate": "1572480000000"}, "READ_ONLY_VALUE"),
        ({"annualrevenue": "12abc"}, "INVALID_LONG"),
        ({"annualrevenue": " 12"}, "INVALID_WHITESPACE"),
        ({"hs_email_optout": "True"}, "INVALID_BOOLEAN"),
        ({"hs_lead_status": "new"}, "INVALID_OPTION"),  # option values are case-sensitive
        ({"numemployees": "7"}, "INVALID_OPTION"),
        ({"firstname": 5}, "INVALID_TYPE"),
        ({"firstname": None}, "INVALID_TYPE"),
        ({"message": "x" * 65_537}, "MAX_LENGTH"),
        ({"date_of_birth": "1990-02-30"}, "INVALID_DATE"),
        ({"closedate": "yesterday"}, "INVALID_DATETIME"),
    ],
)
def test_invalid_values_are_rejected_with_hubspots_codes(api, properties, code):
    assert _rejected(api, **properties)[0] == code


@pytest.mark.parametrize(
    "email",
    ["x@y", "x@y.c0m", "no-at-sign.com", "a b@example.com", "josé@example.com", "a@exämple.de"],
)
def test_invalid_emails(api, email):
    code, message, _ = _rejected(api, email=email)
    assert code == "INVALID_EMAIL"
    assert message == f"Email address {email} is invalid"


def test_date_that_is_not_midnight_utc_is_refused_with_hubspots_message(api):
    code, message, _ = _rejected(api, date_of_birth="1572527460000")  # 13:11:00 UTC
    assert code == "INVALID_DATE"
    assert message == "1572527460000 is at 13:11:0.0 UTC, not midnight!"


def test_valid_values_are_stored_normalized(api, hubspot_sandbox):
    properties = {
        "email": "ok@example.com",
        "date_of_birth": "1572480000000",
        "closedate": "2019-10-30T03:30:17.883Z",
        "annualrevenue": "17.5",
        "hs_email_optout": "false",
        "numemployees": "1000+",
        "hubspot_owner_id": "12345",
        "message": "x" * 65_536,
    }
    assert api.create({"properties": properties}).status_code == 201
    stored = hubspot_sandbox.contact_by_email("ok@example.com")["properties"]
    assert stored["date_of_birth"] == "2019-10-31"
    assert stored["closedate"] == "2019-10-30T03:30:17.883Z"
    assert stored["annualrevenue"] == "17.5"
    assert stored["numemployees"] == "1000+"


def test_date_accepts_iso_day_and_datetime_accepts_epoch_ms(api, hubspot_sandbox):
    properties = {"email": "d@example.com", "date_of_birth": "1990-01-02", "closedate": "0"}
    assert api.create({"properties": properties}).status_code == 201
    stored = hubspot_sandbox.contact_by_email("d@example.com")["properties"]
    assert stored["date_of_birth"] == "1990-01-02"
    assert stored["closedate"] == "1970-01-01T00:00:00.000Z"


def test_checkbox_enumeration_takes_semicolon_joined_values(api, hubspot_sandbox):
    hubspot_sandbox.add_property(
        {
            "name": "flavours",
            "label": "Flavours",
            "type": "enumeration",
            "fieldType": "checkbox",
            "options": [
                {"label": "C", "value": "chocolate"},
                {"label": "S", "value": "strawberry"},
            ],
        }
    )
    ok = api.create({"properties": {"flavours": "chocolate;strawberry"}})
    assert ok.status_code == 201
    assert _rejected(api, flavours="chocolate;mint")[0] == "INVALID_OPTION"


def test_empty_string_clears_a_value(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "c@example.com", "firstname": "Ada"})
    response = api.post(
        f"{CONTACTS}/batch/update",
        {"inputs": [{"id": contact_id, "properties": {"firstname": ""}}]},
    )
    assert response.status_code == 200
    assert "firstname" not in hubspot_sandbox.contact_by_email("c@example.com")["properties"]


def test_property_definitions_list(api):
    response = api.get(PROPERTIES)
    assert response.status_code == 200
    defs = {p["name"]: p for p in response.json()["results"]}
    for name in (
        "email",
        "firstname",
        "lastname",
        "phone",
        "company",
        "lifecyclestage",
        "hs_lead_status",
        "date_of_birth",
        "annualrevenue",
        "message",
    ):
        assert name in defs
    stage = defs["lifecyclestage"]
    assert (stage["type"], stage["fieldType"]) == ("enumeration", "radio")
    assert [o["value"] for o in stage["options"]][:2] == ["subscriber", "lead"]
    assert {"label", "value"} <= stage["options"][0].keys()
    assert defs["message"]["fieldType"] == "textarea"
    assert defs["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert defs["email"]["modificationMetadata"]["readOnlyValue"] is False
    assert "hasUniqueValue" in defs["email"]


def test_create_custom_property_then_use_it_and_409_when_it_exists(api, hubspot_sandbox):
    definition = {
        "name": "favourite_colour",
        "label": "Favourite colour",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
    }
    created = api.post(PROPERTIES, definition)
    assert created.status_code == 201
    assert created.json()["name"] == "favourite_colour"
    assert api.get(f"{PROPERTIES}/favourite_colour").json()["options"][1]["value"] == "blue"
    again = api.post(PROPERTIES, definition)
    assert again.status_code == 409
    assert again.json()["category"] == "CONFLICT"
    assert api.create({"properties": {"favourite_colour": "red"}}).status_code == 201
    assert _rejected(api, favourite_colour="green")[0] == "INVALID_OPTION"


def test_invalid_custom_property_definition_is_a_400(api):
    response = api.post(PROPERTIES, {"name": "Bad Name", "type": "string", "fieldType": "text"})
    assert response.status_code == 400


@pytest.mark.hubspot_sandbox(
    custom_properties=[
        {"name": "loyalty_points", "label": "Points", "type": "number", "fieldType": "number"}
    ]
)
def test_custom_properties_given_at_start_up(api):
    names = {p["name"] for p in api.get(PROPERTIES).json()["results"]}
    assert "loyalty_points" in names
    assert api.create({"properties": {"loyalty_points": "12"}}).status_code == 201
    assert _rejected(api, loyalty_points="twelve")[0] == "INVALID_LONG"


def test_custom_properties_from_start_up_are_gone_after_the_test(api):
    names = {p["name"] for p in api.get(PROPERTIES).json()["results"]}
    assert "loyalty_points" not in names
    assert "favourite_colour" not in names
