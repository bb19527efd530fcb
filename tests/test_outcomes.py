"""Each row's next state: pure functions returning values, tested from tables."""

from __future__ import annotations

import datetime as dt

import pytest

from crmsync.db import WriteBack
from crmsync.models import SyncAttempt, SyncStatus
from crmsync.sync import outcomes
from tests.stage_helpers import row

POLICY = outcomes.RetryPolicy(max_attempts=3, base_seconds=10.0, max_seconds=100.0)
Outcome = SyncAttempt.Outcome


def half(value: float = 0.5):
    return lambda: value


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 5.0), (1, 1.0, 10.0), (1, 0.5, 7.5),
        (2, 0.0, 10.0), (3, 1.0, 40.0),
        (4, 1.0, 80.0), (5, 1.0, 100.0), (50, 0.0, 50.0),  # capped at max_seconds
        (0, 1.0, 10.0),  # never below the base
    ],
)  # fmt: skip
def test_backoff(attempt, rand, expected):
    assert outcomes.backoff(attempt, POLICY, half(rand)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "status", "attempts", "delay", "outcome", "retried"),
    [
        ({}, SyncStatus.PENDING, 1, 7.5, Outcome.RETRY, True),
        ({"wait": 60.0}, SyncStatus.PENDING, 1, 60.0, Outcome.RETRY, True),  # Retry-After wins
        ({"wait": 1.0}, SyncStatus.PENDING, 1, 7.5, Outcome.RETRY, True),  # backoff wins
        ({"count": False, "wait": 5.0}, SyncStatus.PENDING, 0, 5.0, Outcome.RETRY, True),
        ({"count": False}, SyncStatus.PENDING, 0, 0.0, Outcome.RETRY, True),
    ],
)  # fmt: skip
def test_retry(kwargs, status, attempts, delay, outcome, retried):
    decision = outcomes.retry(row(), "HTTP 503", "", POLICY, rand=half(), **kwargs)
    assert decision.write.status == status
    assert decision.write.attempts == attempts
    assert decision.write.retry_in == delay  # from the database's now, at the write-back
    assert decision.outcome == outcome and decision.retried is retried
    assert decision.write.error == "HTTP 503"


@pytest.mark.parametrize(
    ("attempts_before", "count", "status"),
    [(0, True, SyncStatus.PENDING), (1, True, SyncStatus.PENDING), (2, True, SyncStatus.FAILED),
     (2, False, SyncStatus.PENDING), (7, False, SyncStatus.PENDING)],
)  # fmt: skip
def test_retry_gives_up_after_max_attempts_counted(attempts_before, count, status):
    decision = outcomes.retry(
        row(sync_attempts=attempts_before), "HTTP 502", "", POLICY, count=count
    )
    assert decision.write.status == status
    if status == SyncStatus.FAILED:
        assert decision.write.error == "Gave up after 3 attempts. Last error: HTTP 502"
        assert decision.write.attempts == 3
        assert decision.outcome == Outcome.FAILED and not decision.retried


@pytest.mark.parametrize(
    ("needs_reconcile", "linked", "reconcile", "emails"),
    [(True, "", True, "a@x.com "), (True, "55", False, ""), (False, "", False, "")],
)
def test_retry_keeps_the_lookup_unless_linked(needs_reconcile, linked, reconcile, emails):
    r = row(needs_reconcile=needs_reconcile, reconcile_emails="a@x.com ")
    decision = outcomes.retry(r, "x", "", POLICY, linked_id=linked)
    assert decision.write.needs_reconcile is reconcile
    assert decision.write.reconcile_emails == emails
    assert decision.write.hubspot_id == linked


def test_synced_records_hubspot_id_status_and_times():
    result = {"createdAt": "2026-12-01T10:00:00.5Z", "updatedAt": "2026-12-01T11:00:00Z"}
    decision = outcomes.synced(row(), "512", Outcome.CREATED, "COMPLETE", result)
    write = decision.write
    assert (write.status, write.hubspot_id, write.hubspot_status) == ("synced", "512", "COMPLETE")
    assert write.hubspot_created_at == dt.datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=dt.UTC)
    assert write.hubspot_updated_at == dt.datetime(2026, 12, 1, 11, tzinfo=dt.UTC)
    assert (decision.outcome, decision.hubspot_id) == (Outcome.CREATED, "512")
    assert write.needs_reconcile is False and write.reconcile_emails == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T10:00:00Z", dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)),
        ("2026-12-01T10:00:00", dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)),
        ("2026-12-01T10:00:00+01:00", dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),
        ("yesterday", None), ("", None), (None, None), (17, None),
    ],
)  # fmt: skip
def test_parse_time(value, expected):
    assert outcomes.parse_time(value) == expected


def test_failed_counts_the_attempt_and_keeps_a_link():
    decision = outcomes.failed(row(sync_attempts=2), "bad email", "VALIDATION_ERROR", "77")
    write = decision.write
    assert (write.status, write.attempts, write.hubspot_id) == ("failed", 3, "77")
    assert (write.error, write.error_category) == ("bad email", "VALIDATION_ERROR")
    assert decision.outcome == Outcome.FAILED and not decision.retried


@pytest.mark.parametrize(
    ("email", "status", "outcome"),
    [("p1@example.com", SyncStatus.PENDING, Outcome.UNKNOWN), ("", SyncStatus.HELD, Outcome.HELD)],
)
def test_unknown_looks_up_by_email_or_holds(email, status, outcome):
    r = row(sync_attempts=1, reconcile_emails="p1@example.com ")
    decision = outcomes.unknown(r, email, "no answer", POLICY, rand=half(0.0))
    write = decision.write
    assert write.status == status and decision.outcome == outcome
    assert write.needs_reconcile is True
    assert write.reconcile_emails == "p1@example.com "
    assert write.error_category == "OUTCOME_UNKNOWN"
    if status == SyncStatus.PENDING:
        assert write.attempts == 2
        assert write.retry_in == 5
        assert "look it up by email" in write.error and decision.retried
    else:
        assert write.attempts == 1  # holding is not a failed attempt
        assert "set its HubSpot id" in write.error and "no answer" in write.error
        assert not decision.retried


def test_untouched_goes_back_due_now_with_its_attempts():
    r = row(sync_attempts=4, needs_reconcile=True, reconcile_emails="a@x.com ")
    write = outcomes.untouched(r, reason="Redis is down").write
    assert (write.status, write.attempts, write.retry_in) == ("pending", 4, 0.0)
    assert write.error == "Redis is down" and write.needs_reconcile
    assert outcomes.untouched(r).outcome == ""  # no history entry
    linked = outcomes.untouched(r, linked_id="9").write
    assert linked.hubspot_id == "9" and not linked.needs_reconcile and linked.reconcile_emails == ""


HELD_TEXT = outcomes.HELD_NOTE + " Last error: no answer"
GAVE_UP = "Gave up after 3 attempts. Last error: HTTP 502"
R7 = row(7, sync_attempts=2, needs_reconcile=True, reconcile_emails="a@x.com ")


@pytest.mark.parametrize(
    ("decide", "expected"),
    [
        (lambda: outcomes.synced(row(7), "512", Outcome.UPDATED),
         outcomes.Decision(WriteBack(id=7, status="synced", hubspot_id="512"), Outcome.UPDATED,
                           hubspot_id="512")),
        (lambda: outcomes.failed(R7, "bad", "VALIDATION_ERROR"),
         outcomes.Decision(WriteBack(id=7, status="failed", error="bad",
                                     error_category="VALIDATION_ERROR", attempts=3),
                           Outcome.FAILED, error_category="VALIDATION_ERROR", error_message="bad")),
        (lambda: outcomes.retry(row(7), "HTTP 503", "HTTP_5XX", POLICY, rand=half()),
         outcomes.Decision(WriteBack(id=7, status="pending", error="HTTP 503",
                                     error_category="HTTP_5XX", attempts=1,
                                     retry_in=7.5),
                           Outcome.RETRY, error_category="HTTP_5XX", error_message="HTTP 503",
                           retried=True)),
        (lambda: outcomes.retry(R7, "HTTP 502", "HTTP_5XX", POLICY),
         outcomes.Decision(WriteBack(id=7, status="failed", error=GAVE_UP,
                                     error_category="HTTP_5XX", attempts=3),
                           Outcome.FAILED, error_category="HTTP_5XX", error_message=GAVE_UP)),
        (lambda: outcomes.retry(R7, "HTTP 502", "HTTP_5XX", POLICY, linked_id="55"),
         outcomes.Decision(WriteBack(id=7, status="failed", hubspot_id="55", error=GAVE_UP,
                                     error_category="HTTP_5XX", attempts=3),
                           Outcome.FAILED, error_category="HTTP_5XX", error_message=GAVE_UP)),
        (lambda: outcomes.unknown(R7, "p7@example.com", "no answer", POLICY, rand=half(1.0)),
         outcomes.Decision(WriteBack(id=7, status="pending",
                                     error="no answer; will look it up by email before "
                                           "creating again",
                                     error_category="OUTCOME_UNKNOWN", attempts=3,
                                     retry_in=10.0,
                                     needs_reconcile=True, reconcile_emails="a@x.com "),
                           Outcome.UNKNOWN, error_category="OUTCOME_UNKNOWN",
                           error_message="no answer", retried=True)),
        (lambda: outcomes.unknown(R7, "", "no answer", POLICY),
         outcomes.Decision(WriteBack(id=7, status="held", error=HELD_TEXT,
                                     error_category="OUTCOME_UNKNOWN", attempts=2,
                                     needs_reconcile=True, reconcile_emails="a@x.com "),
                           Outcome.HELD, error_category="OUTCOME_UNKNOWN",
                           error_message=HELD_TEXT)),
        (lambda: outcomes.held(R7),
         outcomes.Decision(WriteBack(id=7, status="held", error=outcomes.HELD_NOTE,
                                     error_category="OUTCOME_UNKNOWN", attempts=2,
                                     needs_reconcile=True, reconcile_emails="a@x.com "),
                           Outcome.HELD, error_category="OUTCOME_UNKNOWN",
                           error_message=outcomes.HELD_NOTE)),
        (lambda: outcomes.untouched(R7),
         outcomes.Decision(WriteBack(id=7, status="pending", attempts=2, retry_in=0.0,
                                     needs_reconcile=True, reconcile_emails="a@x.com "))),
    ],
    ids=["synced", "failed", "retry", "retry-gives-up", "retry-gives-up-linked", "unknown",
         "unknown-held", "held-no-message", "untouched"],
)  # fmt: skip
def test_each_decision_in_full(decide, expected):
    assert decide() == expected


def test_synced_records_what_hubspot_now_holds():
    after = {"email": "p1@example.com", "firstname": "F1"}
    decision = outcomes.synced(row(), "512", Outcome.UPDATED, "COMPLETE", {}, after)
    assert decision.write.synced_properties == after
    assert outcomes.synced(row(), "512", Outcome.LINKED).write.synced_properties is None


def test_unchanged_is_synced_without_a_request():
    decision = outcomes.unchanged(row(hubspot_id="77", sync_attempts=3))
    write = decision.write
    assert (write.id, write.status, write.hubspot_id, write.attempts) == (1, "synced", "77", 0)
    assert write.synced_properties is None  # what HubSpot holds is what it held
    assert (decision.outcome, decision.hubspot_id, decision.retried) == ("unchanged", "77", False)
    assert decision.error_message == "" and write.error == ""


@pytest.mark.parametrize("hubspot_id", [None, "91"])
def test_archived_is_final(hubspot_id):
    r = row(7, sync_attempts=2, needs_reconcile=True)
    decision = outcomes.archived(r) if hubspot_id is None else outcomes.archived(r, hubspot_id)
    hubspot_id = hubspot_id or ""  # never created: nothing to archive, no id
    write = decision.write
    assert (write.id, write.status, write.hubspot_id, write.attempts) == (
        7,
        "archived",
        hubspot_id,
        0,
    )
    assert write.needs_reconcile is False and write.reconcile_emails == ""
    assert (decision.outcome, decision.hubspot_id, decision.retried) == (
        "archived",
        hubspot_id,
        False,
    )
