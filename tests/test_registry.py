"""crmsync.register: a host model's saves and deletes reach its mirror row in crmsync.Contact,
in one statement per save, and the sync sends the mirror (over real HTTP, to the sandbox)."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

import crmsync
from crmsync import checks, registry, services
from crmsync.conf import coerce, validate
from crmsync.mapping import UNSENDABLE_KEY
from crmsync.models import Contact, SyncAction, SyncStatus
from crmsync.testing import assert_in_hubspot
from tests.hostapp.models import Company, Customer

pytestmark = pytest.mark.django_db

LABEL = "hostapp.customer"
PROPERTIES = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "company": "company.name",
    "plan": lambda c: c.plan.upper(),
    "signup_date": "signed_up",
}


@pytest.fixture
def register():
    """Register Customer (or another model) for one test; forgotten afterwards."""
    made = []

    def make(model=Customer, properties=None, **options):
        made.append(model)
        return crmsync.register(model, properties=properties or PROPERTIES, **options)

    yield make
    for model in made:
        registry.unregister(model)


@pytest.fixture
def custom_properties(crmsync_settings, crmsync_sandbox):
    crmsync_sandbox.add_property({"name": "plan", "label": "Plan", "type": "string"})
    crmsync_sandbox.add_property(
        {"name": "signup_date", "label": "Signed up", "type": "date", "fieldType": "date"}
    )
    return crmsync_sandbox


def mirror(customer) -> Contact:
    return Contact.objects.get(source=LABEL, source_pk=str(customer.pk))


def new_customer(**fields) -> Customer:
    values = {"email": "ada@example.com", "first_name": "Ada", "plan": "pro"} | fields
    return Customer.objects.create(**values)


# -- the save path -------------------------------------------------------------------------


def test_a_save_writes_the_mirror_with_the_mapped_values(register):
    register()
    acme = Company.objects.create(name="Acme")
    customer = new_customer(company=acme, signed_up=dt.date(2026, 3, 1))
    row = mirror(customer)
    assert (row.email, row.firstname, row.lastname, row.company) == (
        "ada@example.com",
        "Ada",
        "",
        "Acme",
    )
    assert row.properties == {"plan": "PRO", "signup_date": "1772323200000"}
    assert (row.sync_status, row.action, row.version) == (SyncStatus.PENDING, "upsert", 1)


def test_a_save_adds_one_query_and_no_nudge_when_nothing_mapped_changed(
    register, django_assert_num_queries, nudges
):
    register()
    acme = Company.objects.create(name="Acme")
    with django_assert_num_queries(2):  # the host's INSERT, the mirror's upsert
        customer = new_customer(company=acme)
    customer.first_name = "Ada L."
    with django_assert_num_queries(2):  # the host's UPDATE, the mirror's upsert
        customer.save()
    before = mirror(customer)
    customer.is_active = True  # not mapped
    with django_assert_num_queries(2):
        customer.save()
    after = mirror(customer)
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    # In a test no transaction commits: nudges wait in run_on_commit; one for the test.
    assert len([e for e in connection.run_on_commit if e[1].__name__ == "_nudge"]) == 1


def test_an_unchanged_save_of_a_synced_mirror_leaves_it_synced(register):
    register()
    customer = new_customer()
    Contact.objects.filter(pk=mirror(customer).pk).update(sync_status=SyncStatus.SYNCED)
    connection.run_on_commit.clear()
    customer.save()
    assert mirror(customer).sync_status == SyncStatus.SYNCED
    assert not connection.run_on_commit  # nothing changed: nothing to nudge


def test_an_email_change_updates_the_same_mirror(register):
    register()
    customer = new_customer()
    first = mirror(customer)
    customer.email = "ada.lovelace@example.com"
    customer.save()
    again = mirror(customer)
    assert again.pk == first.pk
    assert (again.email, again.version) == ("ada.lovelace@example.com", 2)
    assert Contact.objects.filter(source=LABEL).count() == 1


@pytest.mark.parametrize("status", [SyncStatus.IN_FLIGHT, SyncStatus.HELD])
def test_a_change_keeps_a_row_in_flight_or_held(register, status):
    register()
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(sync_status=status, sync_error="why")
    customer.first_name = "Augusta"
    customer.save()
    row = mirror(customer)
    assert (row.sync_status, row.version, row.firstname) == (status, 2, "Augusta")
    assert row.sync_error == ("why" if status == SyncStatus.HELD else "")


def test_a_change_requeues_a_failed_mirror(register):
    register()
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(
        sync_status=SyncStatus.FAILED, sync_error="bad", sync_attempts=3
    )
    customer.plan = "team"
    customer.save()
    row = mirror(customer)
    assert (row.sync_status, row.sync_error, row.sync_attempts) == ("pending", "", 0)


# -- sending it ----------------------------------------------------------------------------


def test_the_sync_sends_the_mirror_and_hubspot_id_finds_it(register, custom_properties):
    register()
    acme = Company.objects.create(name="Acme")
    customer = new_customer(company=acme, signed_up=dt.date(2026, 3, 1))
    assert crmsync.hubspot_id(customer) is None
    summary = services.sync_pending(concurrency=1)
    assert summary.synced == 1
    record = assert_in_hubspot(
        custom_properties,
        email="ada@example.com",
        properties={"firstname": "Ada", "company": "Acme", "plan": "PRO"},
    )
    assert record["properties"]["signup_date"] == "2026-03-01"
    with CaptureQueriesContext(connection) as queries:
        assert crmsync.hubspot_id(customer) == record["id"]
    assert len(queries) == 1


def test_a_rename_after_the_sync_updates_the_same_hubspot_contact(register, custom_properties):
    register()
    customer = new_customer()
    services.sync_pending(concurrency=1)
    first_id = crmsync.hubspot_id(customer)
    customer.email = "ada.lovelace@example.com"
    customer.save()
    services.sync_pending(concurrency=1)
    assert crmsync.hubspot_id(customer) == first_id
    active = [c for c in custom_properties.contacts() if not c["archived"]]
    assert [c["properties"]["email"] for c in active] == ["ada.lovelace@example.com"]


def test_two_customers_with_one_email_have_two_mirrors_and_one_contact(register, custom_properties):
    register()
    one, two = new_customer(), new_customer(first_name="Ada (2)")
    assert Contact.objects.filter(source=LABEL).count() == 2
    services.sync_pending(concurrency=1)
    assert crmsync.hubspot_id(one) == crmsync.hubspot_id(two) is not None
    assert len(custom_properties.contacts()) == 1


def test_a_mapping_problem_fails_only_that_row_naming_the_property(register, custom_properties):
    def plan(customer):
        if customer.plan == "broken":
            raise ValueError("no such plan")
        return customer.plan

    register(properties={**PROPERTIES, "plan": plan})
    bad = new_customer(email="bad@example.com", plan="broken")
    good = new_customer(email="good@example.com")
    assert mirror(bad).properties["plan"] == {
        UNSENDABLE_KEY: "callable raised ValueError: no such plan",
        "value": "",
    }
    services.sync_pending(concurrency=1)
    failed, synced = mirror(bad), mirror(good)
    assert failed.sync_status == SyncStatus.FAILED
    assert "plan: callable raised ValueError: no such plan" in failed.sync_error
    assert synced.sync_status == SyncStatus.SYNCED


# -- bad input never reaches the host's save -----------------------------------------------


def test_a_callable_returning_a_dict_is_stored_as_unsendable(register):
    register(properties={"email": "email", "plan": lambda c: {"tier": c.plan}})
    row = mirror(new_customer())
    assert row.properties["plan"][UNSENDABLE_KEY] == "cannot send a value of type dict to HubSpot"
    assert row.properties["plan"]["value"] == "{'tier': 'pro'}"


def test_a_relation_as_a_value_is_stored_as_unsendable(register):
    register(properties={"email": "email", "firstname": lambda c: Company(name="x")})
    row = mirror(new_customer())
    assert row.firstname == ""
    assert "is a Company object" in row.properties["firstname"][UNSENDABLE_KEY]


def test_a_dotted_path_through_a_missing_object_clears_the_property(register):
    register()
    acme = Company.objects.create(name="Acme")
    customer = new_customer(company=acme)
    assert mirror(customer).company == "Acme"
    customer.company = None
    customer.save()
    assert mirror(customer).company == ""  # cleared in HubSpot (the engine sends "")


def test_a_column_value_too_long_is_stored_as_unsendable(register):
    register(properties={"email": "email", "lifecyclestage": lambda c: "x" * 100})
    row = mirror(new_customer())
    assert row.lifecyclestage == ""
    assert "at most 64" in row.properties["lifecyclestage"][UNSENDABLE_KEY]


def test_a_when_that_raises_queues_nothing_and_the_save_goes_through(register, caplog):
    register(when=lambda c: 1 / 0)
    customer = new_customer()
    assert not Contact.objects.filter(source=LABEL).exists()
    assert customer.pk and "when= raised" in caplog.text


# -- when, deletes -------------------------------------------------------------------------


def test_when_false_creates_no_mirror(register):
    register(when=lambda c: c.is_active)
    customer = new_customer(is_active=False)
    assert not Contact.objects.filter(source=LABEL).exists()
    customer.is_active = True
    customer.save()
    assert mirror(customer).action == SyncAction.UPSERT


def test_when_turning_false_with_ignore_leaves_the_mirror(register):
    register(when=lambda c: c.is_active)
    customer = new_customer()
    customer.is_active = False
    customer.save()
    assert (mirror(customer).action, mirror(customer).version) == ("upsert", 1)


def test_when_turning_false_with_archive_marks_a_sent_mirror(register):
    register(when=lambda c: c.is_active, on_delete="archive")
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(
        sync_status=SyncStatus.SYNCED, hubspot_id="901", claimed_version=1
    )
    customer.is_active = False
    customer.save()
    row = mirror(customer)
    assert (row.action, row.sync_status, row.version) == ("archive", "pending", 2)
    customer.is_active = True  # qualifies again before the archive was sent
    customer.save()
    row = mirror(customer)
    assert (row.action, row.hubspot_id, row.version) == ("upsert", "901", 3)


def test_a_delete_with_archive_marks_the_mirror_which_outlives_the_row(register):
    register(on_delete="archive")
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(
        sync_status=SyncStatus.SYNCED, hubspot_id="901", claimed_version=1
    )
    pk = customer.pk
    customer.delete()
    row = Contact.objects.get(source=LABEL, source_pk=str(pk))
    assert (row.action, row.sync_status, row.hubspot_id, row.version) == (
        "archive",
        "pending",
        "901",
        2,
    )


@pytest.mark.parametrize("on_delete", ["ignore", "archive"])
def test_a_deleted_row_never_sent_loses_its_mirror(register, on_delete):
    register(on_delete=on_delete)
    customer = new_customer()
    customer.delete()
    assert not Contact.objects.filter(source=LABEL).exists()


def test_a_delete_with_ignore_leaves_a_sent_mirror_alone(register):
    register()
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(sync_status=SyncStatus.SYNCED, hubspot_id="901")
    pk = customer.pk
    customer.delete()
    row = Contact.objects.get(source=LABEL, source_pk=str(pk))
    assert (row.action, row.sync_status, row.version) == ("upsert", "synced", 1)


@pytest.mark.parametrize("on_delete", ["ignore", "archive"])
def test_a_row_deleted_while_in_flight_keeps_its_mirror(register, on_delete):
    register(on_delete=on_delete)
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(sync_status=SyncStatus.IN_FLIGHT, claimed_version=1)
    pk = customer.pk
    customer.delete()
    row = Contact.objects.get(source=LABEL, source_pk=str(pk))
    assert row.sync_status == SyncStatus.IN_FLIGHT  # its create may be under way
    expected = ("archive", 2) if on_delete == "archive" else ("upsert", 1)
    assert (row.action, row.version) == expected


def test_reviving_a_mirror_hubspot_archived_creates_a_new_contact(register):
    register(when=lambda c: c.is_active, on_delete="archive")
    customer = new_customer()
    Contact.objects.filter(source=LABEL).update(
        sync_status=SyncStatus.ARCHIVED, action="archive", hubspot_id="901", claimed_version=1,
        synced_properties={"email": "ada@example.com"},
        synced_associations=[["9001", "HUBSPOT_DEFINED", 279]],
    )  # fmt: skip
    customer.save()
    row = mirror(customer)
    assert (row.action, row.sync_status, row.hubspot_id) == ("upsert", "pending", "")
    # a new contact: nothing is known of what HubSpot holds for it
    assert row.synced_properties is None and row.synced_associations is None


# -- switches, queue() ---------------------------------------------------------------------


def test_without_sync_queues_nothing(register):
    register(on_delete="archive")
    with crmsync.without_sync():
        customer = new_customer()
        assert crmsync.queue(Customer.objects.all()) == 0
    assert not Contact.objects.filter(source=LABEL).exists()
    customer.save()
    assert mirror(customer)


def test_enabled_false_queues_nothing(register, caplog):
    register()
    with override_settings(CRMSYNC={"ENABLED": False}):
        new_customer()
        assert crmsync.queue(Customer.objects.all()) == 0
    assert not Contact.objects.filter(source=LABEL).exists()


def test_queue_catches_up_after_update(register):
    register()
    customers = [new_customer(email=f"c{i}@example.com") for i in range(5)]
    assert crmsync.queue(Customer.objects.all()) == 0  # nothing changed
    Customer.objects.filter(pk__in=[c.pk for c in customers[:3]]).update(plan="team")
    assert crmsync.queue(Customer.objects.all(), chunk_size=2) == 3
    assert {mirror(c).properties["plan"] for c in customers} == {"TEAM", "PRO"}


def test_queue_of_an_unregistered_model_says_so():
    with pytest.raises(LookupError, match="not registered"):
        crmsync.queue(Company.objects.all())


def test_create_only_for_names_the_registrations_properties(register):
    register(create_only=["lifecyclestage"])
    assert registry.create_only_for(LABEL) == frozenset({"lifecyclestage"})
    assert registry.create_only_for("") == frozenset()


# -- settings, discovery, checks -----------------------------------------------------------


def test_enabled_takes_only_a_bool():
    assert [p.key for p in validate({"ENABLED": "no"}) if p.is_error] == ["ENABLED"]
    assert not [p for p in validate({"ENABLED": False}) if p.is_error]
    assert (coerce("ENABLED", "false"), coerce("ENABLED", "1")) == (False, True)


def test_hubspot_modules_are_autodiscovered():
    assert "tests.hostapp.hubspot" in sys.modules


def ids(messages) -> list[str]:
    return sorted(m.id for m in messages)


def test_checks_report_bad_sources_and_a_missing_email(register):
    register(
        properties={
            "firstname": "nickname",
            "company": "company",
            "lastname": "company.nope",
            "phone": "first_name.upper",
            "Bad-Name": "email",
            "plan": lambda c: c.plan,
        },
        on_delete="drop",
        create_only=["lifecyclestage"],
    )
    messages = checks.check_registrations()
    assert ids(messages) == [
        "crmsync.E020",
        "crmsync.E020",
        "crmsync.E020",
        "crmsync.E020",
        "crmsync.E021",
        "crmsync.E023",
        "crmsync.E025",
        "crmsync.W020",
    ]
    text = " ".join(m.msg for m in messages)
    assert "has no field 'nickname'" in text
    assert "'company' is a relation" in text and "'company_id'" in text
    assert "has no field 'nope'" in text


def test_checks_report_a_model_registered_twice_and_contact(register):
    register()
    register()
    register(model=Contact, properties={"email": "email"})
    assert ids(checks.check_registrations()) == ["crmsync.E022", "crmsync.E024"]


def test_a_clean_registration_passes_the_checks(register):
    register(properties={**PROPERTIES, "lifecyclestage": lambda c: "customer"})
    assert checks.check_registrations() == []
    call_command("check", "--fail-level", "ERROR")


def test_checks_report_a_bad_associations_path(register):
    register(properties={"email": "email"}, associations="company.hubspot_company")
    [message] = checks.check_registrations()
    assert message.id == "crmsync.E020"
    assert message.msg.startswith("hostapp.Customer: associations: ")
    assert "has no field 'hubspot_company'" in message.msg
