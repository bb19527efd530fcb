"""An install upgraded from the schema before host-model mirrors keeps every HubSpot id and
history row, and its synced contacts send everything once (nothing is known of what
HubSpot holds), then only what changes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("crmsync", "0005_properties_stored_as_hubspot_strings")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_upgrading_keeps_ids_and_history_and_marks_nothing_as_known():
    old = migrate(BEFORE)
    Contact = old.get_model("crmsync", "Contact")
    SyncBatch = old.get_model("crmsync", "SyncBatch")
    SyncAttempt = old.get_model("crmsync", "SyncAttempt")
    contact = Contact.objects.create(
        email="old@example.com", hubspot_id="512", sync_status="synced", version=3,
        synced_version=3, properties={"jobtitle": "Analyst"},
    )  # fmt: skip
    batch = SyncBatch.objects.create(
        endpoint="create", path="/crm/v3/objects/contacts/batch/create"
    )
    SyncAttempt.objects.create(batch=batch, contact=contact, outcome="created", hubspot_id="512")
    latest = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes("crmsync")]
    new = migrate(latest)
    Contact = new.get_model("crmsync", "Contact")
    SyncAttempt = new.get_model("crmsync", "SyncAttempt")
    upgraded = Contact.objects.get(pk=contact.pk)
    assert (upgraded.hubspot_id, upgraded.sync_status, upgraded.version) == ("512", "synced", 3)
    assert upgraded.properties == {"jobtitle": "Analyst"}
    assert upgraded.synced_properties is None  # unknown: the next update sends everything
    assert (upgraded.source, upgraded.source_pk, upgraded.action) == ("", "", "upsert")
    assert SyncAttempt.objects.get(contact_id=contact.pk).hubspot_id == "512"


def test_upgrading_gives_every_existing_contact_a_key_of_its_own():
    old = migrate([("crmsync", "0011_next_attempt_db_clock")])
    Contact = old.get_model("crmsync", "Contact")
    ids = [Contact.objects.create(email=f"k{n}@example.com").pk for n in range(3)]
    latest = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes("crmsync")]
    new = migrate(latest)
    keys = set(
        new.get_model("crmsync", "Contact")
        .objects.filter(pk__in=ids)
        .values_list("sync_key", flat=True)
    )
    assert len(keys) == 3 and None not in keys
    # A row inserted by raw SQL (the mirror of host models does so) gets one too.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crmsync_contact (email, firstname, lastname, phone, company, "
            "lifecyclestage, properties, associations, sync_status, hubspot_id, sync_error, "
            "sync_error_category, hubspot_status) VALUES ('raw@example.com', '', '', '', '', "
            "'', '{}', '[]', 'pending', '', '', '', '') RETURNING sync_key"
        )
        (raw_key,) = cursor.fetchone()
    assert raw_key is not None and raw_key not in keys
