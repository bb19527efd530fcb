"""Mapping Python values to HubSpot's strings: pure functions, no HTTP, no database."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from decimal import Decimal

import pytest

from crmsync.exceptions import existing_id
from crmsync.mapping import (
    MappingError,
    PropertiesEncoder,
    build_associations,
    build_properties,
    error_message,
    error_trace_ids,
    stored_properties,
    to_hubspot_value,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, "false"),
        (True, "true"),
        (17, "17"),
        (dt.date(2019, 10, 31), "1572480000000"),
        (["chocolate", "strawberry"], "chocolate;strawberry"),
        (("a", "b"), "a;b"),
        ({"b", "a"}, "a;b"),
        (["b", "a"], "b;a"),  # a list keeps its order; only a set is sorted
        ({10, 2}, "10;2"),  # sorted as text
        (["a", ""], "a;"),
        ("x" * 65_536, "x" * 65_536),  # exactly HubSpot's limit
        (Decimal("1E+3"), "1000"),
        (Decimal("12.500"), "12.5"),
        (1e-7, "0.0000001"),
        (1e21, "1000000000000000000000"),
        (2.5, "2.5"),
        (-0.0, "0"),
        ("plain text", "plain text"),
        ("", ""),
        ("emoji 🎉 ok", "emoji 🎉 ok"),
        (dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC), "2019-10-30T03:30:17.883Z"),
        (
            dt.datetime(2019, 10, 30, 5, 30, 17, 883999, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2019-10-30T03:30:17.883Z",
        ),
    ],
)
def test_values_become_hubspot_strings(value, expected):
    assert to_hubspot_value(value) == expected


def test_none_is_omitted():
    assert to_hubspot_value(None) is None
    assert build_properties({"email": "a@b.co", "phone": None}, {"x_note": None}) == {
        "email": "a@b.co"
    }


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (float("nan"), "not a number"),
        (Decimal("Infinity"), "not a number"),
        ({"a": 1}, "type dict"),
        (b"bytes", "type bytes"),
        (object(), "type object"),
        ("x" * 65_537, "65,537 characters"),
        ("bell\x07", "control character U+0007"),
        (["a;b"], "contains ';'"),
        ([["nested"]], "only plain values"),
    ],
)
def test_unconvertible_values_raise_a_clear_error(value, fragment):
    with pytest.raises(MappingError, match="notes") as info:
        to_hubspot_value(value, "notes")
    assert fragment in str(info.value)


def test_properties_report_every_problem_at_once():
    with pytest.raises(MappingError) as info:
        build_properties({"email": "a@b.co"}, {"Bad Name": 1, "ok": {"x": 1}, "email": "x"})
    text = str(info.value)
    assert "'Bad Name'" in text
    assert "ok: cannot send a value of type dict" in text
    assert "email: set it on the contact's own field" in text


def test_properties_must_be_an_object():
    with pytest.raises(MappingError, match="JSON object"):
        build_properties({}, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_blank_model_fields_are_left_out_but_extra_empty_string_clears():
    out = build_properties({"email": "", "firstname": "Ada"}, {"jobtitle": ""})
    assert out == {"firstname": "Ada", "jobtitle": ""}


def test_associations_default_to_contact_company_unlabeled():
    assert build_associations([{"to": {"id": 9001}}]) == [
        {
            "to": {"id": "9001"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
        }
    ]
    assert build_associations([]) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"to": "1"},
        [{"to": {"id": "abc"}}],
        [{"to": {"id": "1"}, "types": [{"associationCategory": "NOPE", "associationTypeId": 1}]}],
        [{"to": {"id": "1"}, "types": [{"associationTypeId": "x"}]}],
        ["string"],
    ],
)
def test_bad_associations_raise(raw):
    with pytest.raises(MappingError, match="associations"):
        build_associations(raw)


def test_existing_id_is_parsed_from_the_message_not_the_category():
    assert existing_id("Contact already exists. Existing ID: 12345") == "12345"
    assert existing_id("Contact already exists. Existing ID:987") == "987"
    assert existing_id("Something else") is None


def test_error_trace_ids_accept_list_or_string():
    assert error_trace_ids({"context": {"objectWriteTraceId": ["a", "b"]}}) == ["a", "b"]
    assert error_trace_ids({"context": {"objectWriteTraceId": "a"}}) == ["a"]
    assert error_trace_ids({}) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "notes: nan is not a number HubSpot can store"),
        (Decimal("Infinity"), "notes: Decimal('Infinity') is not a number HubSpot can store"),
        ({"a": 1}, "notes: cannot send a value of type dict to HubSpot"),
        ("x" * 65_537, "notes: value is 65,537 characters; HubSpot allows at most 65,536"),
        (["x" * 40_000, "y" * 40_000],
         "notes: value is 80,001 characters; HubSpot allows at most 65,536"),
        ("bell\x07", "notes: contains control character U+0007 at position 4"),
        (["a;b"], "notes: option 'a;b' contains ';', HubSpot's separator"),
        ([["nested"]], "notes: a multi-value list may hold only plain values"),
        ([float("nan")], "notes: nan is not a number HubSpot can store"),
    ],
)  # fmt: skip
def test_unconvertible_values_exact_messages(value, message):
    with pytest.raises(MappingError) as info:
        to_hubspot_value(value, "notes")
    assert str(info.value) == message


def test_a_value_without_a_name_is_called_value():
    with pytest.raises(MappingError) as info:
        to_hubspot_value([object()])
    assert str(info.value) == "value: cannot send a value of type object to HubSpot"


@pytest.fixture
def local_zone_new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_datetimes_are_utc_whatever_the_local_zone(local_zone_new_york):
    naive = dt.datetime(2019, 10, 30, 3, 30, 17, 883000)
    assert to_hubspot_value(naive) == "2019-10-30T03:30:17.883Z"
    aware = dt.datetime(2019, 10, 30, 5, 30, 17, 883000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_hubspot_value(aware) == "2019-10-30T03:30:17.883Z"


@pytest.mark.parametrize(
    ("fields", "extra", "message"),
    [
        ({"email": "a@b.co"}, {"email": "x", "Bad Name": 1, "ok": {"x": 1}},
         "email: set it on the contact's own field, not in properties; 'Bad Name': not a "
         "HubSpot property name (lower-case letters, digits, _); ok: cannot send a value of "
         "type dict to HubSpot"),
        ({"firstname": {"x": 1}}, None, "firstname: cannot send a value of type dict to HubSpot"),
        ({}, ["a"], "properties: must be a JSON object of name -> value, got list"),
    ],
)  # fmt: skip
def test_properties_exact_messages(fields, extra, message):
    with pytest.raises(MappingError) as info:
        build_properties(fields, extra)
    assert str(info.value) == message


DEFAULT_TYPE = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ([{"to": "123"}], [{"to": {"id": "123"}, "types": [DEFAULT_TYPE]}]),
        ([{"to": {"id": 1}}, {"to": {"id": " 7 "}, "types": [{"associationTypeId": "3"}]}],
         [{"to": {"id": "1"}, "types": [DEFAULT_TYPE]},
          {"to": {"id": "7"},
           "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]),
        ([{"to": {"id": "2"}, "types": [{"associationCategory": "USER_DEFINED",
                                         "associationTypeId": 5}]}],
         [{"to": {"id": "2"},
           "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": 5}]}]),
    ],
)  # fmt: skip
def test_associations_exact(raw, expected):
    assert build_associations(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"to": "1"}, "associations: must be a list"),
        (["string"], "associations[0]: must be an object with 'to' and 'types'"),
        ([{"to": {"id": "1"}}, {"to": {"id": True}}],
         "associations[1]: 'to.id' must be a HubSpot record id"),
        ([{"to": {"id": Decimal("12")}}], "associations[0]: 'to.id' must be a HubSpot record id"),
        ([{"to": {"id": "abc"}}], "associations[0]: 'to.id' 'abc' is not a HubSpot record id"),
        ([{"to": {"id": "1"}, "types": "x"}], "associations[0]: 'types' must be a list"),
        ([{"to": {"id": "1"}, "types": ["x"]}], "associations[0]: each type must be an object"),
        ([{"to": {"id": "1"}, "types": [{"associationCategory": "NOPE", "associationTypeId": 1}]}],
         "associations[0]: associationCategory 'NOPE' is not one of HUBSPOT_DEFINED, "
         "USER_DEFINED, INTEGRATOR_DEFINED"),
        ([{"to": {"id": "1"}, "types": [{"associationTypeId": "x"}]}],
         "associations[0]: associationTypeId must be a whole number"),
        ([{"to": {"id": "1"}, "types": [{"associationTypeId": True}]}],
         "associations[0]: associationTypeId must be a whole number"),
        ([{"to": {"id": "1"}, "types": [{"associationTypeId": Decimal("5")}]}],
         "associations[0]: associationTypeId must be a whole number"),
    ],
)  # fmt: skip
def test_bad_associations_exact_messages(raw, message):
    with pytest.raises(MappingError) as info:
        build_associations(raw)
    assert str(info.value) == message


def test_error_trace_ids_of_a_context_that_is_not_an_object():
    assert error_trace_ids({"context": ["a"]}) == []
    assert error_trace_ids({"context": {"objectWriteTraceId": None}}) == []


INVALID = "Property values were not valid: "


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({}, "rejected by HubSpot"),
        ({"message": ""}, "rejected by HubSpot"),
        ({"message": "plain"}, "plain"),
        ({"message": INVALID + '[{"message": "email bad is invalid", "error": "INVALID_EMAIL",'
                               ' "code": "X", "name": "email"},'
                               ' {"message": "x is not a number", "code": "INVALID_INTEGER",'
                               ' "name": "age"}, {"name": "zip"}, {"message": "m"}]'},
         "Invalid property values: email bad is invalid (INVALID_EMAIL); "
         "age: x is not a number (INVALID_INTEGER); zip: invalid; m"),
        ({"message": INVALID + "oops"}, INVALID + "oops"),  # not JSON: as HubSpot said it
        ({"message": INVALID + "[]"}, INVALID + "[]"),
        ({"message": INVALID + "5"}, INVALID + "5"),
        ({"message": INVALID + '{"message": "m"}'}, INVALID + '{"message": "m"}'),
        ({"message": INVALID + '[{"message": "m"}, 7]'}, INVALID + '[{"message": "m"}, 7]'),
        ({"message": "x" * 2500}, "x" * 2000),
    ],
    ids=["none", "empty", "plain", "spelled-out", "not-json", "empty-list", "number", "object",
         "not-all-objects", "capped"],
)  # fmt: skip
def test_error_message(error, expected):
    assert error_message(error) == expected


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("text", "text"),
        (["a", 1, 1.5, None], ["a", 1, 1.5, None]),
        ({"nested": "dict"}, {"nested": "dict"}),  # stored as it is; refused at sync
        (dt.date(2019, 10, 31), "1572480000000"),
        (Decimal("10.50"), "10.5"),
        (("a", "b"), "a;b"),
        ([dt.date(2019, 10, 31)], "1572480000000"),
        (float("nan"), {"crmsync_cannot_send": "nan is not a number HubSpot can store"}),
        ("a\x00", {"crmsync_cannot_send": "contains control character U+0000 at position 1"}),
    ],
)
def test_properties_are_stored_as_hubspot_strings_or_as_why_not(value, stored):
    result = stored_properties({"p": value})["p"]
    if isinstance(stored, dict) and "crmsync_cannot_send" in stored:
        assert result == {**stored, "value": repr(value)}
        with pytest.raises(MappingError, match=f"^p: {re.escape(stored['crmsync_cannot_send'])}"):
            to_hubspot_value(result, "p")
    else:
        assert result == stored
    assert json.loads(json.dumps({"p": value}, cls=PropertiesEncoder)) == {"p": result}
