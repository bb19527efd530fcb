"""Merges and deletions made in HubSpot, followed: an update answered OBJECT_NOT_FOUND (or
left out of the answer) looks the contact up again, relinks the row to the surviving record
and sends it the row's values; creates it again only when nothing is found. Against the
sandbox over real HTTP, through ``sync_pending()``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from crmsync import services
from crmsync.models import Contact, SyncAttempt, SyncStatus
from crmsync.sync import calls, writeback
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _synced(**fields) -> Contact:
    contact = ContactFactory(**fields)
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    return contact


def _edit(contact: Contact, **fields) -> None:
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.save()


def _notes(contact: Contact) -> list[str]:
    return list(
        SyncAttempt.objects.filter(contact=contact)
        .order_by("id")
        .values_list("error_message", flat=True)
    )


def _remote(sandbox, contact_id: str) -> dict:
    (record,) = [c for c in sandbox.contacts() if c["id"] == contact_id]
    return record


@pytest.mark.parametrize("merged_update", ["not_found", "omit"])
def test_an_update_of_a_merged_away_contact_relinks_it_to_the_survivor(
    crmsync_settings, hubspot_sandbox, merged_update
):
    hubspot_sandbox.configure(merged_update=merged_update)
    contact = _synced(email="row@example.com", firstname="Row", phone="123")
    old_id = contact.hubspot_id
    survivor = hubspot_sandbox.add_contact(
        {"email": "kept@example.com", "firstname": "Kept", "phone": "999"}
    )
    hubspot_sandbox.merge(survivor, old_id)
    _edit(contact, firstname="Edited", lastname="After")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == survivor
    record = _remote(hubspot_sandbox, survivor)
    # the row's values went to the survivor (all of them: what it holds is not known)
    assert record["properties"]["firstname"] == "Edited"
    assert record["properties"]["lastname"] == "After"
    assert record["properties"]["phone"] == "123"  # not edited here, but the survivor's differed
    assert record["properties"]["email"] == "row@example.com"
    assert len(hubspot_sandbox.contacts()) == 1  # nothing created
    assert any(f"merged into {survivor}" in note for note in _notes(contact))
    # the next edit goes straight to the survivor
    _edit(contact, firstname="Again")
    assert services.sync_pending().requests == 1
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Again"


def test_when_reads_of_the_merged_id_give_nothing_the_email_still_finds_the_survivor(
    crmsync_settings, hubspot_sandbox
):
    """merged_read="none": the old id reads as nothing. The row's email was the merged-away
    contact's, now a secondary email of the survivor: batch/read by email misses it, the
    create again answers 409 naming the survivor, and the row is linked to it."""
    hubspot_sandbox.configure(merged_read="none")
    contact = _synced(email="row@example.com", firstname="Row")
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    hubspot_sandbox.merge(survivor, contact.hubspot_id)
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == survivor
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Edited"
    assert len(hubspot_sandbox.contacts()) == 1


def test_a_contact_deleted_in_hubspot_and_made_again_there_is_found_again_by_email(
    crmsync_settings, hubspot_sandbox
):
    contact = _synced(email="row@example.com", firstname="Row")
    hubspot_sandbox.archive_contact(contact.hubspot_id)
    again = hubspot_sandbox.add_contact({"email": "row@example.com", "firstname": "Typed"})
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == again
    assert _remote(hubspot_sandbox, again)["properties"]["firstname"] == "Edited"
    assert any(f"found again by email: {again}" in note for note in _notes(contact))


def test_a_contact_deleted_in_hubspot_is_created_again_while_the_row_is_wanted(
    crmsync_settings, hubspot_sandbox
):
    contact = _synced(email="row@example.com", firstname="Row")
    old_id = contact.hubspot_id
    hubspot_sandbox.archive_contact(old_id)
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id not in ("", old_id)
    record = _remote(hubspot_sandbox, contact.hubspot_id)
    assert record["archived"] is False
    assert record["properties"]["firstname"] == "Edited"
    assert any("created again" in note for note in _notes(contact))


def test_one_merged_row_in_a_batch_leaves_the_others_unchanged(crmsync_settings, hubspot_sandbox):
    rows = [_synced(email=f"r{n}@example.com", firstname=f"R{n}") for n in range(4)]
    ids = [r.hubspot_id for r in rows]
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    hubspot_sandbox.merge(survivor, ids[1])
    for n, row in enumerate(rows):
        _edit(row, lastname=f"L{n}")
    summary = services.sync_pending()
    assert summary.failed == 0
    for n, row in enumerate(rows):
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        want = survivor if n == 1 else ids[n]
        assert row.hubspot_id == want
        assert _remote(hubspot_sandbox, want)["properties"]["lastname"] == f"L{n}"
    assert len(hubspot_sandbox.contacts()) == 4


def test_a_row_not_found_twice_in_a_row_fails_with_a_clear_message(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """The survivor a read names is itself not found: no second lookup, no loop."""
    contact = _synced(email="row@example.com")
    old_id = contact.hubspot_id
    hubspot_sandbox.archive_contact(old_id)
    real = calls.read_contacts

    def phantom(batch, keys, id_property=""):
        found, record, error = real(batch, keys, id_property)
        if not id_property:
            found = [{"id": "424242", "properties": {"hs_merged_object_ids": old_id}}]
        return found, record, error

    monkeypatch.setattr(calls, "read_contacts", phantom)
    _edit(contact, firstname="Edited")
    summary = services.sync_pending()
    contact.refresh_from_db()
    assert summary.requests <= 4
    assert contact.sync_status == SyncStatus.FAILED
    assert "not found twice in a row" in contact.sync_error
    assert "424242" in contact.sync_error
    assert len(hubspot_sandbox.contacts()) == 1  # the archived one; nothing created


class Crash(Exception):
    pass


def test_a_crash_between_the_lookup_and_the_write_back_relinks_once(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    contact = _synced(email="row@example.com", firstname="Row")
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    hubspot_sandbox.merge(survivor, contact.hubspot_id)
    _edit(contact, firstname="Edited")

    def crash(batch):
        raise Crash("worker died after the lookup and the update to the survivor")

    monkeypatch.setattr(writeback, "write_back", crash)
    with pytest.raises(Crash):
        services.sync_batch()
    monkeypatch.undo()
    Contact.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == survivor
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Edited"
    assert len(hubspot_sandbox.contacts()) == 1


def test_two_workers_relink_merged_rows_once_each(crmsync_settings, hubspot_sandbox):
    rows = [_synced(email=f"w{n}@example.com") for n in range(12)]
    survivors = {}
    for row in rows[::3]:
        survivors[row.pk] = hubspot_sandbox.add_contact({"email": f"s{row.pk}@example.com"})
        hubspot_sandbox.merge(survivors[row.pk], row.hubspot_id)
    before = {r.pk: r.hubspot_id for r in rows}
    for row in rows:
        _edit(row, firstname="Both")
    summary = services.sync_pending(concurrency=2)
    assert summary.failed == 0
    for row in rows:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED
        assert row.hubspot_id == survivors.get(row.pk, before[row.pk])
        assert _remote(hubspot_sandbox, row.hubspot_id)["properties"]["firstname"] == "Both"
    assert len(hubspot_sandbox.contacts()) == 12


def test_the_survivor_gets_the_rows_associations(crmsync_settings, hubspot_sandbox):
    link = [
        {
            "to": {"id": "9002"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
        }
    ]
    contact = _synced(email="row@example.com", associations=link)
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    hubspot_sandbox.merge(survivor, contact.hubspot_id)
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.hubspot_id == survivor
    assert "9002" in hubspot_sandbox.associations(survivor)
    assert contact.synced_associations == [["9002", "HUBSPOT_DEFINED", 279]]


def test_a_stop_after_the_lookup_keeps_the_new_link_and_sends_it_next_time(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    from crmsync import shutdown
    from crmsync.sync import refind

    contact = _synced(email="row@example.com", firstname="Row", phone="123")
    old_id = contact.hubspot_id
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com", "phone": "999"})
    hubspot_sandbox.merge(survivor, old_id)
    _edit(contact, firstname="Edited")
    real = refind.relink

    def relink_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        shutdown.request_stop("test: SIGTERM after the lookup")

    monkeypatch.setattr(refind, "relink", relink_then_stop)
    try:
        services.sync_batch()
    finally:
        shutdown.clear()
    monkeypatch.undo()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.PENDING
    # the old id is kept (and what HubSpot held of it): the next try finds the survivor
    # again and sends it everything
    assert contact.hubspot_id == old_id
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Row"  # merged
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED
    assert contact.hubspot_id == survivor
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Edited"
    assert _remote(hubspot_sandbox, survivor)["properties"]["phone"] == "123"


def test_a_lookup_whose_answer_is_lost_is_tried_again_later_never_held(
    crmsync_settings, hubspot_sandbox
):
    contact = _synced(email="", firstname="NoMail", lastname="Row")
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    hubspot_sandbox.merge(survivor, contact.hubspot_id)
    hubspot_sandbox.configure(fault_endpoints=["read"], drop_after_commit_rate=1.0)
    _edit(contact, firstname="Edited")
    services.sync_batch()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.PENDING  # not held: a read created nothing
    hubspot_sandbox.configure(drop_after_commit_rate=0.0)
    Contact.objects.update(next_attempt_at=timezone.now())
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == survivor
    assert _remote(hubspot_sandbox, survivor)["properties"]["firstname"] == "Edited"


@pytest.mark.parametrize("merged_read", ["survivor", "none"])
def test_a_row_without_email_whose_record_is_gone_fails_rather_than_duplicating(
    crmsync_settings, hubspot_sandbox, merged_read
):
    """Deleted, or merged with reads of the old id giving nothing: nothing to look it up by,
    so it is not created again (that could duplicate the contact it was merged into)."""
    hubspot_sandbox.configure(merged_read=merged_read)
    contact = _synced(email="", firstname="NoMail", lastname="Row")
    survivor = hubspot_sandbox.add_contact({"email": "kept@example.com"})
    if merged_read == "none":
        hubspot_sandbox.merge(survivor, contact.hubspot_id)
    else:
        hubspot_sandbox.archive_contact(contact.hubspot_id)
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_status == SyncStatus.FAILED
    assert contact.sync_error_category == "OBJECT_NOT_FOUND"
    assert "no email" in contact.sync_error and "Forget the HubSpot id" in contact.sync_error
    active = [c for c in hubspot_sandbox.contacts() if not c["archived"]]
    assert [c["id"] for c in active] == [survivor]  # nothing created


def test_the_unique_property_hook_is_looked_up_before_the_email(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """With ``CRMSYNC["UNIQUE_PROPERTY"]`` (the upsert write mode's setting), the record is
    looked up by that property's value too (batch/read with it as idProperty; the sandbox's
    read by a custom property is played here by wrapping the read)."""
    from crmsync.sync import refind

    hubspot_sandbox.add_property(
        {"name": "crmsync_key", "label": "Key", "type": "string", "hasUniqueValue": True}
    )
    contact = _synced(email="row@example.com", properties={"crmsync_key": "k-1"})
    hubspot_sandbox.archive_contact(contact.hubspot_id)
    again = hubspot_sandbox.add_contact({"email": "other@example.com", "crmsync_key": "k-1"})
    asked = []
    real = calls.read_contacts

    def by_key(batch, keys, id_property=""):
        if id_property != "crmsync_key":
            return real(batch, keys, id_property)
        asked.append(list(keys))
        records = [c for c in hubspot_sandbox.contacts() if not c["archived"]]
        found = [c for c in records if c["properties"].get("crmsync_key") in keys]
        _, record, error = real(batch, [], "")
        return found, record, error

    monkeypatch.setattr(refind, "unique_property", lambda batch: "crmsync_key")
    monkeypatch.setattr(calls, "read_contacts", by_key)
    _edit(contact, firstname="Edited")
    services.sync_pending()
    contact.refresh_from_db()
    assert asked == [["k-1"]]
    assert contact.sync_status == SyncStatus.SYNCED, contact.sync_error
    assert contact.hubspot_id == again
    assert any(f"found again by crmsync_key: {again}" in note for note in _notes(contact))
