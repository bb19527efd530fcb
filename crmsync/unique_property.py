"""The custom unique property upsert mode writes by (README, "Write modes").

``ensure(client, name)`` creates it in HubSpot when it is missing: a single-line text property
with ``hasUniqueValue``, in the ``crmsync`` group, idempotently (HubSpot's 409 "exists" is not
a failure); it refuses a property of that name that exists but is not unique, since an upsert
by it would be answered 400. ``manage.py crmsync_unique_property`` is a shell over it, and a
command that creates every missing property can call ``definition`` and ``ensure`` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .client import HubSpotClient
from .propertydefs import GROUP

DEFAULT_NAME = "crmsync_id"


@dataclass(frozen=True)
class UniqueProperty:
    """What HubSpot holds under the name: nothing, a unique property, or another property."""

    name: str
    exists: bool
    unique: bool
    #: this call created it
    created: bool = False

    @property
    def usable(self) -> bool:
        return self.exists and self.unique


def definition(name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The body of ``POST /crm/v3/properties/contacts`` for the key property."""
    return {
        "name": name,
        "label": "crmsync key",
        "description": "Set by crmsync: the stable key of the local row this contact mirrors "
        "(batch/upsert's idProperty). Do not edit.",
        "type": "string",
        "fieldType": "text",
        "groupName": GROUP,
        "hasUniqueValue": True,
    }


def inspect(client: HubSpotClient, name: str) -> UniqueProperty:
    found: Mapping[str, Any] | None = next(
        (p for p in client.get_properties() if p.get("name") == name), None
    )
    if found is None:
        return UniqueProperty(name, exists=False, unique=False)
    return UniqueProperty(name, exists=True, unique=bool(found.get("hasUniqueValue")))


def ensure(client: HubSpotClient, name: str) -> UniqueProperty:
    """Create the property unless it exists; say what HubSpot holds now."""
    current = inspect(client, name)
    if current.exists:
        return current
    client.create_property_group(GROUP, GROUP)  # False: it exists, fine
    if not client.create_property(definition(name)):  # made meanwhile (409): look again
        return inspect(client, name)
    return UniqueProperty(name, exists=True, unique=True, created=True)
