"""crmsync.preflight: every property of a row against HubSpot's schema, converted by the
property's type (pure: no HTTP)."""

from __future__ import annotations

import pytest

from crmsync import preflight
from crmsync.propertydefs import PortalRule, build_schema

SCHEMA, _ = build_schema(
    [
        {"name": "email", "type": "string", "fieldType": "text"},
        {"name": "firstname", "type": "string", "fieldType": "text"},
        {"name": "jobtitle", "type": "string", "fieldType": "text"},
        {"name": "zip", "type": "string", "fieldType": "text"},
        {"name": "annualrevenue", "type": "number", "fieldType": "number"},
        {"name": "hs_email_optout", "type": "bool", "fieldType": "booleancheckbox"},
        {"name": "date_of_birth", "type": "date", "fieldType": "date"},
        {"name": "closedate", "type": "datetime", "fieldType": "date"},
        {
            "name": "favorite_color",
            "type": "enumeration",
            "fieldType": "select",
            "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
        },
        {
            "name": "flavours",
            "type": "enumeration",
            "fieldType": "checkbox",
            "options": [{"value": "chocolate"}, {"value": "strawberry"}],
        },
        {"name": "hubspot_owner_id", "type": "enumeration", "externalOptions": True},
        {
            "name": "hs_object_id",
            "type": "number",
            "modificationMetadata": {"readOnlyValue": True},
        },
        {"name": "num_associated_deals", "type": "number", "calculated": True},
        {"name": "lifecyclestage", "type": "enumeration", "options": [{"value": "customer"}]},
    ],
    None,
)

# (property, value given, what is sent) for values preflight lets through
CONVERTED = [
    ("firstname", "Ada", "Ada"),
    ("annualrevenue", "17", "17"),
    ("annualrevenue", " 1.50 ", "1.5"),
    ("annualrevenue", "1e3", "1000"),
    ("hs_email_optout", "true", "true"),
    ("hs_email_optout", "True", "true"),
    ("hs_email_optout", "FALSE", "false"),
    ("date_of_birth", "1990-05-01", "641520000000"),
    ("date_of_birth", "641520000000", "641520000000"),
    ("date_of_birth", "1990-05-01T00:00:00.000Z", "641520000000"),
    ("date_of_birth", "1990-05-01T02:00:00+02:00", "641520000000"),
    ("closedate", "2019-10-30T03:30:17.883Z", "2019-10-30T03:30:17.883Z"),
    ("closedate", "2019-10-30T05:30:17.883+02:00", "2019-10-30T03:30:17.883Z"),
    ("closedate", "2019-10-30", "2019-10-30T00:00:00.000Z"),
    ("closedate", "1572406217883", "1572406217883"),
    ("favorite_color", "red", "red"),
    ("flavours", "chocolate;strawberry", "chocolate;strawberry"),
    ("flavours", ";chocolate", ";chocolate"),
    ("hubspot_owner_id", "12345", "12345"),
    ("annualrevenue", "", ""),  # clears, whatever the type
]

# (property, value, the problem's message)
REFUSED = [
    ("no_such", "x", "no_such: HubSpot has no contact property of this name"),
    ("hs_object_id", "5", "hs_object_id: read-only in HubSpot"),
    ("num_associated_deals", "2", "num_associated_deals: read-only in HubSpot"),
    ("hs_object_id", "", "hs_object_id: read-only in HubSpot"),
    ("favorite_color", "Red", "favorite_color: 'Red' is not one of the allowed options: red, blue"),
    ("flavours", "chocolate;vanilla", "flavours: 'vanilla' is not one of the allowed options"),
    ("annualrevenue", "12,5", "annualrevenue: '12,5' is not a number"),
    ("annualrevenue", "NaN", "annualrevenue: 'NaN' is not a number"),
    ("hs_email_optout", "maybe", "hs_email_optout: 'maybe' is not a boolean"),
    ("hs_email_optout", "yes", "hs_email_optout: 'yes' is not a boolean (HubSpot takes true"),
    ("hs_email_optout", "1", "hs_email_optout: '1' is not a boolean"),
    ("date_of_birth", "1990-05-01T13:01:00Z", "is at 13:01:00 UTC, not midnight"),
    ("date_of_birth", "641520000001", "641520000001 is not midnight UTC"),
    ("date_of_birth", "2001-02-30", "date_of_birth: '2001-02-30' is not a date"),
    ("date_of_birth", "yesterday", "'yesterday' is not a date"),
    ("closedate", "soon", "closedate: 'soon' is not a datetime"),
]


@pytest.mark.parametrize(("name", "value", "sent"), CONVERTED)
def test_values_are_converted_by_the_propertys_type(name, value, sent):
    converted, problems = preflight.convert({name: value}, SCHEMA)
    assert problems == []
    assert converted == {name: sent}


@pytest.mark.parametrize(("name", "value", "message"), REFUSED)
def test_what_hubspot_would_refuse_is_named_with_what_it_allows(name, value, message):
    problems = preflight.check({name: value, "firstname": "Ada"}, SCHEMA)
    assert [p.name for p in problems] == [name]
    assert message in problems[0].message
    assert not problems[0].portal_rule


def test_every_problem_of_a_row_is_reported_at_once():
    problems = preflight.check({"favorite_color": "Red", "annualrevenue": "x"}, SCHEMA)
    assert {p.name for p in problems} == {"favorite_color", "annualrevenue"}
    assert [p.unknown for p in preflight.check({"nope": "1"}, SCHEMA)] == [True]


RULES = (
    PortalRule("jobtitle", "REQUIRED_IF", ("lifecyclestage", "customer")),
    PortalRule("firstname", "REQUIRED"),
    PortalRule("zip", "ALPHANUMERIC", ("NUMERIC_ONLY",)),
    PortalRule("jobtitle", "MAX_LENGTH", ("5",)),
    PortalRule("firstname", "SOMETHING_NEW"),  # a rule crmsync does not know: HubSpot decides
)


@pytest.mark.parametrize(
    ("properties", "creating", "existing", "broken"),
    [
        ({"firstname": "A", "lifecyclestage": "customer"}, True, None, ["jobtitle"]),
        ({"firstname": "A", "lifecyclestage": "customer", "jobtitle": "CEO"}, True, None, []),
        ({"lifecyclestage": "customer", "jobtitle": "CEO"}, True, None, ["firstname"]),
        ({"lifecyclestage": "customer"}, False, {"jobtitle": "CEO"}, []),  # HubSpot holds it
        ({"lifecyclestage": "customer"}, False, {}, ["jobtitle"]),
        ({"jobtitle": ""}, False, {"lifecyclestage": "customer"}, ["jobtitle"]),  # a clear
        ({"firstname": "A", "zip": "75A01"}, True, None, ["zip"]),
        ({"firstname": "A", "jobtitle": "Director"}, True, None, ["jobtitle"]),
        ({"zip": "12345"}, False, {}, []),  # an update: the create form does not apply
    ],
)
def test_portal_rules(properties, creating, existing, broken):
    problems = preflight.check(properties, SCHEMA, RULES, creating=creating, existing=existing)
    assert [p.name for p in problems] == broken
    assert all(p.portal_rule for p in problems)


def test_a_conditional_requirement_names_the_condition():
    (problem,) = preflight.rule_problems(RULES[:1], {"lifecyclestage": "customer"}, creating=True)
    assert problem.message == (
        "jobtitle: required by a portal validation rule when lifecyclestage is customer"
    )


def test_a_malformed_schema_is_read_as_far_as_it_goes():
    schema, malformed = build_schema(
        [{"name": "email", "type": "string"}, "junk", {"type": "string"}, 5], [{"x": 1}]
    )
    assert set(schema.properties) == {"email"}
    assert len(malformed) == 4
    assert schema.rules == ()
    assert build_schema({"oops": True}, None)[0].properties == {}
