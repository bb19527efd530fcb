"""Contact property definitions and HubSpot's validation of property values.

HubSpot takes every value as a JSON string and checks it against the property's type. The
messages and error codes below follow what HubSpot documents and what integrations report;
where the exact wording is unknown, the code (``INVALID_OPTION``, ``INVALID_DATE``...) is the
part clients should rely on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

MAX_STRING_LENGTH = 65_536
DAY_MS = 86_400_000

PROPERTY_TYPES = {
    "string": {"text", "textarea", "phonenumber", "html", "file"},
    "number": {"number", "calculation_equation"},
    "bool": {"booleancheckbox", "checkbox", "radio", "select"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "date": {"date"},
    "datetime": {"date"},
}

# Email: an ASCII local part, dot-separated host labels and an alphabetic top-level domain.
# HubSpot rejects internationalised addresses as well as "x@y" and "x@y.c0m".
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)
_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_EPOCH_MS_RE = re.compile(r"-?\d{1,15}", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_PROPERTY_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,99}", re.ASCII)


# Validation shortcuts: free text (length check only), one option of an enumeration, email.
FAST_NONE, FAST_TEXT, FAST_OPTION, FAST_EMAIL = range(4)


@dataclass
class PropertyDef:
    """One contact property, as ``GET /crm/v3/properties/contacts`` describes it."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    options: list[dict[str, Any]] = field(default_factory=list)
    read_only: bool = False
    unique: bool = False
    external_options: bool = False
    #: A calculated property (a formula, a rollup): HubSpot computes it, writes are refused.
    calculated: bool = False
    hubspot_defined: bool = True
    group_name: str = "contactinformation"
    description: str = ""
    created_at: str = "2019-08-06T02:41:52.189Z"
    #: Option values as a set, for validation; filled from ``options``.
    option_values: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: Which shortcut validation may take for a common valid value (see ``FAST_*``).
    fast: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.calculated:
            self.read_only = True
        self.option_values = frozenset(str(o["value"]) for o in self.options)
        self.fast = FAST_NONE
        if self.read_only:
            return
        if self.name == "email":
            self.fast = FAST_EMAIL
        elif self.type == "string":
            self.fast = FAST_TEXT
        elif (
            self.type == "enumeration"
            and self.field_type != "checkbox"
            and not self.external_options
        ):
            self.fast = FAST_OPTION

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": -1,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": False,
        }


def _options(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (label, value) in enumerate(pairs)
    ]


LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def default_properties() -> list[PropertyDef]:
    """HubSpot's default contact properties that crmsync and its hosts are likely to touch."""
    text = [
        ("firstname", "First Name"),
        ("lastname", "Last Name"),
        ("phone", "Phone Number"),
        ("mobilephone", "Mobile Phone Number"),
        ("fax", "Fax Number"),
        ("company", "Company Name"),
        ("website", "Website URL"),
        ("jobtitle", "Job Title"),
        ("address", "Street Address"),
        ("city", "City"),
        ("state", "State/Region"),
        ("zip", "Postal Code"),
        ("country", "Country/Region"),
        ("salutation", "Salutation"),
    ]
    defs = [PropertyDef("email", "Email", unique=True)]
    defs += [PropertyDef(name, label) for name, label in text]
    defs += [
        PropertyDef("message", "Message", field_type="textarea"),
        PropertyDef(
            "lifecyclestage",
            "Lifecycle Stage",
            type="enumeration",
            field_type="radio",
            options=_options(
                ("Subscriber", "subscriber"),
                ("Lead", "lead"),
                ("Marketing Qualified Lead", "marketingqualifiedlead"),
                ("Sales Qualified Lead", "salesqualifiedlead"),
                ("Opportunity", "opportunity"),
                ("Customer", "customer"),
                ("Evangelist", "evangelist"),
                ("Other", "other"),
            ),
        ),
        PropertyDef(
            "hs_lead_status",
            "Lead Status",
            type="enumeration",
            field_type="select",
            options=_options(
                ("New", "NEW"),
                ("Open", "OPEN"),
                ("In Progress", "IN_PROGRESS"),
                ("Open Deal", "OPEN_DEAL"),
                ("Unqualified", "UNQUALIFIED"),
                ("Attempted to Contact", "ATTEMPTED_TO_CONTACT"),
                ("Connected", "CONNECTED"),
                ("Bad Timing", "BAD_TIMING"),
            ),
        ),
        PropertyDef(
            "numemployees",
            "Number of Employees",
            type="enumeration",
            field_type="select",
            options=_options(
                *(
                    (v, v)
                    for v in ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")
                )
            ),
        ),
        PropertyDef("date_of_birth", "Date of birth", type="date", field_type="date"),
        PropertyDef("closedate", "Close Date", type="datetime", field_type="date"),
        PropertyDef("annualrevenue", "Annual Revenue", type="number", field_type="number"),
        PropertyDef(
            "hs_email_optout",
            "Unsubscribed from all email",
            type="bool",
            field_type="booleancheckbox",
            options=_options(("True", "true"), ("False", "false")),
        ),
        # Owners live outside the property definition (externalOptions): any owner id is taken.
        PropertyDef(
            "hubspot_owner_id",
            "Contact owner",
            type="enumeration",
            field_type="select",
            external_options=True,
        ),
        PropertyDef("hs_object_id", "Record ID", type="number", read_only=True),
        PropertyDef(
            "num_associated_deals",
            "Number of Associated Deals",
            type="number",
            field_type="calculation_equation",
            calculated=True,
            group_name="deal_information",
        ),
        PropertyDef(
            "createdate", "Create Date", type="datetime", field_type="date", read_only=True
        ),
        PropertyDef(
            "lastmodifieddate",
            "Last Modified Date",
            type="datetime",
            field_type="date",
            read_only=True,
        ),
        PropertyDef(
            "hs_createdate",
            "Object create date/time",
            type="datetime",
            field_type="date",
            read_only=True,
        ),
        PropertyDef(
            "hs_additional_emails",
            "Additional email addresses",
            type="enumeration",
            field_type="checkbox",
            read_only=True,
        ),
        PropertyDef(
            "hs_merged_object_ids",
            "Merged Contact IDs",
            type="enumeration",
            field_type="checkbox",
            read_only=True,
        ),
    ]
    return defs


class PropertyDefinitionError(ValueError):
    """A custom property definition that HubSpot would refuse."""


#: The contact property groups every portal has (name, label).
DEFAULT_GROUPS = (
    ("contactinformation", "Contact information"),
    ("sales_properties", "Sales properties"),
    ("deal_information", "Deal information"),
    ("emailinformation", "Email information"),
)


@dataclass(frozen=True)
class PropertyGroup:
    name: str
    label: str
    display_order: int = -1

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": False,
        }


def group_from_api(body: Any) -> PropertyGroup:
    """A group from the body of ``POST /crm/v3/properties/contacts/groups``."""
    if not isinstance(body, Mapping):
        raise PropertyDefinitionError("A property group must be a JSON object.")
    name, label = body.get("name"), body.get("label")
    if not isinstance(name, str) or not _PROPERTY_NAME_RE.fullmatch(name):
        raise PropertyDefinitionError(
            f"Property group name {name!r} is invalid: use lower-case letters, digits and "
            "underscores, starting with a letter."
        )
    if not isinstance(label, str) or not label.strip():
        raise PropertyDefinitionError("A property group needs a label.")
    order = body.get("displayOrder", -1)
    if isinstance(order, bool) or not isinstance(order, int):
        raise PropertyDefinitionError("displayOrder must be an integer.")
    return PropertyGroup(name, label, order)


def property_from_api(body: Mapping[str, Any]) -> PropertyDef:
    """Build a custom property from the body of ``POST /crm/v3/properties/contacts``."""
    if not isinstance(body, Mapping):
        raise PropertyDefinitionError("A property definition must be a JSON object.")
    name = body.get("name")
    if not isinstance(name, str) or not _PROPERTY_NAME_RE.fullmatch(name):
        raise PropertyDefinitionError(
            f"Property name {name!r} is invalid: use lower-case letters, digits and underscores, "
            "starting with a letter."
        )
    prop_type = body.get("type", "string")
    field_type = body.get("fieldType", "text")
    if prop_type not in PROPERTY_TYPES:
        raise PropertyDefinitionError(
            f"Property type {prop_type!r} is not one of {sorted(PROPERTY_TYPES)}."
        )
    if field_type not in PROPERTY_TYPES[prop_type]:
        raise PropertyDefinitionError(
            f"fieldType {field_type!r} is not valid for type {prop_type!r}."
        )
    raw_options = body.get("options") or []
    if not isinstance(raw_options, list) or not all(
        isinstance(o, Mapping) and isinstance(o.get("value"), str) for o in raw_options
    ):
        raise PropertyDefinitionError("options must be a list of {label, value} objects.")
    if prop_type == "enumeration" and not raw_options and not body.get("externalOptions"):
        raise PropertyDefinitionError("An enumeration property needs options.")
    options = [
        {
            "label": str(o.get("label", o["value"])),
            "value": o["value"],
            "displayOrder": int(o.get("displayOrder", i)),
            "hidden": bool(o.get("hidden", False)),
        }
        for i, o in enumerate(raw_options)
    ]
    if prop_type == "bool" and not options:
        options = _options(("True", "true"), ("False", "false"))
    return PropertyDef(
        name=name,
        label=str(body.get("label") or name),
        type=prop_type,
        field_type=field_type,
        options=options,
        unique=bool(body.get("hasUniqueValue", False)),
        external_options=bool(body.get("externalOptions", False)),
        hubspot_defined=False,
        group_name=str(body.get("groupName") or "contactinformation"),
        description=str(body.get("description") or ""),
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


# --- value validation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PropertyError:
    """One invalid property value, in both of HubSpot's shapes."""

    name: str
    code: str
    message: str

    def validation_result(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.code, "name": self.name}

    def error_detail(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "context": {"propertyName": [self.name]},
        }


def validation_message(errors: Iterable[PropertyError]) -> str:
    results = [e.validation_result() for e in errors]
    return "Property values were not valid: " + json.dumps(results, separators=(",", ":"))


def iso_from_ms(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _midnight_message(value: str, ms: int) -> str:
    # HubSpot's own wording, with unpadded fields: "... is at 13:1:0.0 UTC, not midnight!"
    rest = ms % DAY_MS
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{value} is at {hours}:{minutes}:{seconds}.{millis} UTC, not midnight!"


def normalize_email(value: str) -> str:
    return value.strip().lower()


def is_valid_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL_RE.fullmatch(value) is not None


def check_value(prop: PropertyDef, value: Any) -> tuple[str | None, PropertyError | None]:
    """Validate one value; return ``(stored value, None)`` or ``(None, error)``.

    An empty string clears the property and is valid for every writable property.
    """
    name = prop.name
    if not isinstance(value, str):
        return None, PropertyError(
            name,
            "INVALID_TYPE",
            f"Property values must be strings; got {json.dumps(value)} for {name}",
        )
    if prop.read_only:
        return None, PropertyError(
            name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
        )
    if value == "":
        return "", None
    kind = prop.type
    if kind == "string":
        if len(value) > MAX_STRING_LENGTH:
            return None, PropertyError(
                name,
                "MAX_LENGTH",
                f"Property {name} exceeds the maximum length of {MAX_STRING_LENGTH} characters "
                f"({len(value)} given)",
            )
        if name == "email":
            if not is_valid_email(value.strip()):
                return None, PropertyError(
                    name, "INVALID_EMAIL", f"Email address {value} is invalid"
                )
            return normalize_email(value), None
        return value, None
    # Since April 2025 HubSpot rejects surrounding whitespace on every non-string type.
    if value != value.strip():
        return None, PropertyError(
            name, "INVALID_WHITESPACE", f"{value!r} has leading or trailing whitespace"
        )
    if kind == "number":
        if _NUMBER_RE.fullmatch(value) is None:
            return None, PropertyError(name, "INVALID_LONG", f"{value} was not a valid number.")
        return value, None
    if kind == "bool":
        if value not in ("true", "false"):
            return None, PropertyError(
                name, "INVALID_BOOLEAN", f"{value} was not a valid boolean: use true or false."
            )
        return value, None
    if kind == "enumeration":
        return _check_enumeration(prop, value)
    if kind == "date":
        return _check_date(name, value)
    if kind == "datetime":
        return _check_datetime(name, value)
    return value, None


def _check_enumeration(prop: PropertyDef, value: str) -> tuple[str | None, PropertyError | None]:
    # Checkbox: several values joined by ";"; a leading ";" means "append", so skip empty parts.
    parts = [p for p in value.split(";") if p] if prop.field_type == "checkbox" else [value]
    for part in parts:
        if prop.external_options:
            if not part.isdigit():
                return None, PropertyError(
                    prop.name, "INVALID_OPTION", f"{part} was not one of the allowed options"
                )
        elif part not in prop.option_values:
            allowed = ", ".join(o["value"] for o in prop.options)
            return None, PropertyError(
                prop.name,
                "INVALID_OPTION",
                f"{part} was not one of the allowed options: [{allowed}]",
            )
    return value, None


def _check_date(name: str, value: str) -> tuple[str | None, PropertyError | None]:
    if _EPOCH_MS_RE.fullmatch(value):
        ms = int(value)
        if ms % DAY_MS:
            return None, PropertyError(name, "INVALID_DATE", _midnight_message(value, ms))
        return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat(), None
    if _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat(), None
        except ValueError:
            pass
    return None, PropertyError(
        name,
        "INVALID_DATE",
        f"{value} is not a valid date: use midnight UTC in epoch milliseconds or YYYY-MM-DD",
    )


def _check_datetime(name: str, value: str) -> tuple[str | None, PropertyError | None]:
    if _EPOCH_MS_RE.fullmatch(value):
        return iso_from_ms(int(value)), None
    if len(value) >= 10 and _DATE_RE.fullmatch(value[:10]):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return (
                parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                None,
            )
    return None, PropertyError(
        name,
        "INVALID_DATETIME",
        f"{value} is not a valid datetime: use epoch milliseconds or ISO 8601",
    )


def unknown_property(name: str) -> PropertyError:
    return PropertyError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
