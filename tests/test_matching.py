"""Matching HubSpot's answers to inputs: pure functions, tested from tables."""

from __future__ import annotations

import pytest

from crmsync.sync import matching
from tests.stage_helpers import create_input, row, update_input


def result(id: str, trace: str | None = None, **props: str) -> dict:
    out: dict = {"id": id, "properties": props}
    if trace is not None:
        out["objectWriteTraceId"] = trace
    return out


def error(message: str, traces=(), ids=(), category="VALIDATION_ERROR") -> dict:
    context: dict = {}
    if traces:
        context["objectWriteTraceId"] = list(traces)
    if ids:
        context["ids"] = list(ids)
    return {"status": "error", "category": category, "message": message, "context": context}


A, B, C = create_input(row(1)), create_input(row(2)), create_input(row(3))
NOMAIL = create_input(row(4, email="", firstname="Solo"), email="")
NOMAIL2 = create_input(row(5, email="", firstname="Other"), email="")


def created_ids(answer) -> dict[int, str]:
    return {item.primary.id: r["id"] for item, r in answer.created}


@pytest.mark.parametrize(
    ("items", "results", "errors", "created", "existing", "rejected", "unmentioned"),
    [
        # by trace id, in any order
        ([A, B, C], [result("3", C.trace_id), result("1", A.trace_id), result("2", B.trace_id)],
         [], {1: "1", 2: "2", 3: "3"}, [], [], []),
        # by email, case-insensitive, when trace ids are not echoed
        ([A, B], [result("20", email="P2@EXAMPLE.COM"), result("10", email="p1@example.com")],
         [], {1: "10", 2: "20"}, [], [], []),
        # a trace id wins over an email that names another input
        ([A, B],
         [result("10", A.trace_id, email="p2@example.com"), result("20", email="p2@example.com")],
         [], {1: "10", 2: "20"}, [], [], []),
        # no email, no trace id: by the properties sent
        ([NOMAIL, NOMAIL2], [result("50", firstname="Other"), result("40", firstname="Solo")],
         [], {4: "40", 5: "50"}, [], [], []),
        # a per-input 409 names the contact HubSpot holds
        ([A, B], [result("2", B.trace_id)],
         [error("Contact already exists. Existing ID: 77", [A.trace_id], category="CONFLICT")],
         {2: "2"}, [(1, "77")], [], []),
        # a per-input rejection, with HubSpot's message made readable
        ([A, B], [result("1", A.trace_id)],
         [error("Email address bad is invalid", [B.trace_id])],
         {1: "1"}, [], [(2, "Email address bad is invalid", "VALIDATION_ERROR")], []),
        # neither a result nor an error: unmentioned (it may exist now)
        ([A, B, C], [result("1", A.trace_id)], [], {1: "1"}, [], [], [2, 3]),
        # a result for something we did not send is ignored; a second result for a taken
        # input does not take another
        ([A, B], [result("1", A.trace_id), result("9", A.trace_id), result("8", email="x@y.z")],
         [], {1: "1"}, [], [], [2]),
        # an error naming an input a result already took changes nothing
        ([A], [result("1", A.trace_id)], [error("late", [A.trace_id])], {1: "1"}, [], [], []),
        # an error naming several inputs rejects each of them
        ([A, B, C], [], [error("bad", [A.trace_id, C.trace_id])], {}, [],
         [(1, "bad", "VALIDATION_ERROR"), (3, "bad", "VALIDATION_ERROR")], [2]),
        # an error naming a taken input first still rejects the open ones it names after it
        ([A, B], [result("1", A.trace_id)], [error("bad", ["nope", A.trace_id, B.trace_id])],
         {1: "1"}, [], [(2, "bad", "VALIDATION_ERROR")], []),
        # an error without a category: an empty one
        ([A], [], [{"message": "bad", "context": {"objectWriteTraceId": [A.trace_id]}}], {}, [],
         [(1, "bad", "")], []),
        # an error whose message is HubSpot's JSON list is spelled out
        ([A], [], [error('Property values were not valid: [{"message": "x", "name": "email"}]',
                         [A.trace_id])], {}, [],
         [(1, "Invalid property values: email: x", "VALIDATION_ERROR")], []),
        # a result matched by email does not also match by properties, nor twice
        ([A, NOMAIL], [result("1", email="P1@example.com"), result("2", email="p1@example.com")],
         [], {1: "1"}, [], [], [4]),
    ],
    ids=[
        "trace-ids-shuffled", "email-case", "trace-beats-email", "properties", "per-input-409",
        "per-input-rejection", "unmentioned", "stray-results", "late-error", "one-error-many",
        "error-names-taken-first", "error-no-category", "error-json-message", "email-once",
    ],
)  # fmt: skip
def test_match_created(items, results, errors, created, existing, rejected, unmentioned):
    answer = matching.match_created(items, results, errors)
    assert created_ids(answer) == created
    assert [(i.primary.id, hid) for i, hid in answer.existing] == existing
    assert [(i.primary.id, m, c) for i, m, c in answer.rejected] == rejected
    assert [i.primary.id for i in answer.unmentioned] == unmentioned
    # every input ends in exactly one list
    ends = [*created, *(e[0] for e in existing), *(r[0] for r in rejected), *unmentioned]
    assert sorted(ends) == sorted(i.primary.id for i in items)


def test_match_created_matches_every_result_of_a_full_batch():
    items = [create_input(row(n)) for n in range(1, 101)]
    results = [result(str(1000 + n), email=f"p{n}@example.com") for n in range(100, 0, -1)]
    answer = matching.match_created(items, results, [])
    assert len(answer.created) == 100 and not answer.unmentioned
    assert created_ids(answer) == {n: str(1000 + n) for n in range(1, 101)}


U1 = update_input(row(1, hubspot_id="101"))
U2 = update_input(row(2, hubspot_id="102"))
U3 = update_input(row(3, hubspot_id="103"))


NOT_FOUND = "Could not get some CONTACT objects"


@pytest.mark.parametrize(
    ("items", "results", "errors", "updated", "rejected", "unmentioned"),
    [
        ([U1, U2], [{"id": "102"}, {"id": "101"}], [], [2, 1], [], []),
        # OBJECT_NOT_FOUND names record ids
        ([U1, U2, U3], [{"id": "101"}],
         [error(NOT_FOUND, ids=["102", "103"], category="OBJECT_NOT_FOUND")],
         [1], [(2, NOT_FOUND, "OBJECT_NOT_FOUND"), (3, NOT_FOUND, "OBJECT_NOT_FOUND")], []),
        # a validation error names trace ids
        ([U1, U2], [{"id": "101"}], [error("bad", [U2.trace_id])], [1],
         [(2, "bad", "VALIDATION_ERROR")], []),
        # a merged-away record can be left out with no error at all
        ([U1, U2], [{"id": "101"}], [], [1], [], [2]),
        # an error for an id that already has a result changes nothing
        ([U1], [{"id": "101"}], [error("x", ids=["101"])], [1], [], []),
        # an unknown id in a result is ignored
        ([U1], [{"id": "999"}], [], [], [], [1]),
        # an error naming one input by id and by trace id rejects it once; a second error
        # naming it again changes nothing
        ([U1, U2], [], [error("bad", [U1.trace_id], ids=["101"]), error("again", ids=["101"])],
         [], [(1, "bad", "VALIDATION_ERROR")], [2]),
        # an error without a category: an empty one; HubSpot's JSON message spelled out
        ([U1], [], [{"message": 'Property values were not valid: [{"message": "m", "name": "x"}]',
                     "context": {"ids": ["101"]}}],
         [], [(1, "Invalid property values: x: m", "")], []),
        # a context that is not an object names nothing
        ([U1], [], [{"message": "bad", "category": "C", "context": ["101"]}], [], [], [1]),
    ],
    ids=["any-order", "not-found-ids", "trace-ids", "left-out", "late-error", "stray",
         "id-and-trace", "no-category", "context-not-object"],
)  # fmt: skip
def test_match_updated(items, results, errors, updated, rejected, unmentioned):
    answer = matching.match_updated(items, results, errors)
    assert [i.primary.id for i, _ in answer.updated] == updated
    assert [r["id"] for _, r in answer.updated] == [i.body["id"] for i, _ in answer.updated]
    assert [(i.primary.id, m, c) for i, m, c in answer.rejected] == rejected
    assert [i.primary.id for i in answer.unmentioned] == unmentioned


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([{"id": "1", "properties": {"email": "A@x.com"}}], {"a@x.com": "1"}),
        ([{"id": "1", "properties": {"email": ""}}], {}),
        ([{"properties": {"email": "a@x.com"}}], {}),
        ([{"id": "2", "properties": {}}, {"id": "3", "properties": {"email": "b@x.com"}}],
         {"b@x.com": "3"}),
        ([{"id": "4"}], {}),
    ],
)  # fmt: skip
def test_found_ids(results, expected):
    assert matching.found_ids(results) == expected


@pytest.mark.parametrize(
    ("rows", "email", "found", "history", "expected"),
    [
        ([row(1)], "p1@example.com", {"p1@example.com": "9"}, False, "9"),
        ([row(1, reconcile_emails="old@x.com ")], "p1@example.com", {"old@x.com": "8"}, True, "8"),
        ([row(1, reconcile_emails="old@x.com ")], "p1@example.com", {"old@x.com": "8"}, False,
         None),
        # its current email wins over an older one
        ([row(1, reconcile_emails="old@x.com ")], "p1@example.com",
         {"old@x.com": "8", "p1@example.com": "9"}, True, "9"),
        # any of the rows the input stands for
        ([row(1), row(2, reconcile_emails="two@x.com ")], "p1@example.com", {"two@x.com": "7"},
         True, "7"),
        ([row(1)], "p1@example.com", {}, True, None),
        ([row(1, email="")], "", {"": "5"}, True, None),
    ],
)  # fmt: skip
def test_existing_for(rows, email, found, history, expected):
    item = create_input(*rows, email=email)
    assert matching.existing_for(item, found, history=history) == expected


@pytest.mark.parametrize(
    ("props", "text", "expected"),
    [
        ({"email": "bad@@x.com"}, 'Email address bad@@x.com is invalid', True),
        ({"email": "ok@x.com"}, "Email address bad@@x.com is invalid", False),
        ({"firstname": "Al"}, "Al is not valid", False),  # too short to be a clue
        ({"firstname": "Ann"}, "Ann is not valid", True),
    ],
)  # fmt: skip
def test_quoted_in(props, text, expected):
    item = create_input(row(1))
    item.body["properties"] = props
    assert matching.quoted_in(item, text) is expected
