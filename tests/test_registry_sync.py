"""A registered host model end to end: its mirror sent by the engine, over real HTTP to the
sandbox, with changed-only updates, clears, create-only properties and archives."""

from __future__ import annotations

import json

import pytest

import crmsync
from crmsync import registry, services
from crmsync.models import Contact, SyncBatch, SyncStatus
from tests.hostapp.models import Customer

pytestmark = pytest.mark.django_db

LABEL = "hostapp.customer"
PROPERTIES = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "lifecyclestage": lambda c: "customer" if c.plan == "pro" else "lead",
}


@pytest.fixture
def register(crmsync_settings):
    made = []

    def make(properties=None, **options):
        made.append(Customer)
        return crmsync.register(Customer, properties=properties or PROPERTIES, **options)

    yield make
    for model in made:
        registry.unregister(model)


def mirror(customer) -> Contact:
    return Contact.objects.get(source=LABEL, source_pk=str(customer.pk))


def bodies(endpoint: str) -> list[dict]:
    rows = SyncBatch.objects.filter(endpoint=endpoint).order_by("id")
    return [json.loads(b.request_body) for b in rows]


def test_a_host_edit_sends_only_what_changed_and_a_cleared_field_as_empty(
    register, crmsync_sandbox
):
    register()
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="L")
    services.sync_batch()
    customer.first_name = "Augusta"
    customer.last_name = ""
    customer.save()
    services.sync_batch()
    [update] = bodies("update")
    assert update["inputs"][0]["properties"] == {"firstname": "Augusta", "lastname": ""}
    remote = crmsync_sandbox.contact_by_email("ada@example.com")["properties"]
    assert remote["firstname"] == "Augusta" and not remote.get("lastname")


def test_a_save_that_changes_nothing_mapped_sends_nothing(register, crmsync_sandbox):
    register()
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    services.sync_batch()
    customer.is_active = False  # not mapped
    customer.save()
    assert services.sync_batch() is None  # nothing was queued
    assert bodies("update") == []


def test_create_only_properties_go_with_the_create_only(register, crmsync_sandbox):
    register(create_only=["lifecyclestage"])
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada", plan="free")
    services.sync_batch()
    assert crmsync_sandbox.contact_by_email("ada@example.com")["properties"]["lifecyclestage"] == (
        "lead"
    )
    customer.plan = "pro"  # would be "customer": never overwritten after the create
    customer.first_name = "Augusta"
    customer.save()
    services.sync_batch()
    [update] = bodies("update")
    assert update["inputs"][0]["properties"] == {"firstname": "Augusta"}
    remote = crmsync_sandbox.contact_by_email("ada@example.com")["properties"]
    assert remote["lifecyclestage"] == "lead"


def test_deleting_a_row_registered_to_archive_archives_its_contact(register, crmsync_sandbox):
    register(on_delete="archive")
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    services.sync_batch()
    hubspot_id = crmsync.hubspot_id(customer)
    pk = customer.pk
    customer.delete()
    summary = services.sync_batch()
    assert summary is not None and summary.requests == 1
    assert bodies("archive") == [{"inputs": [{"id": hubspot_id}]}]
    assert [c["id"] for c in crmsync_sandbox.archived_contacts()] == [hubspot_id]
    row = Contact.objects.get(source=LABEL, source_pk=str(pk))  # outlived its host row
    assert row.sync_status == SyncStatus.ARCHIVED


def test_deleting_with_the_default_policy_leaves_hubspot_untouched(register, crmsync_sandbox):
    register()
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    services.sync_batch()
    customer.delete()
    assert services.sync_batch() is None
    assert crmsync_sandbox.archived_contacts() == []
    assert crmsync_sandbox.contact_by_email("ada@example.com") is not None


def test_a_rename_updates_the_same_contact(register, crmsync_sandbox):
    register()
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    services.sync_batch()
    hubspot_id = crmsync.hubspot_id(customer)
    customer.email = "augusta@example.com"
    customer.save()
    services.sync_batch()
    [update] = bodies("update")
    assert update["inputs"][0] == {
        "id": hubspot_id,
        "properties": {"email": "augusta@example.com"},
        "objectWriteTraceId": update["inputs"][0]["objectWriteTraceId"],
    }
    assert len([c for c in crmsync_sandbox.contacts() if not c.get("archived")]) == 1
    assert crmsync_sandbox.contact_by_email("augusta@example.com")["id"] == hubspot_id


def test_a_value_too_long_for_the_contact_field_fails_its_row_with_why(register, crmsync_sandbox):
    register(properties={**PROPERTIES, "firstname": lambda c: c.first_name * 3})
    customer = Customer.objects.create(email="ada@example.com", first_name="A" * 100)
    services.sync_batch()
    row = mirror(customer)
    assert row.sync_status == SyncStatus.FAILED
    assert row.sync_error.startswith(f"Cannot send {LABEL} #{customer.pk}: firstname: ")
    assert "set it on the contact's own field" not in row.sync_error


def test_a_row_without_email_and_with_empty_fields_is_matched_to_its_create(
    register, crmsync_sandbox
):
    """A mirror's create carries its empty fields as "" (HubSpot stores nothing for them and
    answers without them) and no email: it is matched to its result by the properties sent,
    "" meaning absent, so it ends synced, never held as an unknown outcome."""
    crmsync_sandbox.add_property({"name": "signed_up", "type": "date", "fieldType": "date"})
    register(properties={**PROPERTIES, "signed_up": "signed_up"})
    customer = Customer.objects.create(email="", first_name="NoMail")
    summary = services.sync_batch()
    row = mirror(customer)
    assert (summary.synced, summary.held) == (1, 0), row.sync_error
    assert row.sync_status == SyncStatus.SYNCED
    [create] = bodies("create")
    assert create["inputs"][0]["properties"]["signed_up"] == ""
    assert [c["id"] for c in crmsync_sandbox.contacts()] == [row.hubspot_id]
