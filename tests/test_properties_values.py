"""Python values in ``Contact.properties`` that JSON cannot hold: dates, Decimals, sets...

The README promises their conversion (``mapping.to_hubspot_value``). The column stores them
in the form HubSpot takes, so the row saves and what is sent is what ``to_hubspot_value``
gives for the value saved; a value that cannot be sent still saves, and the sync fails that
row with a message naming the property.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from crmsync import services
from crmsync.mapping import to_hubspot_value
from crmsync.models import Contact, SyncBatch, SyncStatus

pytestmark = pytest.mark.django_db

CONVERTED = {
    "date_of_birth": dt.date(2019, 10, 31),
    "closedate": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
    "annualrevenue": Decimal("1234.50"),
    "hs_lead_status": frozenset({"NEW"}),
    "jobtitle": ("Chief", "Analyst"),
    "message": {"b", "a"},
}


def sent_properties(email: str) -> dict[str, str]:
    """The properties crmsync sent for ``email``, from the request bodies it kept."""
    for batch in SyncBatch.objects.order_by("id"):
        for item in json.loads(batch.request_body).get("inputs", []):
            if item.get("properties", {}).get("email") == email:
                return item["properties"]
    raise AssertionError(f"nothing was sent for {email}")


def test_such_values_save_as_the_strings_hubspot_takes():
    contact = Contact.objects.create(email="ada@example.com", properties=CONVERTED)
    stored = Contact.objects.get(pk=contact.pk).properties
    assert stored == {name: to_hubspot_value(value) for name, value in CONVERTED.items()}
    assert stored["date_of_birth"] == "1572480000000"
    assert stored["closedate"] == "2024-05-06T07:08:09.123Z"
    assert stored["annualrevenue"] == "1234.5"
    assert stored["message"] == "a;b"


def test_plain_json_is_stored_as_it_is():
    plain = {"jobtitle": "CEO", "score": 1.5, "tags": ["a", "b"], "n": 3, "ok": True, "x": None}
    contact = Contact.objects.create(email="ada@example.com", properties=plain)
    assert Contact.objects.get(pk=contact.pk).properties == plain


def test_such_values_in_a_list_are_converted_too():
    contact = Contact.objects.create(
        email="ada@example.com", properties={"when": ["x", dt.date(2019, 10, 31)]}
    )
    stored = Contact.objects.get(pk=contact.pk).properties["when"]
    assert stored == to_hubspot_value(["x", dt.date(2019, 10, 31)]) == "x;1572480000000"


def test_saving_the_same_values_again_is_no_change():
    """A host that copies its data in on every save must not re-send an unchanged row."""
    contact = Contact.objects.create(email="ada@example.com", properties=CONVERTED)
    Contact.objects.filter(pk=contact.pk).update(sync_status=SyncStatus.SYNCED)
    contact = Contact.objects.get(pk=contact.pk)
    contact.properties = dict(CONVERTED)
    contact.save()
    contact.refresh_from_db()
    assert contact.version == 1 and contact.sync_status == SyncStatus.SYNCED


def test_what_is_sent_is_what_to_hubspot_value_gives(crmsync_settings, hubspot_sandbox):
    contact = Contact.objects.create(email="ada@example.com", properties=CONVERTED)
    # The kept bodies show what was sent only with nothing masked (date_of_birth is, by default).
    with override_settings(CRMSYNC={**crmsync_settings, "HISTORY_MASKED_PROPERTIES": []}):
        summary = services.sync_pending()
    contact.refresh_from_db()
    assert summary.synced == 1, contact.sync_error
    sent = sent_properties("ada@example.com")
    for name, value in CONVERTED.items():
        assert sent[name] == to_hubspot_value(value, name)
    remote = hubspot_sandbox.contact_by_email("ada@example.com")["properties"]
    assert remote["date_of_birth"] == "2019-10-31"
    assert remote["annualrevenue"] == "1234.5"


UNSENDABLE = [
    ("float NaN", float("nan"), "not a number HubSpot can store"),
    ("float infinity", float("inf"), "not a number HubSpot can store"),
    ("Decimal NaN", Decimal("NaN"), "not a number HubSpot can store"),
    ("NaN in a set", {Decimal("NaN"), Decimal(1)}, "not a number HubSpot can store"),
    ("NUL character", "a\x00b", "control character U+0000"),
    ("NaN in a list", ["a", float("nan")], "not a number HubSpot can store"),
    ("an object", object(), "cannot send a value of type object"),
    ("a dict holding a date", {"on": dt.date(2020, 1, 1)}, "type dict"),
]


@pytest.mark.parametrize(
    ("value", "fragment"), [u[1:] for u in UNSENDABLE], ids=[u[0] for u in UNSENDABLE]
)
def test_a_value_that_cannot_be_sent_saves_and_fails_its_row_by_name(
    crmsync_settings, hubspot_sandbox, value, fragment
):
    contact = Contact.objects.create(email="ada@example.com", properties={"score": value})
    good = Contact.objects.create(email="good@example.com", properties={"jobtitle": "CEO"})
    summary = services.sync_pending()
    contact.refresh_from_db()
    good.refresh_from_db()
    assert contact.sync_status == SyncStatus.FAILED
    assert contact.sync_error.startswith("Cannot send: score: "), contact.sync_error
    assert fragment in contact.sync_error
    assert contact.sync_error_category == "MAPPING_ERROR"
    assert good.sync_status == SyncStatus.SYNCED
    assert summary.failed == 1 and summary.synced == 1


def test_a_control_character_is_kept_and_refused_at_sync(crmsync_settings, hubspot_sandbox):
    contact = Contact.objects.create(email="ada@example.com", properties={"jobtitle": "ding\x07"})
    assert Contact.objects.get(pk=contact.pk).properties == {"jobtitle": "ding\x07"}
    services.sync_pending()
    contact.refresh_from_db()
    assert contact.sync_error == (
        "Cannot send: jobtitle: contains control character U+0007 at position 4"
    )


def test_the_admin_shows_converted_values_and_saves_them_again(admin_client):
    contact = Contact.objects.create(email="ada@example.com", properties=CONVERTED)
    url = reverse("admin:crmsync_contact_change", args=[contact.pk])
    page = admin_client.get(url).content.decode()
    assert "1572480000000" in page and "1234.5" in page
    form = {
        "email": contact.email,
        "firstname": "Ada",
        "lastname": "",
        "phone": "",
        "company": "",
        "lifecyclestage": "",
        "properties": json.dumps(Contact.objects.get(pk=contact.pk).properties),
        "associations": "[]",
        "sync_attempts_log-TOTAL_FORMS": "0",
        "sync_attempts_log-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.firstname == "Ada"
    assert contact.properties["date_of_birth"] == "1572480000000"


def test_a_nan_typed_in_the_admin_is_a_form_error_and_through_the_orm_fails_at_sync(
    admin_client, crmsync_settings, hubspot_sandbox
):
    """json.loads reads NaN and 1e999 as floats that no JSON column takes: the admin's form
    refuses them as the sync would (crmsync.admin.forms); saved another way, the sync fails
    the row."""
    response = admin_client.post(
        reverse("admin:crmsync_contact_add"),
        {
            "email": "ada@example.com",
            "firstname": "",
            "lastname": "",
            "phone": "",
            "company": "",
            "lifecyclestage": "",
            "properties": '{"annualrevenue": NaN, "numemployees": 1e999}',
            "associations": "[]",
            "sync_attempts_log-TOTAL_FORMS": "0",
            "sync_attempts_log-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "annualrevenue: nan is not a number HubSpot can store" in text
    assert "numemployees: inf is not a number HubSpot can store" in text
    assert not Contact.objects.exists()
    Contact.objects.create(
        email="ada@example.com",
        properties={"annualrevenue": float("nan"), "numemployees": float("inf")},
    )
    services.sync_pending()
    contact = Contact.objects.get(email="ada@example.com")
    assert contact.sync_status == SyncStatus.FAILED
    assert "annualrevenue: nan is not a number HubSpot can store" in contact.sync_error
    assert "numemployees: inf is not a number HubSpot can store" in contact.sync_error
