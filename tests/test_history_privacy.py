"""Personal data in history: masked properties in stored request bodies (never in what is
sent), and a deleted contact's data taken out of history."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from crmsync import services
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.redaction import FORGOTTEN, MASK, forget_inputs, history_text
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def body_of(batch: SyncBatch) -> dict:
    return json.loads(batch.request_body)


# -- masking, pure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "masked", "expected_inputs"),
    [
        (
            {"inputs": [{"properties": {"email": "a@x.io", "phone": "+1 555"}}]},
            ("phone",),
            [{"properties": {"email": "a@x.io", "phone": MASK}}],
        ),
        (  # an emptied value (HubSpot's clear) says nothing personal: kept
            {"inputs": [{"id": "9", "properties": {"phone": ""}}]},
            ("phone",),
            [{"id": "9", "properties": {"phone": ""}}],
        ),
        (  # batch/read by email: the ids are emails
            {"idProperty": "email", "inputs": [{"id": "a@x.io"}]},
            ("email",),
            [{"id": MASK}],
        ),
        (
            {"idProperty": "email", "inputs": [{"id": "a@x.io"}]},
            ("phone",),
            [{"id": "a@x.io"}],
        ),
    ],
)
def test_history_text_masks_the_named_properties(body, masked, expected_inputs):
    encoded = json.dumps(body, separators=(",", ":")).encode()
    stored = json.loads(history_text(body, encoded, masked))
    assert stored["inputs"] == expected_inputs
    assert body == json.loads(encoded)  # what is sent is untouched


def test_history_text_is_the_sent_text_when_nothing_is_masked():
    body = {"inputs": [{"properties": {"email": "a@x.io"}}]}
    encoded = b'{"inputs":[{"properties":{"email":"a@x.io"}}]}'
    assert history_text(body, encoded, ("phone",)) == encoded.decode()
    assert history_text(body, encoded, ()) == encoded.decode()


# -- masking, through a real sync --------------------------------------------------------------


def test_a_sync_stores_masked_values_and_sends_the_real_ones(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(phone="+1 555 0100", email="ada@example.com")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert hubspot_sandbox.contact_by_email("ada@example.com")["properties"]["phone"] == (
        "+1 555 0100"
    )
    batch = SyncBatch.objects.get(endpoint="create")
    assert "555" not in batch.request_body
    sent = body_of(batch)["inputs"][0]
    assert sent["properties"]["phone"] == MASK
    assert sent["properties"]["email"] == "ada@example.com"
    assert sent["objectWriteTraceId"]


def test_masking_nothing_keeps_the_values(crmsync_settings, hubspot_sandbox):
    ContactFactory(phone="+1 555 0100")
    with override_settings(CRMSYNC={**crmsync_settings, "HISTORY_MASKED_PROPERTIES": []}):
        services.sync_pending()
    assert "+1 555 0100" in SyncBatch.objects.get(endpoint="create").request_body


# -- forgetting, pure ------------------------------------------------------------------------


def test_forget_inputs_replaces_only_theirs():
    text = json.dumps(
        {
            "inputs": [
                {"properties": {"email": "a@x.io"}, "objectWriteTraceId": "t1"},
                {"properties": {"email": "b@x.io"}, "objectWriteTraceId": "t2"},
                {"properties": {"email": "A@X.io"}, "objectWriteTraceId": "t3"},
            ]
        }
    )
    inputs = json.loads(forget_inputs(text, {"t1"}, {"a@x.io"}) or "")["inputs"]
    assert inputs[0] == {"forgotten": FORGOTTEN, "objectWriteTraceId": "t1"}
    assert inputs[1]["properties"]["email"] == "b@x.io"
    assert inputs[2] == {"forgotten": FORGOTTEN, "objectWriteTraceId": "t3"}  # by its email
    read = json.dumps({"idProperty": "email", "inputs": [{"id": "a@x.io"}, {"id": "c@x.io"}]})
    assert json.loads(forget_inputs(read, set(), {"a@x.io"}) or "")["inputs"] == [
        {"forgotten": FORGOTTEN},
        {"id": "c@x.io"},
    ]
    assert forget_inputs(text, {"t9"}, {"z@x.io"}) is None
    assert forget_inputs("not json", {"t1"}, set()) is None


# -- forgetting on delete ----------------------------------------------------------------------


@pytest.fixture
def synced_three(crmsync_settings, hubspot_sandbox):
    contacts = [
        ContactFactory(email=f"p{i}@example.com", firstname=f"Name{i}", phone=f"+1 555 010{i}")
        for i in range(3)
    ]
    services.sync_pending()
    return contacts


def assert_forgotten(contact: Contact, attempt_ids: list[int]) -> None:
    for attempt in SyncAttempt.objects.filter(pk__in=attempt_ids):
        assert attempt.email == "" and attempt.contact_id is None
    for batch in SyncBatch.objects.all():
        assert contact.email not in batch.request_body
        assert contact.firstname not in batch.request_body


def assert_remembered(contact: Contact) -> None:
    assert SyncAttempt.objects.filter(contact=contact, email=contact.email).exists()
    assert any(contact.firstname in b.request_body for b in SyncBatch.objects.all())


def test_deleting_a_contact_forgets_it_in_history(synced_three):
    gone, *kept = synced_three
    attempts = list(SyncAttempt.objects.filter(contact=gone).values_list("pk", flat=True))
    assert attempts
    gone.delete()
    assert_forgotten(gone, attempts)
    assert SyncAttempt.objects.filter(pk__in=attempts, outcome="created").count() == 1
    assert FORGOTTEN in SyncBatch.objects.get(endpoint="create").request_body
    for contact in kept:
        assert_remembered(contact)


def test_a_queryset_delete_forgets_every_row(synced_three):
    *gone, kept = synced_three
    attempts = list(SyncAttempt.objects.filter(contact__in=gone).values_list("pk", flat=True))
    Contact.objects.filter(pk__in=[c.pk for c in gone]).delete()
    for contact in gone:
        assert_forgotten(contact, attempts)
    assert_remembered(kept)


def test_with_the_setting_off_a_delete_keeps_history(synced_three, crmsync_settings):
    gone = synced_three[0]
    with override_settings(CRMSYNC={**crmsync_settings, "HISTORY_FORGET_ON_DELETE": False}):
        gone.delete()
    assert SyncAttempt.objects.filter(email=gone.email).exists()
    assert any(gone.firstname in b.request_body for b in SyncBatch.objects.all())


def test_a_read_by_email_that_found_nothing_is_forgotten_too(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(email="lost@example.com", firstname="Lost")
    Contact.objects.filter(pk=contact.pk).update(needs_reconcile=True)
    services.sync_pending()
    assert SyncBatch.objects.filter(endpoint="read").exists()
    contact.delete()
    for batch in SyncBatch.objects.all():
        assert "lost@example.com" not in batch.request_body


def test_forget_email_command_for_a_data_subject(synced_three):
    person = synced_three[1]
    Contact.objects.filter(pk=person.pk).update(email="new@example.com")  # changed since
    out = io.StringIO()
    call_command("crmsync_prune", "--forget-email", "P1@example.com", stdout=out)
    assert "forgot P1@example.com in 1 attempts and 1 stored requests" in out.getvalue()
    assert not SyncAttempt.objects.filter(email__iexact=person.email).exists()
    assert person.email not in SyncBatch.objects.get(endpoint="create").request_body
    assert_remembered(synced_three[0])


# -- a registered host model's mirror --------------------------------------------------------


@pytest.fixture
def customers():
    import crmsync
    from crmsync import registry
    from tests.hostapp.models import Customer

    crmsync.register(Customer, properties={"email": "email", "firstname": "first_name"})
    yield Customer
    registry.unregister(Customer)


def test_a_failed_mirror_deleted_with_its_host_row_is_forgotten(
    customers, crmsync_settings, hubspot_sandbox
):
    customer = customers.objects.create(email="not-an-email", first_name="Grace", plan="pro")
    services.sync_pending()
    row = Contact.objects.get(source="hostapp.customer")
    assert row.sync_status == SyncStatus.FAILED
    attempts = list(SyncAttempt.objects.filter(contact=row).values_list("pk", flat=True))
    assert attempts
    customer.delete()  # a failed mirror HubSpot never saw is deleted by SQL
    assert not Contact.objects.filter(pk=row.pk).exists()
    assert_forgotten(row, attempts)
    connection.check_constraints()  # the attempts no longer point at the deleted row


def test_an_archived_mirror_deleted_by_the_orm_is_forgotten(
    customers, crmsync_settings, hubspot_sandbox
):
    customers.objects.create(email="grace@example.com", first_name="Grace", plan="pro")
    services.sync_pending()
    row = Contact.objects.get(source="hostapp.customer")
    attempts = list(SyncAttempt.objects.filter(contact=row).values_list("pk", flat=True))
    Contact.objects.filter(source="hostapp.customer").delete()
    assert_forgotten(row, attempts)


def test_the_default_settings_mask_and_forget():
    from crmsync.conf import CrmSyncSettings

    defaults = CrmSyncSettings()
    assert "phone" in defaults.HISTORY_MASKED_PROPERTIES
    assert defaults.HISTORY_FORGET_ON_DELETE is True
    assert defaults.HISTORY_RETENTION_DAYS == 90
    assert "HISTORY_FORGET_ON_DELETE" not in django_settings.CRMSYNC
