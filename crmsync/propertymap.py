"""Every property crmsync maps, held against HubSpot's property schema: what
``manage.py crmsync_properties`` prints (and the doctor's "mapped properties" check reads).

The mapped properties are crmsync's own ``Contact`` columns, the names found in
``Contact.properties`` (with the values local data uses there, to check options), and the
properties of every registered host model (``crmsync.register``), with the type their model
field implies. :func:`report` finds every problem: a property HubSpot lacks, one it keeps
read-only, a type that does not fit, values HubSpot would refuse (options it lacks).
:func:`create_missing` creates the missing ones in a ``crmsync`` property group, idempotently
(HubSpot's 409 means it exists). Read-only against HubSpot except for ``create_missing``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from . import preflight
from .client import HubSpotClient
from .models import PROPERTY_COLUMNS, Contact
from .propertydefs import GROUP, PropertyDef, Schema, build_schema
from .registry import registrations

#: Distinct values kept per property to check against HubSpot's options and type.
MAX_VALUES = 200
#: Local types (from a model field) and what HubSpot types take them.
FITS = {
    "string": {"string", "phone_number", "enumeration", "number", "bool", "date", "datetime"},
    "number": {"number", "string", "enumeration"},
    "bool": {"bool", "enumeration", "string"},
    "date": {"date", "datetime", "string"},
    "datetime": {"datetime", "string"},
}
#: The definition ``--create`` gives each local type: (type, fieldType, options).
DEFINITIONS = {
    "string": ("string", "text"),
    "number": ("number", "number"),
    "bool": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
}
_FIELD_TYPES: tuple[tuple[type[models.Field], str], ...] = (
    (models.BooleanField, "bool"),
    (models.DateTimeField, "datetime"),
    (models.DateField, "date"),
    (models.IntegerField, "number"),
    (models.FloatField, "number"),
    (models.DecimalField, "number"),
)


@dataclass
class Mapped:
    """One property crmsync sends, where its values come from, and what HubSpot says."""

    name: str
    sources: list[str] = field(default_factory=list)
    #: the local type a model field implies ("string" when unknown)
    local_type: str = "string"
    values: set[str] = field(default_factory=set)
    hubspot: PropertyDef | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def hubspot_type(self) -> str:
        if self.hubspot is None:
            return "-"
        return f"{self.hubspot.type}/{self.hubspot.field_type}"


def read_schema(client: HubSpotClient) -> Schema:
    """HubSpot's property definitions, read now (HubSpotError when it cannot be)."""
    return build_schema(client.get_properties(), None)[0]


def mapped_names() -> list[str]:
    """The properties crmsync's own columns and every registered model map to (without
    reading any row: the names only ``Contact.properties`` holds are not among them)."""
    names = set(PROPERTY_COLUMNS)
    for registration in registrations():
        names.update(registration.properties)
    return sorted(names)


def mapped_properties() -> dict[str, Mapped]:
    """Every property crmsync maps, by name."""
    found: dict[str, Mapped] = {}

    def add(name: str, source: str, local_type: str = "string") -> Mapped:
        item = found.setdefault(name, Mapped(name))
        if source not in item.sources:
            item.sources.append(source)
        if local_type != "string":
            item.local_type = local_type
        return item

    for column in PROPERTY_COLUMNS:
        add(column, f"Contact.{column}")
    for registration in registrations():
        for name, source in registration.properties.items():
            where = source if isinstance(source, str) else getattr(source, "__name__", "callable")
            add(name, f"{registration.label} ({where})", _local_type(registration.model, source))
    for column in ("lifecyclestage",):
        values = Contact.objects.exclude(**{column: ""}).values_list(column, flat=True)
        found[column].values.update(values.order_by().distinct()[:MAX_VALUES])
    for properties in Contact.objects.values_list("properties", flat=True).iterator(2000):
        if not isinstance(properties, dict):
            continue
        for name, value in properties.items():
            item = found.get(name) or add(name, "Contact.properties")
            if "Contact.properties" not in item.sources and name not in PROPERTY_COLUMNS:
                item.sources.append("Contact.properties")
            if isinstance(value, str) and value and len(item.values) < MAX_VALUES:
                item.values.add(value)
    return found


def _local_type(model: type[models.Model], source: object) -> str:
    if not isinstance(source, str) or "." in source:
        return "string"  # a callable or a path: its type shows in the values
    try:
        model_field = model._meta.get_field(source)
    except FieldDoesNotExist:  # manage.py check reports it
        return "string"
    for kind, local in _FIELD_TYPES:
        if isinstance(model_field, kind):
            return local
    return "string"


def report(schema: Schema, mapped: dict[str, Mapped] | None = None) -> list[Mapped]:
    """Every mapped property with HubSpot's definition and its problems, by name."""
    items = mapped if mapped is not None else mapped_properties()
    for item in items.values():
        item.hubspot = schema.get(item.name)
        item.problems = _problems(item)
    return sorted(items.values(), key=lambda i: i.name)


def _problems(item: Mapped) -> list[str]:
    prop = item.hubspot
    if prop is None:
        return ["missing in HubSpot (manage.py crmsync_properties --create creates it)"]
    if prop.read_only:
        return ["read-only in HubSpot: crmsync cannot set it"]
    problems = []
    if prop.type not in FITS.get(item.local_type, {prop.type}):
        problems.append(
            f"wrong type: mapped from a {item.local_type} field, HubSpot has {prop.type}"
        )
    refused = sorted(v for v in item.values if preflight.convert_value(prop, v)[1] is not None)
    if refused and prop.type == "enumeration":
        shown = ", ".join(refused[:10]) + (" ..." if len(refused) > 10 else "")
        allowed = ", ".join(prop.options) or "none"
        problems.append(f"options local data uses but HubSpot lacks: {shown} (allowed: {allowed})")
    elif refused:
        shown = ", ".join(repr(v) for v in refused[:5]) + (" ..." if len(refused) > 5 else "")
        problems.append(f"values HubSpot's {prop.type} type refuses: {shown}")
    return problems


def create_missing(client: HubSpotClient, items: Iterable[Mapped]) -> list[tuple[str, bool]]:
    """Create each property HubSpot lacks in the ``crmsync`` group (made first if needed),
    typed from the mapping; (name, created) pairs, created False when it existed (409)."""
    missing = [i for i in items if i.hubspot is None]
    if not missing:
        return []
    client.create_property_group(GROUP, GROUP)  # False: it exists, fine
    done = []
    for item in missing:
        done.append((item.name, client.create_property(definition(item))))
    return done


def definition(item: Mapped) -> dict[str, object]:
    """The property definition ``--create`` sends for a missing property."""
    kind, field_type = DEFINITIONS.get(item.local_type, DEFINITIONS["string"])
    body: dict[str, object] = {
        "name": item.name,
        "label": item.name.replace("_", " ").capitalize(),
        "type": kind,
        "fieldType": field_type,
        "groupName": GROUP,
        "description": "Created by crmsync from its mapping (" + ", ".join(item.sources) + ")",
    }
    if kind == "bool":
        body["options"] = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]
    return body
