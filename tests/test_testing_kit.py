"""crmsync.testing, the kit host projects test with: used here as they would use it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import override_settings

from crmsync.models import Contact
from crmsync.testing import assert_in_hubspot, assert_synced, sandbox_settings, sync_now

pytestmark = pytest.mark.django_db


def test_the_fixture_points_crmsync_at_the_sandbox(crmsync_sandbox):
    assert settings.CRMSYNC["API_BASE_URL"] == crmsync_sandbox.url
    assert settings.CRMSYNC["ACCESS_TOKEN"] == crmsync_sandbox.token
    assert settings.CRMSYNC["REDIS_URL"] == ""
    assert crmsync_sandbox.contacts() == []


def test_the_projects_own_settings_are_kept_under_the_sandbox(crmsync_sandbox):
    with override_settings(CRMSYNC={"BATCH_SIZE": 7, "API_BASE_URL": "https://api.hubapi.com"}):
        conf = sandbox_settings(crmsync_sandbox, MAX_ATTEMPTS=2)
    assert conf["BATCH_SIZE"] == 7 and conf["MAX_ATTEMPTS"] == 2
    assert conf["API_BASE_URL"] == crmsync_sandbox.url


def test_a_contact_created_in_the_test_reaches_the_sandbox(crmsync_sandbox):
    contact = Contact.objects.create(
        email="ada@example.com",
        firstname="Ada",
        properties={"date_of_birth": dt.date(1815, 12, 10), "hs_email_optout": False},
    )
    with override_settings(CRMSYNC={**settings.CRMSYNC, "CONCURRENCY": 4}):
        summary = sync_now()
    assert summary.synced == 1
    row = assert_synced(contact)
    record = assert_in_hubspot(
        crmsync_sandbox,
        email="ADA@example.com",
        properties={
            "firstname": "Ada",
            "date_of_birth": dt.date(1815, 12, 10),
            "hs_email_optout": False,
            "lastname": None,
        },
    )
    assert record["id"] == row.hubspot_id
    assert assert_synced(contact.pk).pk == contact.pk


def test_assert_synced_says_a_pending_row_was_never_sent(crmsync_sandbox):
    contact = Contact.objects.create(email="ada@example.com")
    with pytest.raises(
        AssertionError, match=r"contact #\d+ \(ada@example.com\) is pending.*sync_now"
    ):
        assert_synced(contact)


def test_assert_synced_quotes_why_a_row_failed(crmsync_sandbox):
    contact = Contact.objects.create(email="not-an-email")
    sync_now()
    with pytest.raises(AssertionError) as info:
        assert_synced(contact)
    message = str(info.value)
    assert "is failed, not synced: " in message and "not-an-email" in message
    assert "[INVALID_EMAIL]" in message or "[VALIDATION_ERROR]" in message


def test_assert_synced_sees_a_change_not_sent_yet(crmsync_sandbox):
    contact = Contact.objects.create(email="ada@example.com")
    sync_now()
    Contact.objects.filter(pk=contact.pk).update(version=2)
    with pytest.raises(AssertionError, match="synced at version 1, but it is at version 2"):
        assert_synced(contact)


def test_assert_synced_of_a_missing_row():
    with pytest.raises(AssertionError, match="no contact #999999"):
        assert_synced(999_999)


def test_assert_in_hubspot_lists_what_the_sandbox_holds(crmsync_sandbox):
    crmsync_sandbox.add_contact({"email": "bob@example.com"})
    with pytest.raises(AssertionError, match=re.escape("holds 1: bob@example.com")):
        assert_in_hubspot(crmsync_sandbox, email="ada@example.com")
    crmsync_sandbox.reset()
    with pytest.raises(AssertionError, match="it holds none"):
        assert_in_hubspot(crmsync_sandbox, email="ada@example.com")


def test_assert_in_hubspot_shows_held_against_expected(crmsync_sandbox):
    crmsync_sandbox.add_contact({"email": "ada@example.com", "firstname": "Ada"})
    with pytest.raises(AssertionError) as info:
        assert_in_hubspot(
            crmsync_sandbox,
            email="ada@example.com",
            properties={"firstname": "Grace", "jobtitle": "CEO", "email": "ada@example.com"},
        )
    message = str(info.value)
    assert "firstname: HubSpot holds 'Ada', expected 'Grace'" in message
    assert "jobtitle: HubSpot holds None, expected 'CEO'" in message
    assert "email:" not in message.split("it holds:")[0]
    assert "it holds: " in message and "firstname='Ada'" in message


def test_sync_now_refuses_to_send_anywhere_but_a_sandbox():
    with (
        override_settings(
            CRMSYNC={"ACCESS_TOKEN": "real", "API_BASE_URL": "https://api.hubapi.com"}
        ),
        pytest.raises(RuntimeError, match=r"only to a sandbox.*https://api\.hubapi\.com"),
    ):
        sync_now()
    assert Contact.objects.count() == 0
