"""The core pipeline against the sandbox over real HTTP."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from crmsync import services
from crmsync.models import Contact, PipelineState, SyncAttempt, SyncBatch, SyncStatus
from crmsync.sync import send
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def run() -> services.RunSummary:
    return services.sync_pending()


def test_new_rows_are_pending_however_created():
    Contact.objects.bulk_create([Contact(email="bulk@example.com")])
    ContactFactory()
    assert set(Contact.objects.values_list("sync_status", flat=True)) == {"pending"}


def test_sync_creates_contacts_and_saves_ids(crmsync_settings, hubspot_sandbox):
    contacts = ContactFactory.create_batch(5)
    summary = run()
    assert summary.synced == 5 and summary.failed == 0
    for contact in contacts:
        contact.refresh_from_db()
        remote = hubspot_sandbox.contact_by_email(contact.email)
        assert contact.sync_status == SyncStatus.SYNCED
        assert contact.hubspot_id == remote["id"]
        assert contact.synced_at is not None
        assert contact.hubspot_status == "COMPLETE"
        assert contact.hubspot_created_at is not None
        assert contact.claim_token is None
    batch = SyncBatch.objects.get(endpoint="create")
    assert batch.http_status == 201
    assert batch.correlation_id
    assert batch.started_at and batch.completed_at
    assert batch.input_count == 5 and batch.success_count == 5
    assert SyncAttempt.objects.filter(outcome="created").count() == 5


def test_results_are_matched_by_email_when_trace_ids_are_not_echoed(
    crmsync_settings, hubspot_sandbox
):
    hubspot_sandbox.configure(echo_trace_ids=False, shuffle_results=True)
    contacts = ContactFactory.create_batch(40)
    run()
    for contact in contacts:
        contact.refresh_from_db()
        assert contact.hubspot_id == hubspot_sandbox.contact_by_email(contact.email)["id"]


def test_contacts_without_email_are_matched_by_their_properties(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(echo_trace_ids=False, shuffle_results=True)
    rows = [ContactFactory(email="", firstname=f"Nomail{i}", lastname="X") for i in range(6)]
    run()
    remote = {c["properties"]["firstname"]: c["id"] for c in hubspot_sandbox.contacts()}
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == remote[row.firstname]


def test_multi_status_fails_only_the_bad_rows(crmsync_settings, hubspot_sandbox):
    good = ContactFactory.create_batch(3)
    bad_email = ContactFactory(email="not-an-email")
    bad_option = ContactFactory(lifecyclestage="not_a_stage")
    unknown_prop = ContactFactory(properties={"no_such_property": "x"})
    run()
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
    for row in (bad_email, bad_option, unknown_prop):
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.FAILED, row.sync_error
        assert row.sync_error
        assert row.hubspot_id == ""
    assert "not-an-email" in bad_email.sync_error
    assert "not_a_stage" in bad_option.sync_error
    assert "no_such_property" in unknown_prop.sync_error


def test_mapping_errors_fail_the_row_without_a_request(crmsync_settings, hubspot_sandbox):
    bad = ContactFactory(properties={"notes_x": {"nested": "dict"}})
    good = ContactFactory()
    run()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED
    assert "cannot send a value of type dict" in bad.sync_error
    assert bad.sync_error_category == "MAPPING_ERROR"
    assert good.sync_status == SyncStatus.SYNCED
    attempt = SyncAttempt.objects.get(contact=bad)
    assert attempt.batch is None and attempt.outcome == "failed"


@pytest.mark.parametrize("conflict_mode", ["per_input", "batch"])
def test_existing_email_links_to_the_existing_contact(
    crmsync_settings, hubspot_sandbox, conflict_mode
):
    hubspot_sandbox.configure(conflict_mode=conflict_mode)
    existing_id = hubspot_sandbox.add_contact({"email": "known@example.com", "firstname": "K"})
    known = ContactFactory(email="Known@Example.com", firstname="Ours")
    others = ContactFactory.create_batch(4)
    run()
    known.refresh_from_db()
    assert known.sync_status == SyncStatus.SYNCED
    assert known.hubspot_id == existing_id
    # The local database is the source of truth: the linked contact gets our values.
    assert hubspot_sandbox.contact_by_email("known@example.com")["properties"]["firstname"] == (
        "Ours"
    )
    assert SyncAttempt.objects.get(contact=known, outcome="linked")
    for row in others:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
    assert len(hubspot_sandbox.contacts()) == 5


def test_duplicate_emails_in_one_batch_are_sent_once_and_both_linked(
    crmsync_settings, hubspot_sandbox
):
    a = ContactFactory(email="twin@example.com", firstname="A")
    b = ContactFactory(email="TWIN@example.com", firstname="B")
    run()
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.sync_status == b.sync_status == SyncStatus.SYNCED
    assert (
        a.hubspot_id == b.hubspot_id == hubspot_sandbox.contact_by_email("twin@example.com")["id"]
    )
    assert len(hubspot_sandbox.contacts()) == 1


def test_whole_batch_rejection_is_split_and_innocent_rows_go_through(
    crmsync_settings, hubspot_sandbox
):
    # Without multi-status (as when trace ids are not honoured) one bad input fails the
    # whole batch; the run must isolate it.
    hubspot_sandbox.configure(multi_status=False)
    good = ContactFactory.create_batch(15)
    bad = ContactFactory(email="bad@@example")
    summary = run()
    bad.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED and "bad@@example" in bad.sync_error
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
    # HubSpot's message quotes the bad email: the batch, the rest, the culprit alone.
    assert summary.requests == 3


def test_whole_batch_rejection_without_a_clue_is_bisected(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(multi_status=False)
    good = ContactFactory.create_batch(15)
    bad = ContactFactory(associations=[{"to": {"id": "999"}}])  # the message quotes no value
    summary = run()
    bad.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED and "999" in bad.sync_error
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
    # 16 inputs, one bad: at most the batch plus two halves per level
    assert summary.requests <= 1 + 2 * 4


@pytest.mark.parametrize("fault", ["fault_5xx_rate", "fault_423_rate"])
def test_transient_errors_retry_with_backoff_then_fail(crmsync_settings, hubspot_sandbox, fault):
    hubspot_sandbox.configure(**{fault: 1.0})
    row = ContactFactory()
    # One batch at a time: each counts exactly one attempt, none repairs another's work.
    for attempt in range(1, crmsync_settings["MAX_ATTEMPTS"]):
        Contact.objects.filter(pk=row.pk).update(next_attempt_at=Now())
        assert services.sync_batch() is not None
        row.refresh_from_db()
        assert (row.sync_status, row.sync_attempts) == (SyncStatus.PENDING, attempt)
    Contact.objects.filter(pk=row.pk).update(next_attempt_at=Now())
    services.sync_batch()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.FAILED
    assert row.sync_attempts == crmsync_settings["MAX_ATTEMPTS"]
    assert "Gave up after 5 attempts" in row.sync_error
    assert hubspot_sandbox.contacts() == []


def test_retry_is_scheduled_in_the_future(crmsync_settings, hubspot_sandbox, settings):
    settings.CRMSYNC = {**crmsync_settings, "RETRY_BASE_SECONDS": 60, "RETRY_MAX_SECONDS": 600}
    hubspot_sandbox.configure(fault_5xx_rate=1.0)
    row = ContactFactory()
    run()
    row.refresh_from_db()
    delay = (row.next_attempt_at - row.updated_at).total_seconds()
    assert 29 <= delay <= 61
    assert run().requests == 0  # not due yet


def test_auth_failure_pauses_the_pipeline_and_leaves_rows_pending(
    crmsync_settings, hubspot_sandbox, settings
):
    settings.CRMSYNC = {**crmsync_settings, "ACCESS_TOKEN": "wrong-token"}
    rows = ContactFactory.create_batch(3)
    summary = run()
    assert summary.stopped_reason.startswith("paused")
    state = PipelineState.objects.get(pk=1)
    assert state.paused and state.reason == "auth"
    assert "wrong-token" not in state.message
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING
        assert row.sync_attempts == 0
    assert run().requests == 0  # paused: nothing is sent
    assert services.resume_pipeline()
    settings.CRMSYNC = crmsync_settings
    assert run().synced == 3


def test_missing_scopes_pause(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(missing_scopes=True)
    ContactFactory()
    run()
    state = PipelineState.objects.get(pk=1)
    assert state.paused and "MISSING_SCOPES" in state.message


def test_write_back_costs_a_constant_number_of_queries(crmsync_settings, hubspot_sandbox):
    def queries_for(n: int) -> int:
        Contact.objects.all().delete()
        hubspot_sandbox.reset()
        ContactFactory.create_batch(n)
        with CaptureQueriesContext(connection) as ctx:
            services.sync_batch()
        # The test runs inside a transaction, so atomic() shows up as savepoints; in a
        # worker it is a plain BEGIN/COMMIT, which Django does not log either.
        return len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]])

    assert queries_for(3) == queries_for(100)
    assert queries_for(100) <= 8


def test_edit_while_in_flight_is_sent_again(crmsync_settings, hubspot_sandbox, monkeypatch):
    row = ContactFactory(firstname="Old")
    real = send.Sender.send

    def edit_then_execute(self, plan):
        Contact.objects.get(pk=row.pk)  # a separate instance, as another request would
        other = Contact.objects.get(pk=row.pk)
        other.firstname = "New"
        other.save()
        real(self, plan)

    monkeypatch.setattr(send.Sender, "send", edit_then_execute)
    services.sync_batch()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING  # HubSpot got "Old": not done
    assert row.hubspot_id  # but it was created: the next send is an update
    monkeypatch.setattr(send.Sender, "send", real)
    run()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    remote = hubspot_sandbox.contact_by_email(row.email)
    assert remote["properties"]["firstname"] == "New"
    assert len(hubspot_sandbox.contacts()) == 1


def test_save_marks_changed_rows_pending_and_keeps_sync_state(crmsync_settings, hubspot_sandbox):
    row = ContactFactory()
    run()
    stale = Contact.objects.get(pk=row.pk)
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    stale.save()  # nothing changed: stays synced
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    stale.phone = "+1 555 0100"
    stale.save()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING
    assert row.hubspot_id  # a stale instance never wiped the id
    assert row.version == 2
    run()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    assert hubspot_sandbox.contact_by_email(row.email)["properties"]["phone"] == "+1 555 0100"


def test_the_token_never_reaches_history(crmsync_settings, hubspot_sandbox):
    ContactFactory.create_batch(2)
    ContactFactory(email="broken")
    run()
    token = crmsync_settings["ACCESS_TOKEN"]
    for batch in SyncBatch.objects.all():
        for value in batch.__dict__.values():
            assert token not in str(value)
    for attempt in SyncAttempt.objects.all():
        assert token not in attempt.error_message


@pytest.mark.parametrize("multi_status", [True, False])
def test_a_bad_edit_fails_only_its_row_in_an_update_batch(
    crmsync_settings, hubspot_sandbox, multi_status
):
    rows = ContactFactory.create_batch(5)
    run()
    hubspot_sandbox.configure(multi_status=multi_status)
    for n, row in enumerate(rows):
        row.refresh_from_db()
        row.firstname = f"Edited {n}"
        if n == 2:
            row.lifecyclestage = "not_a_stage"
        row.save()
    run()
    for n, row in enumerate(rows):
        row.refresh_from_db()
        remote = hubspot_sandbox.contact_by_email(row.email)["properties"]
        if n == 2:
            assert row.sync_status == SyncStatus.FAILED and "not_a_stage" in row.sync_error
            assert row.hubspot_id  # still linked to its contact
        else:
            assert row.sync_status == SyncStatus.SYNCED, row.sync_error
            assert remote["firstname"] == f"Edited {n}"
    assert SyncBatch.objects.filter(endpoint="update").count() >= 1


def test_inside_a_transaction_the_run_drains_on_this_connection(
    crmsync_settings, hubspot_sandbox, caplog
):
    """A django_db test (or a caller's atomic block) holds rows other connections cannot see:
    threads on their own connections would find nothing due and send nothing."""
    contacts = ContactFactory.create_batch(3)
    with (
        override_settings(CRMSYNC={**crmsync_settings, "CONCURRENCY": 4, "BATCH_SIZE": 1}),
        caplog.at_level("DEBUG", logger="crmsync"),
    ):
        summary = services.sync_pending()
    assert summary.synced == 3 and summary.batches == 3
    for contact in contacts:
        contact.refresh_from_db()
        assert contact.sync_status == SyncStatus.SYNCED
        assert hubspot_sandbox.contact_by_email(contact.email)["id"] == contact.hubspot_id
    assert "inside a transaction" in caplog.text


def test_the_sync_command_inside_a_transaction_sends_the_rows(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory()
    with override_settings(CRMSYNC={**crmsync_settings, "CONCURRENCY": 4}):
        call_command("crmsync_sync", stdout=io.StringIO())
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
