"""HubSpot's contact property definitions and a portal's validation rules, as plain values.

Pure: HubSpot's JSON in (``GET /crm/v3/properties/contacts``, ``GET
/crm/property-validations/{version}/0-1``), frozen dataclasses out. A malformed entry is
skipped and named in ``Schema.malformed``, never raised: ``crmsync.schema`` logs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: HubSpot's property types (``type``) and what each takes (shared/hubspot-api.md).
#: The property group crmsync creates its own properties in (``crmsync_properties --create``,
#: ``crmsync_unique_property --create``): name and label.
GROUP = "crmsync"

TYPES = ("string", "number", "bool", "enumeration", "date", "datetime", "phone_number")


@dataclass(frozen=True)
class PropertyDef:
    """One property as HubSpot defines it."""

    name: str
    type: str
    field_type: str = "text"
    #: the options' internal values, in HubSpot's order (enumerations)
    options: tuple[str, ...] = ()
    #: calculated, or its value owned by HubSpot (``modificationMetadata.readOnlyValue``)
    read_only: bool = False
    unique: bool = False
    label: str = ""
    #: options that live outside the definition (the contact owner): any value is taken
    external_options: bool = False
    group_name: str = ""

    @property
    def several(self) -> bool:
        """A checkbox enumeration: several options joined by ``;``."""
        return self.type == "enumeration" and self.field_type == "checkbox"


@dataclass(frozen=True)
class PortalRule:
    """One of the portal's own validation rules for a property (``ruleType``,
    ``ruleArguments``)."""

    property_name: str
    rule_type: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    """The contact properties HubSpot knows, and (where the API version exposes them) the
    portal's validation rules; ``rules`` is None when they could not be read."""

    properties: Mapping[str, PropertyDef]
    rules: tuple[PortalRule, ...] | None = None
    #: the entries of HubSpot's answer that could not be read (for the log)
    malformed: tuple[str, ...] = field(default=(), compare=False)

    def get(self, name: str) -> PropertyDef | None:
        return self.properties.get(name)


def parse_property(raw: Any) -> PropertyDef | None:
    """One entry of ``results``; None when it is not a property definition."""
    if not isinstance(raw, Mapping):
        return None
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not name or not isinstance(kind, str):
        return None
    meta = raw.get("modificationMetadata")
    read_only = bool(raw.get("calculated")) or (
        isinstance(meta, Mapping) and bool(meta.get("readOnlyValue"))
    )
    options = raw.get("options") or []
    values = tuple(
        str(o["value"]) for o in options if isinstance(o, Mapping) and o.get("value") is not None
    )
    return PropertyDef(
        name=name,
        type=kind,
        field_type=str(raw.get("fieldType") or "text"),
        options=values,
        read_only=read_only,
        unique=bool(raw.get("hasUniqueValue")),
        label=str(raw.get("label") or name),
        external_options=bool(raw.get("externalOptions")),
        group_name=str(raw.get("groupName") or ""),
    )


def parse_properties(results: Any) -> tuple[dict[str, PropertyDef], list[str]]:
    """(definitions by name, descriptions of the entries that could not be read)."""
    if not isinstance(results, list):
        return {}, [f"results is {type(results).__name__}, not a list"]
    defs: dict[str, PropertyDef] = {}
    malformed: list[str] = []
    for index, raw in enumerate(results):
        prop = parse_property(raw)
        if prop is None:
            malformed.append(f"results[{index}]: {str(raw)[:80]}")
        else:
            defs[prop.name] = prop
    return defs, malformed


def parse_rules(results: Any) -> tuple[tuple[PortalRule, ...], list[str]]:
    """The property validations API's ``results`` as rules, and what could not be read."""
    if not isinstance(results, list):
        return (), [f"validation rules: results is {type(results).__name__}, not a list"]
    rules: list[PortalRule] = []
    malformed: list[str] = []
    for index, entry in enumerate(results):
        name = entry.get("propertyName") if isinstance(entry, Mapping) else None
        items = entry.get("propertyValidationRules") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not isinstance(items, list):
            malformed.append(f"validation rules[{index}]: {str(entry)[:80]}")
            continue
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("ruleType"), str):
                malformed.append(f"validation rules of {name}: {str(item)[:80]}")
                continue
            args = item.get("ruleArguments") or []
            arguments = tuple(str(a) for a in args) if isinstance(args, list) else ()
            rules.append(PortalRule(name, item["ruleType"], arguments))
    return tuple(rules), malformed


def build_schema(
    properties: Any, rules: Any | None, malformed: Iterable[str] = ()
) -> tuple[Schema, list[str]]:
    """A Schema from HubSpot's two answers (``rules`` None: not exposed or not read)."""
    defs, bad = parse_properties(properties)
    parsed: tuple[PortalRule, ...] | None = None
    if rules is not None:
        parsed, bad_rules = parse_rules(rules)
        bad += bad_rules
    bad = [*malformed, *bad]
    return Schema(defs, parsed, tuple(bad)), bad
