"""The contact and batch pages: a page of history at a time, the state in one sentence, the
record in HubSpot, linked conflicts shown as linked; lists that need no DISTINCT."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crmsync import conf, services
from crmsync.admin import pages
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
ROW = re.compile(r'<tr class="crmsync-attempt">')


def attempts(contact, n):
    SyncAttempt.objects.bulk_create(
        SyncAttempt(contact=contact, outcome="retry", error_message=f"attempt-{i:04d}.")
        for i in range(n)
    )
    return list(SyncAttempt.objects.filter(contact=contact).order_by("-id"))


def contact_page(client, contact, **params):
    url = reverse("admin:crmsync_contact_change", args=[contact.pk])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode(), queries


def test_attempts_page_two_shows_the_next_twenty_newest_first(admin_client):
    contact = ContactFactory()
    newest = attempts(contact, 45)
    page, _ = contact_page(admin_client, contact, attempts_page=2)
    assert len(ROW.findall(page)) == 20
    shown = re.findall(r"attempt-\d{4}\.", page)
    assert shown == [a.error_message for a in newest[20:40]]
    assert "?attempts_page=1" in page and "?attempts_page=3" in page
    assert f"?contact__id__exact={contact.pk}" in page
    last, _ = contact_page(admin_client, contact, attempts_page=3)
    assert len(ROW.findall(last)) == 5 and "?attempts_page=4" not in last
    for junk in ("0", "-1", "x", "9999999999999999999"):
        assert contact_page(admin_client, contact, attempts_page=junk)[0]


def test_the_page_costs_the_same_with_thousands_of_attempts(admin_client):
    few, many = ContactFactory(), ContactFactory()
    attempts(few, 21)
    attempts(many, 2000)
    contact_page(admin_client, few)  # one-time costs (the banner's pipeline row) out of the way
    small, small_queries = contact_page(admin_client, few)
    big, big_queries = contact_page(admin_client, many)
    assert len(ROW.findall(big)) == 20
    assert len(big_queries) == len(small_queries)
    assert len(big) < len(small) + 2000  # not 2,000 rows of HTML
    (query,) = [q["sql"] for q in big_queries if "crmsync_syncattempt" in q["sql"]]
    assert "LIMIT 21" in query and "ORDER BY" in query


def test_the_full_list_link_filters_the_attempts(admin_client):
    one, other = ContactFactory(), ContactFactory()
    attempts(one, 3)
    SyncAttempt.objects.create(contact=other, outcome="failed", error_message="other-row")
    url = reverse("admin:crmsync_syncattempt_changelist")
    page = admin_client.get(url, {"contact__id__exact": one.pk}).content.decode()
    assert "attempt-0000" in page and "other-row" not in page


NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {
                "sync_status": "failed",
                "sync_error": "Email address x is invalid",
                "sync_error_category": "VALIDATION_ERROR",
            },
            "Failed: Email address x is invalid [VALIDATION_ERROR]. Fix what it names and save",
        ),
        (
            {
                "sync_status": "pending",
                "sync_attempts": 1,
                "next_attempt_at": NOW + dt.timedelta(minutes=3),
                "sync_error": "HTTP 502",
            },
            "Pending: next attempt in 3\xa0minutes (attempt 2 of 8). Last try: HTTP 502.",
        ),
        ({"sync_status": "pending", "next_attempt_at": NOW}, "Pending: due now"),
        (
            {"sync_status": "held", "sync_error": "the answer was lost"},
            "Held: the answer was lost. Check HubSpot for this contact and settle it",
        ),
        (
            {"sync_status": "in_flight", "lease_expires_at": NOW + dt.timedelta(minutes=4)},
            "In flight: a worker is sending it; lease until 12:04:00 (in 4\xa0minutes)",
        ),
        (
            {"sync_status": "in_flight", "lease_expires_at": NOW - dt.timedelta(minutes=4)},
            "lease ran out at 11:56:00",
        ),
        (
            {
                "sync_status": "synced",
                "hubspot_id": "123",
                "synced_at": NOW - dt.timedelta(minutes=5),
            },
            "Synced 5\xa0minutes ago as HubSpot contact 123.",
        ),
        ({"sync_status": "archived"}, "Archived in HubSpot"),
    ],
)
def test_the_state_in_one_sentence(settings, fields, expected):
    settings.TIME_ZONE = "UTC"
    sentence = pages.state_sentence(Contact(**fields), conf.get_settings(), NOW)
    assert expected in sentence


def test_the_sentence_is_on_the_page(admin_client):
    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).update(
        sync_status=SyncStatus.FAILED, sync_error="HubSpot rejected the email"
    )
    page, _ = contact_page(admin_client, contact)
    assert "Failed: HubSpot rejected the email. Fix what it names and save" in page


def test_the_hubspot_link_with_and_without_a_portal_id(admin_client, settings):
    contact = ContactFactory()
    Contact.objects.filter(pk=contact.pk).update(hubspot_id="987", sync_status="synced")
    settings.CRMSYNC = {}
    page, _ = contact_page(admin_client, contact)
    assert "987" in page and 'CRMSYNC["PORTAL_ID"]' in page and "app.hubspot.com" not in page
    settings.CRMSYNC = {"PORTAL_ID": "4242"}
    page, _ = contact_page(admin_client, contact)
    assert 'href="https://app.hubspot.com/contacts/4242/record/0-1/987"' in page
    settings.CRMSYNC = {"PORTAL_ID": "4242", "HUBSPOT_APP_URL": "https://app-eu1.hubspot.com/"}
    page, _ = contact_page(admin_client, contact)
    assert 'href="https://app-eu1.hubspot.com/contacts/4242/record/0-1/987"' in page


def test_internals_are_collapsed(admin_client):
    page, _ = contact_page(admin_client, ContactFactory())
    internals = page[page.index("Internals") - 300 : page.index("Internals")]
    assert "collapse" in internals
    assert page.index("Internals") < page.index("field-lease_expires_at")


def test_a_batch_whose_conflicts_were_all_linked_reads_linked(
    admin_client, crmsync_settings, hubspot_sandbox
):
    emails = [f"known{n}@example.com" for n in range(4)]
    ids = [hubspot_sandbox.add_contact({"email": e}) for e in emails]
    for email in emails:
        ContactFactory(email=email)
    services.sync_pending()
    assert sorted(Contact.objects.values_list("hubspot_id", flat=True)) == sorted(ids)
    create = SyncBatch.objects.get(endpoint="create")
    # What HubSpot answered is kept as it was: four errors, CONFLICT.
    assert (create.http_status, create.error_count, create.error_category) == (
        207,
        4,
        "CONFLICT",
    )
    page = admin_client.get(reverse("admin:crmsync_syncbatch_change", args=[create.pk]))
    text = page.content.decode()
    assert "4 linked to existing contacts, 0 errors." in text
    assert text.count("Linked to existing") >= 4
    listing = admin_client.get(reverse("admin:crmsync_syncbatch_changelist")).content.decode()
    assert "0 ok, 4 linked, 0 errors" in listing
    body = text[text.index("Request body") - 300 : text.index("Request body")]
    assert "collapse" in body


def test_batch_outcomes_are_paginated(admin_client):
    batch = SyncBatch.objects.create(endpoint="create", http_status=207, input_count=100)
    SyncAttempt.objects.bulk_create(
        SyncAttempt(batch=batch, email=f"row{n:03d}@example.com", outcome="created")
        for n in range(100)
    )
    url = reverse("admin:crmsync_syncbatch_change", args=[batch.pk])
    text = admin_client.get(url, {"outcomes_page": 5}).content.decode()
    assert len(ROW.findall(text)) == 20
    assert "row019@example.com" in text and "row020@example.com" not in text
    assert "100 created, 0 errors." in text


def test_a_whole_request_rejection_says_so():
    summary = pages.batch_summary({}, 409, "CONFLICT")
    assert summary.startswith("HTTP 409 CONFLICT for the whole request")
    assert pages.batch_summary({"failed": 1, "created": 2}, 207, "") == "2 created, 1 error."


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("admin:crmsync_contact_changelist", {}),
        ("admin:crmsync_contact_changelist", {"sync_error_category": "CONFLICT"}),
        ("admin:crmsync_contact_changelist", {"lifecyclestage": "-other"}),
        ("admin:crmsync_syncbatch_changelist", {"http": "4xx", "within": "24h"}),
        ("admin:crmsync_syncattempt_changelist", {"error_category": "-"}),
    ],
)
def test_list_filters_run_no_distinct(admin_client, url, params):
    ContactFactory(lifecyclestage="vip")
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse(url), params)
    assert page.status_code == 200
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]


def test_filters_choose_from_fixed_lists(admin_client):
    vip = ContactFactory(lifecyclestage="vip", email="vip@example.com")
    lead = ContactFactory(lifecyclestage="lead", email="lead@example.com")
    Contact.objects.filter(pk=lead.pk).update(sync_error_category="CONFLICT")
    url = reverse("admin:crmsync_contact_changelist")
    page = admin_client.get(url).content.decode()
    assert "marketingqualifiedlead" in page and "VALIDATION_ERROR" in page
    other = admin_client.get(url, {"lifecyclestage": "-other"}).content.decode()
    assert vip.email in other and lead.email not in other
    conflict = admin_client.get(url, {"sync_error_category": "CONFLICT"}).content.decode()
    assert lead.email in conflict and vip.email not in conflict


def test_a_long_error_is_clipped_with_the_whole_text_in_its_title(admin_client):
    contact = ContactFactory()
    long = "Property values were not valid: " + "x" * 400 + " END"
    Contact.objects.filter(pk=contact.pk).update(sync_status="failed", sync_error=long)
    page = admin_client.get(reverse("admin:crmsync_contact_changelist")).content.decode()
    assert f'title="{long}"' in page and "END</span>" not in page


def test_short_dates():
    now = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    with timezone.override("UTC"):
        assert pages.short_date(now.replace(hour=9, minute=5), now) == "09:05"
        assert pages.short_date(dt.datetime(2025, 3, 2, 14, 3, tzinfo=dt.UTC), now) == (
            "Mar 02 14:03"
        )
        assert pages.short_date(dt.datetime(2024, 3, 2, tzinfo=dt.UTC), now) == "2024-03-02"


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        ({"PORTAL_ID": "12345"}, []),
        ({"PORTAL_ID": "12a45"}, ["crmsync.E033"]),
        ({"PORTAL_ID": "١٢٣"}, ["crmsync.E033"]),  # digits, but not ASCII ones
        ({"PORTAL_ID": 12345}, ["crmsync.E007"]),
        ({"HUBSPOT_APP_URL": "https://app-eu1.hubspot.com"}, []),
        ({"HUBSPOT_APP_URL": "http://app.hubspot.com"}, ["crmsync.E034"]),
        ({"HUBSPOT_APP_URL": "app.hubspot.com"}, ["crmsync.E034"]),
        ({"HUBSPOT_APP_URL": "https://x:port"}, ["crmsync.E034"]),
    ],
)
def test_portal_settings_are_checked_and_never_stop_sending(raw, ids):
    problems = [p for p in conf.validate({"ACCESS_TOKEN": "t", **raw}) if p.id != "crmsync.W001"]
    assert [p.id for p in problems] == ids
    if ids and ids != ["crmsync.E007"]:
        assert not problems[0].blocks_sending
        conf.ensure_valid({"ACCESS_TOKEN": "t", **raw})  # does not raise
