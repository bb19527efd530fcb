"""Contact.save: which writes bump the version and queue the row, and what they leave alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crmsync.models import Contact, SyncStatus

pytestmark = pytest.mark.django_db


def make_contact(**state: Any) -> Contact:
    """A contact in HubSpot at version 1, with no nudge pending: bulk_create sends no signal,
    and the sync state is written the way the service layer writes it, with update()."""
    (contact,) = Contact.objects.bulk_create(
        [Contact(email="old@example.com", firstname="Ada", lastname="Lovelace")]
    )
    state = {"sync_status": SyncStatus.SYNCED, "synced_version": 1, "hubspot_id": "101", **state}
    Contact.objects.filter(pk=contact.pk).update(**state)
    return Contact.objects.get(pk=contact.pk)


def stored(contact: Contact) -> Contact:
    return Contact.objects.get(pk=contact.pk)


# -- save(update_fields=[...]) ----------------------------------------------------------------


def test_update_fields_with_a_changed_synced_field_queues_the_row(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    contact.email = "new@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        contact.save(update_fields=["email"])
    row = stored(contact)
    assert (row.email, row.version, row.sync_status) == ("new@example.com", 2, "pending")
    assert (contact.version, contact.sync_status) == (2, "pending")  # read back, not expressions
    assert len(nudges) == 1


def test_update_fields_with_an_unchanged_synced_field_changes_no_sync_state(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    with django_capture_on_commit_callbacks(execute=True):
        contact.save(update_fields=["email"])
    row = stored(contact)
    assert (row.version, row.sync_status) == (1, "synced")
    assert nudges == []


def test_update_fields_naming_no_synced_field_changes_no_sync_state(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    contact.email = "unsaved@example.com"  # changed, but not among the fields written
    contact.hubspot_id = "202"
    with django_capture_on_commit_callbacks(execute=True):
        contact.save(update_fields=["hubspot_id"])
    row = stored(contact)
    assert (row.email, row.hubspot_id) == ("old@example.com", "202")
    assert (row.version, row.sync_status, row.updated_at) == (1, "synced", contact.updated_at)
    assert nudges == []


def test_update_fields_bumps_for_the_named_fields_only(nudges, django_capture_on_commit_callbacks):
    contact = make_contact()
    contact.lastname = "Byron"  # changed, not named
    with django_capture_on_commit_callbacks(execute=True):
        contact.save(update_fields=["email", "hubspot_id"])  # email named, unchanged
    assert (stored(contact).version, stored(contact).sync_status) == (1, "synced")
    assert nudges == []


def test_a_later_plain_save_still_sees_the_fields_not_written_yet(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    contact.email = "later@example.com"
    contact.hubspot_id = "202"
    contact.save(update_fields=["hubspot_id"])
    with django_capture_on_commit_callbacks(execute=True):
        contact.save()
    row = stored(contact)
    assert (row.email, row.version, row.sync_status) == ("later@example.com", 2, "pending")
    assert len(nudges) == 1


def test_a_later_plain_save_after_an_update_fields_bump(nudges, django_capture_on_commit_callbacks):
    contact = make_contact()
    contact.firstname = "Augusta"
    contact.email = "later@example.com"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        contact.save(update_fields=["firstname"])
        assert stored(contact).email == "old@example.com"
        contact.save()  # the email is still unsent
    row = stored(contact)
    assert (row.firstname, row.email, row.version) == ("Augusta", "later@example.com", 3)
    assert len(nudges) == 1  # two bumps in one transaction, one nudge
    contact.save()
    assert stored(contact).version == 3  # everything is written now: nothing left to bump


# -- the note on a held row -------------------------------------------------------------------

HELD_NOTE = "HubSpot may already hold this contact; check HubSpot, then release it."


@pytest.mark.parametrize("save_kwargs", [{}, {"update_fields": ["firstname"]}])
def test_editing_a_held_contact_keeps_it_held_with_its_note(save_kwargs):
    contact = make_contact(
        sync_status=SyncStatus.HELD,
        sync_error=HELD_NOTE,
        sync_error_category="OUTCOME_UNKNOWN",
        needs_reconcile=True,
    )
    contact.firstname = "Edited"
    contact.save(**save_kwargs)
    row = stored(contact)
    assert (row.sync_status, row.version) == ("held", 2)
    assert (row.sync_error, row.sync_error_category) == (HELD_NOTE, "OUTCOME_UNKNOWN")
    assert (contact.sync_error, contact.sync_error_category) == (HELD_NOTE, "OUTCOME_UNKNOWN")


@pytest.mark.parametrize(
    ("status", "after"),
    [
        (SyncStatus.FAILED, SyncStatus.PENDING),
        (SyncStatus.PENDING, SyncStatus.PENDING),
        (SyncStatus.IN_FLIGHT, SyncStatus.IN_FLIGHT),
    ],
)
def test_editing_any_other_contact_clears_its_error(status, after):
    contact = make_contact(
        sync_status=status, sync_error="Property email is invalid", sync_error_category="INVALID"
    )
    contact.email = "fixed@example.com"
    contact.save()
    row = stored(contact)
    assert (row.sync_status, row.sync_error, row.sync_error_category) == (after, "", "")
    assert (contact.sync_error, contact.sync_error_category) == ("", "")


# -- deferred fields --------------------------------------------------------------------------


def test_saving_a_deferred_contact_untouched_loses_nothing_and_queues_nothing(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    Contact.objects.filter(pk=contact.pk).update(firstname="Concurrent")
    deferred = Contact.objects.only("id").get(pk=contact.pk)
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as ctx,
    ):
        deferred.save()
    row = stored(contact)
    assert (row.email, row.firstname, row.lastname) == ("old@example.com", "Concurrent", "Lovelace")
    assert (row.version, row.sync_status) == (1, "synced")
    assert nudges == []
    # No deferred field is loaded one query at a time just to be written back as it was.
    assert len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]) <= 1


def test_a_change_on_a_deferred_contact_is_sent_and_writes_only_that_field(
    nudges, django_capture_on_commit_callbacks
):
    contact = make_contact()
    deferred = Contact.objects.only("id").get(pk=contact.pk)
    Contact.objects.filter(pk=contact.pk).update(firstname="Concurrent")
    deferred.email = "new@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        deferred.save()
    row = stored(contact)
    assert (row.email, row.firstname, row.version, row.sync_status) == (
        "new@example.com",
        "Concurrent",  # not clobbered by a value this instance never read
        2,
        "pending",
    )
    assert len(nudges) == 1


def test_a_deferred_field_read_later_counts_as_loaded():
    contact = make_contact()
    deferred = Contact.objects.only("id").get(pk=contact.pk)
    assert deferred.email == "old@example.com"  # loads it
    deferred.save()
    assert stored(contact).version == 1
    deferred.email = "new@example.com"
    deferred.save(update_fields=["email"])
    assert stored(contact).version == 2


def test_a_change_back_to_the_old_value_after_a_refresh_is_a_change():
    contact = make_contact()
    Contact.objects.filter(pk=contact.pk).update(email="other@example.com")
    contact.refresh_from_db()
    contact.email = "old@example.com"
    contact.save()
    row = stored(contact)
    assert (row.email, row.version, row.sync_status) == ("old@example.com", 2, "pending")


def test_a_json_field_edited_in_place_is_a_change():
    contact = make_contact()
    contact.properties["plan"] = "pro"
    contact.save()
    assert (stored(contact).properties, stored(contact).version) == ({"plan": "pro"}, 2)
    contact.associations.append({"to": {"id": "9001"}})
    contact.save()
    assert (stored(contact).associations, stored(contact).version) == ([{"to": {"id": "9001"}}], 3)
