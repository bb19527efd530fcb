"""Know before you send: HubSpot's property schema read over real HTTP from the sandbox,
checked before every request, and what happens when it cannot be read."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import override_settings

from crmsync import schema, services
from crmsync.client import HubSpotClient
from crmsync.exceptions import AuthenticationError, OutcomeUnknownError, ServerError
from crmsync.models import Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.runtime import get_client
from crmsync.testing import sandbox_settings
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

COLOR = {
    "name": "favorite_color",
    "label": "Favorite color",
    "type": "enumeration",
    "fieldType": "select",
    "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
}
SCORE = {"name": "crm_score", "label": "Score", "type": "number", "fieldType": "number"}
RULES = [
    {
        "propertyName": "jobtitle",
        "propertyValidationRules": [
            {"ruleType": "REQUIRED_IF", "ruleArguments": ["lifecyclestage", "customer"]}
        ],
    }
]


def requests_to(sandbox, endpoint: str) -> int:
    return sum(sandbox.stats()["requests_by_endpoint"].get(endpoint, {}).values())


def sent_bodies() -> str:
    return " ".join(SyncBatch.objects.values_list("request_body", flat=True))


@pytest.mark.hubspot_sandbox(custom_properties=[COLOR])
def test_one_bad_row_is_stopped_before_any_request_and_the_rest_goes(crmsync_sandbox):
    good = ContactFactory.create_batch(3, properties={"favorite_color": "blue"})
    bad = ContactFactory(email="bad@example.com", properties={"favorite_color": "Red"})
    summary = services.sync_pending()
    assert summary.synced == 3 and summary.failed == 1
    assert requests_to(crmsync_sandbox, "create") == 1  # one request, without the bad row
    assert "bad@example.com" not in sent_bodies()
    assert crmsync_sandbox.contact_by_email("bad@example.com") is None
    bad.refresh_from_db()
    assert bad.sync_status == SyncStatus.FAILED
    assert bad.sync_error_category == "PREFLIGHT"
    assert bad.sync_error == (
        "Not sent: HubSpot would refuse it. "
        "favorite_color: 'Red' is not one of the allowed options: red, blue"
    )
    attempt = SyncAttempt.objects.get(contact=bad)
    assert attempt.outcome == SyncAttempt.Outcome.FAILED and attempt.batch_id is None
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED


def test_values_are_converted_by_the_propertys_type(crmsync_sandbox):
    row = ContactFactory(
        email="ada@example.com",
        properties={"date_of_birth": "1990-05-01T00:00:00Z", "hs_email_optout": "False"},
    )
    assert services.sync_pending().synced == 1
    held = crmsync_sandbox.contact_by_email("ada@example.com")["properties"]
    assert held["date_of_birth"] == "1990-05-01"
    assert held["hs_email_optout"] == "false"
    row.refresh_from_db()
    assert row.synced_properties["date_of_birth"] == "641520000000"  # midnight UTC, in ms


def test_the_schema_is_read_once_per_ttl(crmsync_sandbox):
    for n in range(3):
        ContactFactory(email=f"p{n}@example.com")
        services.sync_pending()
    assert requests_to(crmsync_sandbox, "properties.list") == 1
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, SCHEMA_TTL_SECONDS=0)):
        ContactFactory(email="again@example.com")
        services.sync_pending()
    assert requests_to(crmsync_sandbox, "properties.list") == 2


@pytest.mark.parametrize(
    "failure",
    [
        ServerError("Service Unavailable", status=503),
        OutcomeUnknownError("no answer before the timeout"),
        AuthenticationError("Authentication credentials not found", status=401),
    ],
)
def test_a_schema_that_cannot_be_read_never_blocks_sending(
    crmsync_sandbox, monkeypatch, caplog, failure
):
    def fail(self, timeout=None):
        raise failure

    monkeypatch.setattr(HubSpotClient, "get_properties", fail)
    caplog.set_level(logging.WARNING, logger="crmsync.schema")
    ContactFactory(email="one@example.com")
    assert services.sync_pending().synced == 1
    ContactFactory(email="two@example.com", properties={"favorite_color": "Red"})
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, SCHEMA_TTL_SECONDS=0)):
        summary = services.sync_pending()
    assert summary.failed == 1  # HubSpot itself refused the unknown property
    warnings = [r for r in caplog.records if "without preflight" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per batch


@pytest.mark.hubspot_sandbox(custom_properties=[COLOR])
def test_a_failed_read_keeps_using_the_cached_schema(crmsync_sandbox, monkeypatch):
    ContactFactory(email="one@example.com")
    services.sync_pending()
    schema.invalidate(get_client())

    def fail(self, timeout=None):
        raise ServerError("Bad Gateway", status=502)

    monkeypatch.setattr(HubSpotClient, "get_properties", fail)
    row = ContactFactory(email="two@example.com", properties={"favorite_color": "Red"})
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_error_category == "PREFLIGHT"  # still checked, by the cached schema
    assert requests_to(crmsync_sandbox, "create") == 1


def test_a_malformed_schema_is_an_error_in_the_log_not_a_crash(
    crmsync_sandbox, monkeypatch, caplog
):
    monkeypatch.setattr(
        HubSpotClient,
        "get_properties",
        lambda self, timeout=None: [{"name": "email", "type": "string"}, "junk", {"label": 1}],
    )
    row = ContactFactory(email="one@example.com", properties={"jobtitle": "CEO"})
    services.sync_pending()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("2 unreadable entries" in r.getMessage() for r in errors)
    row.refresh_from_db()
    # The schema read knows only "email": jobtitle is unknown to it, so the row is stopped.
    assert row.sync_status == SyncStatus.FAILED
    assert "jobtitle: HubSpot has no contact property" in row.sync_error


@pytest.mark.hubspot_sandbox(custom_properties=[SCORE])
def test_property_doesnt_exist_reads_the_schema_again(crmsync_sandbox):
    ContactFactory(email="one@example.com", properties={"crm_score": "1"})
    assert services.sync_pending().synced == 1
    # Someone deletes the property in HubSpot: the cached schema still has it.
    store = crmsync_sandbox.app.store
    store.properties = {k: v for k, v in store.properties.items() if k != "crm_score"}
    row = ContactFactory(email="two@example.com", properties={"crm_score": "2"})
    services.sync_pending()
    row.refresh_from_db()
    assert "PROPERTY_DOESNT_EXIST" in row.sync_error  # HubSpot's own refusal
    assert requests_to(crmsync_sandbox, "properties.list") == 1
    third = ContactFactory(email="three@example.com", properties={"crm_score": "3"})
    services.sync_pending()
    assert requests_to(crmsync_sandbox, "properties.list") == 2  # read again
    third.refresh_from_db()
    assert third.sync_error_category == "PREFLIGHT"  # stopped before sending this time
    assert requests_to(crmsync_sandbox, "create") == 2


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_portal_rules_are_checked_before_sending_at_2026_09(crmsync_sandbox):
    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, API_VERSION="2026-09")):
        row = ContactFactory(email="c@example.com", lifecyclestage="customer")
        ok = ContactFactory(email="l@example.com", lifecyclestage="lead")
        services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.FAILED
    assert row.sync_error_category == "PORTAL_RULE"
    assert row.sync_error == (
        "Not sent: a validation rule of this HubSpot portal would refuse it. "
        "jobtitle: required by a portal validation rule when lifecyclestage is customer"
    )
    assert requests_to(crmsync_sandbox, "validations") == 1
    assert Contact.objects.get(pk=ok.pk).sync_status == SyncStatus.SYNCED


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_hubspots_refusal_for_a_portal_rule_is_its_own_category(crmsync_sandbox):
    settings = sandbox_settings(crmsync_sandbox, API_VERSION="2026-09", PREFLIGHT=False)
    with override_settings(CRMSYNC=settings):
        row = ContactFactory(email="c@example.com", lifecyclestage="customer")
        services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.FAILED
    assert row.sync_error_category == "PORTAL_RULE"
    assert row.sync_error.startswith(
        "A validation rule of this HubSpot portal refused it (not bad data): "
    )
    assert "jobtitle is required when lifecyclestage is customer" in row.sync_error
    attempt = SyncAttempt.objects.get(contact=row)
    assert attempt.error_category == "PORTAL_RULE"


def test_the_client_reads_groups_creates_properties_and_rules(crmsync_sandbox):
    client = HubSpotClient(
        base_url=crmsync_sandbox.url, access_token=crmsync_sandbox.token, api_version="v3"
    )
    assert client.get_validation_rules() is None  # v3 has no such path
    assert client.create_property_group("crmsync", "crmsync") is True
    assert client.create_property_group("crmsync", "crmsync") is False  # 409: exists
    assert "crmsync" in {g["name"] for g in client.get_property_groups()}
    definition = {**SCORE, "groupName": "crmsync"}
    assert client.create_property(definition) is True
    assert client.create_property(definition) is False
    dated = HubSpotClient(
        base_url=crmsync_sandbox.url, access_token=crmsync_sandbox.token, api_version="2026-03"
    )
    assert dated.get_validation_rules() == []
    crmsync_sandbox.configure(validation_rules=RULES)
    assert json.dumps(dated.get_validation_rules()).count("REQUIRED_IF") == 1


@pytest.mark.hubspot_sandbox(validation_rules=RULES)
def test_the_admins_error_filter_groups_portal_rules(crmsync_sandbox, admin_client):
    from django.urls import reverse

    with override_settings(CRMSYNC=sandbox_settings(crmsync_sandbox, API_VERSION="2026-09")):
        ContactFactory(email="rule@example.com", lifecyclestage="customer")
        ContactFactory(email="typo@example.com", properties={"no_such": "x"})
        services.sync_pending()
    url = reverse("admin:crmsync_contact_changelist")
    page = admin_client.get(url, {"sync_error_category": "PORTAL_RULE"}).content.decode()
    assert "rule@example.com" in page and "typo@example.com" not in page
    page = admin_client.get(url, {"sync_error_category": "PREFLIGHT"}).content.decode()
    assert "typo@example.com" in page and "rule@example.com" not in page


def test_a_property_created_since_the_schema_was_read_is_found(crmsync_sandbox, monkeypatch):
    from crmsync.sync import prepare

    ContactFactory(email="one@example.com")
    services.sync_pending()
    crmsync_sandbox.add_property(SCORE)  # created in HubSpot after the schema was read
    row = ContactFactory(email="two@example.com", properties={"crm_score": "7"})
    monkeypatch.setattr(prepare, "SCHEMA_RECHECK_SECONDS", 0.0)  # the schema is "old" at once
    services.sync_pending()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SYNCED
    assert requests_to(crmsync_sandbox, "properties.list") == 2


def test_a_recent_schema_is_not_read_again_for_a_typo(crmsync_sandbox):
    ContactFactory(email="one@example.com")
    services.sync_pending()
    for n in range(3):
        ContactFactory(email=f"t{n}@example.com", properties={"no_such_property": "x"})
        services.sync_pending()
    assert requests_to(crmsync_sandbox, "properties.list") == 1
    assert requests_to(crmsync_sandbox, "create") == 1


@pytest.mark.hubspot_sandbox(custom_properties=[COLOR])
def test_the_dry_run_shows_the_rows_preflight_would_stop(crmsync_sandbox):
    import contextlib
    import io

    from django.core.management import call_command

    ContactFactory(email="ok@example.com", properties={"favorite_color": "red"})
    ContactFactory(email="bad@example.com", properties={"favorite_color": "Red"})
    out = io.StringIO()
    with contextlib.suppress(SystemExit):  # its exit status says whether anything would go
        call_command("crmsync_plan", stdout=out)
    text = out.getvalue()
    assert "favorite_color: 'Red' is not one of the allowed options: red, blue" in text
    assert "PREFLIGHT" in text
    assert requests_to(crmsync_sandbox, "create") == 0  # nothing sent
