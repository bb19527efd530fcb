"""Associations kept up to date after the create, through HubSpot's v4 associations API,
against the sandbox over real HTTP."""

from __future__ import annotations

import json

import pytest

import crmsync
from crmsync import registry, services
from crmsync.models import Contact, SyncBatch, SyncStatus
from crmsync.sync.plan import Links, association_changes, association_keys
from tests.factories import ContactFactory
from tests.hostapp.models import Company, Customer

pytestmark = pytest.mark.django_db

U, P = "HUBSPOT_DEFINED", 279


def to(*ids: str) -> list[dict]:
    return [{"to": {"id": i}, "types": [{"associationCategory": U, "associationTypeId": P}]}
            for i in ids]  # fmt: skip


def test_association_keys_are_sorted_triples():
    both = [
        {"to": {"id": "9002"}, "types": [{"associationCategory": U, "associationTypeId": 1},
                                         {"associationCategory": U, "associationTypeId": P}]},
        *to("9001"),
    ]  # fmt: skip
    assert association_keys(both) == [["9001", U, P], ["9002", U, 1], ["9002", U, P]]


@pytest.mark.parametrize(
    ("current", "synced", "expected"),
    [
        ([["1", U, P]], [["1", U, P]], None),
        ([], [], None),
        ([], None, None),  # nothing known, nothing to add
        ([["1", U, P]], None, Links([], [["1", U, P]], [["1", U, P]])),
        ([["2", U, P]], [["1", U, P]], Links(["1"], [["2", U, P]], [["2", U, P]])),
        ([], [["1", U, P]], Links(["1"], [], [])),
        # one type of a pair goes: the pair is archived and what stays is created again
        ([["1", U, P]], [["1", U, 1], ["1", U, P]], Links(["1"], [["1", U, P]], [["1", U, P]])),
        ([["1", U, 1], ["1", U, P]], [["1", U, P]],
         Links([], [["1", U, 1]], [["1", U, 1], ["1", U, P]])),
    ],
)  # fmt: skip
def test_association_changes(current, synced, expected):
    assert association_changes(current, synced) == expected


def requests(endpoint: str) -> list[dict]:
    rows = SyncBatch.objects.filter(endpoint=endpoint).order_by("id")
    return [json.loads(r.request_body) for r in rows]


def test_a_changed_company_is_moved_in_hubspot(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(associations=to("9001"))
    services.sync_batch()
    contact.refresh_from_db()
    assert contact.synced_associations == [["9001", U, P]]
    assert hubspot_sandbox.associations(contact.hubspot_id) == ["9001"]
    contact.associations = to("9002")
    contact.save()
    summary = services.sync_batch()
    assert summary is not None and summary.synced == 1
    assert requests("update") == []  # no property changed: no batch/update
    assert requests("unassociate") == [
        {"inputs": [{"from": {"id": contact.hubspot_id}, "to": [{"id": "9001"}]}]}
    ]
    assert requests("associate") == [
        {"inputs": [{"from": {"id": contact.hubspot_id}, "to": {"id": "9002"},
                     "types": [{"associationCategory": U, "associationTypeId": P}]}]}
    ]  # fmt: skip
    assert hubspot_sandbox.associations(contact.hubspot_id) == ["9002"]
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert contact.synced_associations == [["9002", U, P]]


def test_properties_and_companies_change_together(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory(firstname="Ada")
    services.sync_batch()
    contact.refresh_from_db()
    contact.firstname = "Augusta"
    contact.associations = to("9003")
    contact.save()
    services.sync_batch()
    [update] = requests("update")
    assert update["inputs"][0]["properties"] == {"firstname": "Augusta"}
    assert hubspot_sandbox.associations(contact.hubspot_id) == ["9003"]
    assert requests("unassociate") == []  # it had none


def test_an_unknown_company_fails_the_row_with_hubspots_message(crmsync_settings, hubspot_sandbox):
    contact = ContactFactory()
    services.sync_batch()
    contact.associations = to("123456")
    contact.save()
    services.sync_batch()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.FAILED
    assert contact.sync_error.startswith("associations: ")
    assert "123456" in contact.sync_error
    assert contact.synced_associations is None  # created with none: nothing recorded


def test_a_registered_models_company_is_kept_up_to_date(crmsync_settings, hubspot_sandbox):
    ids = {"Acme": "9001", "Globex": "9002"}
    crmsync.register(
        Customer,
        properties={"email": "email", "firstname": "first_name"},
        associations=lambda c: ids.get(c.company.name) if c.company else None,
    )
    try:
        acme, globex = Company.objects.create(name="Acme"), Company.objects.create(name="Globex")
        customer = Customer.objects.create(email="ada@example.com", first_name="Ada", company=acme)
        services.sync_batch()
        hubspot_id = crmsync.hubspot_id(customer)
        assert hubspot_sandbox.associations(hubspot_id) == ["9001"]
        customer.company = globex
        customer.save()
        services.sync_batch()
        assert hubspot_sandbox.associations(hubspot_id) == ["9002"]
        customer.company = None
        customer.save()
        services.sync_batch()
        assert hubspot_sandbox.associations(hubspot_id) == []
        row = Contact.objects.get(source="hostapp.customer", source_pk=str(customer.pk))
        assert row.sync_status == SyncStatus.SYNCED and row.synced_associations == []
    finally:
        registry.unregister(Customer)


def test_a_lost_create_answer_linked_without_an_update_still_gets_its_company(
    crmsync_settings, hubspot_sandbox
):
    """The lookup made at once finds the record the lost create made, holding the row's
    values: no follow-up update, but its associations are still made and recorded."""
    hubspot_sandbox.configure(drop_after_commit_rate=1.0, fault_endpoints=("create",))
    contact = ContactFactory(associations=to("9001"))
    summary = services.sync_pending()
    assert summary.synced == 1
    assert requests("update") == []
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert hubspot_sandbox.associations(contact.hubspot_id) == ["9001"]
    assert contact.synced_associations == [["9001", U, P]]
    assert len(hubspot_sandbox.contacts()) == 1
