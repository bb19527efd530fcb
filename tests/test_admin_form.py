"""The contact form refuses what the sync would refuse, as form errors: never a 500, and
nothing saved. A NUL saved outside the admin fails its row, not its batch."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from crmsync import services
from crmsync.models import Contact, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "email": "ada@example.com",
    "firstname": "Ada",
    "lastname": "",
    "phone": "",
    "company": "",
    "lifecyclestage": "lead",
    "properties": "{}",
    "associations": "[]",
}

CASES = [
    ("invalid email", {"email": "not-an-email"}, "Email address not-an-email is invalid"),
    ("email without a TLD", {"email": "someone@localhost"}, "someone@localhost is invalid"),
    ("internationalised email", {"email": "jösé@exämple.com"}, "is invalid"),
    ("nested property", {"properties": '{"jobtitle": {"a": 1}}'}, "jobtitle: cannot send"),
    ("nested list", {"properties": '{"hs_lead_status": [["NEW"]]}'}, "hs_lead_status: a multi"),
    ("properties not an object", {"properties": '["a"]'}, "must be a JSON object"),
    ("bad property name", {"properties": '{"Job Title": "CEO"}'}, "'Job Title': not a HubSpot"),
    ("own field in properties", {"properties": '{"email": "x@y.com"}'}, "set it on the contact"),
    (
        "NUL in a value",
        {"properties": '{"jobtitle": "a\\u0000b"}'},
        "properties.jobtitle contains a NUL",
    ),
    ("NUL in a name", {"properties": '{"job\\u0000": "x"}'}, "contains a NUL"),
    (
        "NUL in associations",
        {"associations": '[{"to": {"id": "1"}, "x": "\\u0000"}]'},
        "associations[0].x contains a NUL",
    ),
    ("NUL in a field", {"firstname": "A\x00da"}, "Null characters are not allowed"),
    ("control character", {"properties": '{"jobtitle": "ding\\u0007"}'}, "U+0007"),
    (
        "over-long value",
        {"properties": '{"message": "' + "x" * 70_000 + '"}'},
        "70,000 characters; HubSpot allows at most 65,536",
    ),
    ("NaN-free number", {"properties": '{"annualrevenue": 1e999}'}, "annualrevenue"),
    (
        "empty contact",
        {"email": "", "firstname": "", "lifecyclestage": ""},
        "A contact needs an email, a name or at least one property",
    ),
    (
        "empty properties do not count",
        {"email": "", "firstname": "", "properties": '{"jobtitle": ""}'},
        "A contact needs",
    ),
    ("associations not a list", {"associations": '{"to": 1}'}, "associations: must be a list"),
    (
        "association id",
        {"associations": '[{"to": {"id": "abc"}}]'},
        "&#x27;abc&#x27; is not a HubSpot record id",
    ),
    (
        "association type",
        {
            "associations": '[{"to": {"id": "1"}, "types": '
            '[{"associationCategory": "NOPE", "associationTypeId": 1}]}]'
        },
        "associationCategory",
    ),
    ("not JSON", {"properties": "{oops"}, "Enter a valid JSON"),
]


@pytest.mark.parametrize(("kind", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_add_form_refuses_it(admin_client, kind, change, message):
    response = admin_client.post(reverse("admin:crmsync_contact_add"), {**GOOD, **change})
    assert response.status_code == 200, kind
    text = response.content.decode()
    assert message in text or message in html.unescape(text), text[text.find("errorlist") :][:600]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(("kind", "change", "message"), CASES[:12], ids=[c[0] for c in CASES[:12]])
def test_the_change_form_refuses_it_and_keeps_the_row(admin_client, kind, change, message):
    contact = ContactFactory(email="kept@example.com", firstname="Kept")
    url = reverse("admin:crmsync_contact_change", args=[contact.pk])
    response = admin_client.post(url, {**GOOD, **change})
    assert response.status_code == 200, kind
    assert (
        message in html.unescape(response.content.decode()) or message in response.content.decode()
    )
    contact.refresh_from_db()
    assert (contact.email, contact.firstname, contact.version) == ("kept@example.com", "Kept", 1)


def test_good_input_is_saved(admin_client):
    data = {
        **GOOD,
        "properties": '{"jobtitle": "CEO", "hs_lead_status": ["NEW", "OPEN"], '
        '"annualrevenue": 12.5}',
        "associations": '[{"to": {"id": "9001"}}]',
    }
    response = admin_client.post(reverse("admin:crmsync_contact_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    contact = Contact.objects.get()
    assert contact.properties["jobtitle"] == "CEO" and contact.associations[0]["to"]["id"] == "9001"


def test_a_blank_json_field_means_none(admin_client):
    data = {**GOOD, "properties": "", "associations": ""}
    assert admin_client.post(reverse("admin:crmsync_contact_add"), data).status_code == 302
    contact = Contact.objects.get()
    assert (contact.properties, contact.associations) == ({}, [])


def test_a_nul_saved_through_the_orm_fails_its_row_and_the_batch_syncs(
    crmsync_settings, hubspot_sandbox
):
    good = [ContactFactory(email=f"good{n}@example.com") for n in range(5)]
    in_value = ContactFactory(email="nul-value@example.com", properties={"jobtitle": "a\x00b"})
    in_name = ContactFactory(email="nul-name@example.com", properties={"job\x00title": "x"})
    services.sync_pending()
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED, row.sync_error
    in_value.refresh_from_db()
    in_name.refresh_from_db()
    assert in_value.sync_status == SyncStatus.FAILED and "jobtitle" in in_value.sync_error
    assert "U+0000" in in_value.sync_error or "NUL" in in_value.sync_error
    assert in_name.sync_status == SyncStatus.FAILED
    assert "not a HubSpot property name" in in_name.sync_error
    assert len(hubspot_sandbox.contacts()) == 5
