"""crmsync_unique_property: check or create the custom unique property upsert mode writes by."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from crmsync import unique_property
from crmsync.runtime import get_client

pytestmark = pytest.mark.django_db


def definition_of(sandbox, name):
    return next(p for p in get_client().get_properties() if p["name"] == name)


def test_create_makes_a_unique_text_property_once(crmsync_settings, hubspot_sandbox, capsys):
    with pytest.raises(CommandError, match="run with --create"):
        call_command("crmsync_unique_property", "crmsync_id")
    call_command("crmsync_unique_property", "crmsync_id", "--create")
    assert "created crmsync_id" in capsys.readouterr().out
    made = definition_of(hubspot_sandbox, "crmsync_id")
    assert (made["hasUniqueValue"], made["type"], made["groupName"]) == (True, "string", "crmsync")
    call_command("crmsync_unique_property", "crmsync_id", "--create")  # idempotent
    assert "exists and is unique" in capsys.readouterr().out


def test_a_property_that_exists_but_is_not_unique_is_refused(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(custom_properties=[{"name": "crmsync_id", "type": "string"}])
    with pytest.raises(CommandError, match="not unique"):
        call_command("crmsync_unique_property", "crmsync_id", "--create")


def test_a_409_from_a_concurrent_create_counts_as_exists(
    crmsync_settings, hubspot_sandbox, monkeypatch
):
    """Another process creates the property between our look and our create: HubSpot's 409
    is "it exists", and what it holds is looked at again."""
    client = get_client()
    client.create_property_group("crmsync", "crmsync")
    assert client.create_property(unique_property.definition("k_one"))  # the other process
    real, looks = unique_property.inspect, []

    def stale_first(c, name):
        looks.append(name)
        if len(looks) == 1:
            return unique_property.UniqueProperty(name, exists=False, unique=False)
        return real(c, name)

    monkeypatch.setattr(unique_property, "inspect", stale_first)
    result = unique_property.ensure(client, "k_one")
    assert (result.exists, result.unique, result.created) == (True, True, False)
    assert looks == ["k_one", "k_one"]


def test_email_is_refused(crmsync_settings, hubspot_sandbox):
    with pytest.raises(CommandError, match="email"):
        call_command("crmsync_unique_property", "email", "--create")
