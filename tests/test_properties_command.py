"""manage.py crmsync_properties against the sandbox: every mapped property with its HubSpot
type, every mapping problem, and --create making the missing ones (idempotently)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

import crmsync
from crmsync import registry
from crmsync.sandbox.properties import PropertyGroup
from tests.factories import ContactFactory
from tests.hostapp.models import Customer

pytestmark = pytest.mark.django_db

COLOR = {
    "name": "favorite_color",
    "label": "Favorite color",
    "type": "enumeration",
    "fieldType": "select",
    "options": [{"label": "Red", "value": "red"}, {"label": "Blue", "value": "blue"}],
}


@pytest.fixture
def customers(crmsync_settings):
    crmsync.register(
        Customer,
        properties={
            "email": "email",
            "signed_up_on": "signed_up",
            "is_active_customer": "is_active",
            "annualrevenue": "first_name",
        },
    )
    yield
    registry.unregister(Customer)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("crmsync_properties", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def row_of(output: str, name: str) -> list[str]:
    """The table line of one property and its problem lines."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.lstrip().startswith("!"):
            break
        block.append(line.strip())
    return block


@pytest.mark.hubspot_sandbox(custom_properties=[COLOR])
def test_every_mapped_property_and_every_problem_is_printed(crmsync_sandbox, customers):
    ContactFactory(properties={"favorite_color": "Green", "hs_object_id": "5"})
    ContactFactory(lifecyclestage="vip")
    status, output = run()
    assert status == 2
    assert "string/text" in row_of(output, "firstname")[0]
    assert "Contact.firstname" in row_of(output, "firstname")[0]
    assert row_of(output, "favorite_color")[1] == (
        "! options local data uses but HubSpot lacks: Green (allowed: red, blue)"
    )
    assert "! options local data uses but HubSpot lacks: vip" in row_of(output, "lifecyclestage")[1]
    assert row_of(output, "hs_object_id")[1] == "! read-only in HubSpot: crmsync cannot set it"
    signed_up = row_of(output, "signed_up_on")
    assert "hostapp.customer (signed_up)" in signed_up[0]
    assert signed_up[1].startswith("! missing in HubSpot")
    assert row_of(output, "annualrevenue")[1:] == []  # a text field to a number: by values


@pytest.mark.hubspot_sandbox(custom_properties=[COLOR])
def test_create_makes_the_missing_properties_from_the_mappings_types(crmsync_sandbox, customers):
    status, output = run("--create")
    assert "created signed_up_on" in output and "created is_active_customer" in output
    assert status == 0, output
    props = {p["name"]: p for p in crmsync_sandbox.app._list_properties()[1]["results"]}
    assert props["signed_up_on"]["type"] == "date"
    assert props["signed_up_on"]["groupName"] == "crmsync"
    assert props["is_active_customer"]["type"] == "bool"
    groups = crmsync_sandbox.app.store.groups
    assert "crmsync" in groups
    # Again: nothing left to create, no error for the group or properties that exist.
    status, output = run("--create")
    assert status == 0
    assert "created" not in output


def test_create_is_idempotent_when_another_process_made_them(crmsync_sandbox, customers):
    crmsync_sandbox.app.store.add_group(PropertyGroup("crmsync", "crmsync"))
    status, output = run("--create")
    assert status == 0, output
    assert "created signed_up_on" in output


@pytest.mark.hubspot_sandbox(missing_scopes=True)
def test_a_schema_that_cannot_be_read_is_exit_1(crmsync_sandbox):
    with pytest.raises(CommandError) as info:
        call_command("crmsync_properties", stdout=io.StringIO())
    assert info.value.returncode == 1
    assert "cannot read HubSpot's property schema" in str(info.value)
    assert crmsync_sandbox.token not in str(info.value)
