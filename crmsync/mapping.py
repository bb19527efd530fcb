"""Turn local values into HubSpot's property strings, and HubSpot's answers into outcomes.

Pure functions on plain data: no HTTP, no database. HubSpot takes every property value as a
string (see docs/hubspot-api facts in the README): bools lower case, several enumeration values
joined by ``;``, dates as midnight UTC in epoch milliseconds, datetimes as ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from .hubspot import PORTAL_RULE_MARKERS

MAX_STRING_LENGTH = 65_536
ASSOCIATION_CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")
#: contact -> company, unlabeled; used when an association names no type.
DEFAULT_CONTACT_COMPANY_TYPE = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}

# C0/C1 control characters other than tab, newline and carriage return: HubSpot's UI cannot
# show them and they are almost always a bug upstream, so refuse them with a clear message.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PROPERTY_NAME_RE = re.compile(r"^[a-z0-9_]{1,100}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_property_name(name: Any) -> bool:
    """A HubSpot property's internal name: lower-case letters, digits and _, at most 100."""
    return isinstance(name, str) and _PROPERTY_NAME_RE.match(name) is not None


class MappingError(ValueError):
    """A local value that cannot be sent to HubSpot. The message names the property."""


def to_hubspot_value(value: Any, name: str = "value") -> str | None:
    """Convert one Python value to HubSpot's string form; ``None`` means "leave it out"."""
    if value is None:
        return None
    if isinstance(value, str):  # first: nearly every value is one
        return _checked_string(value, name)
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _decimal_text(value, name)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date):
        return _date_text(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return _checked_string(";".join(_option_text(item, name) for item in items), name)
    if _is_unsendable(value):
        raise MappingError(f"{name}: {value[UNSENDABLE_KEY]}")
    raise MappingError(f"{name}: cannot send a value of type {type(value).__name__} to HubSpot")


def _checked_string(text: str, name: str) -> str:
    if len(text) > MAX_STRING_LENGTH:
        raise MappingError(
            f"{name}: value is {len(text):,} characters; HubSpot allows at most "
            f"{MAX_STRING_LENGTH:,}"
        )
    match = _CONTROL_RE.search(text)
    if match:
        raise MappingError(
            f"{name}: contains control character U+{ord(match.group()):04X} at position "
            f"{match.start()}"
        )
    return text


def _decimal_text(value: float | Decimal, name: str) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MappingError(f"{name}: {value!r} is not a number HubSpot can store")
        value = Decimal(repr(value))
    if not value.is_finite():
        raise MappingError(f"{name}: {value!r} is not a number HubSpot can store")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _date_text(value: dt.date) -> str:
    midnight = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return str((midnight - _EPOCH) // dt.timedelta(milliseconds=1))


def _datetime_text(value: dt.datetime) -> str:
    # A naive datetime is taken as UTC (Django stores aware ones when USE_TZ is on).
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware.microsecond // 1000:03d}Z"


def _option_text(item: Any, name: str) -> str:
    if isinstance(item, list | tuple | set | frozenset | dict) or item is None:
        raise MappingError(f"{name}: a multi-value list may hold only plain values")
    text = to_hubspot_value(item, name) or ""
    if ";" in text:
        raise MappingError(f"{name}: option {text!r} contains ';', HubSpot's separator")
    return text


#: The key of what ``PropertiesEncoder`` stores for a value it cannot convert.
UNSENDABLE_KEY = "crmsync_cannot_send"
_PLAIN_SCALARS = (str, bool, int, type(None))


# Migration 0005 names this class by its path: keep it here, under this name.
class PropertiesEncoder(json.JSONEncoder):
    """The JSON encoder of ``Contact.properties``: each value JSON cannot hold as it is (a
    date, datetime, Decimal, set, frozenset, tuple...) is stored as ``to_hubspot_value``
    gives it, the string HubSpot takes, so sending it later sends the same string.

    A value that cannot be sent (NaN, a NUL character, an object of no known type) is no
    reason to refuse the save, which may be a web request: it is stored as
    ``{"crmsync_cannot_send": <why>, "value": <its repr>}``, which ``to_hubspot_value``
    refuses with that reason, so the sync fails the row, naming the property.
    """

    def iterencode(self, o: Any, _one_shot: bool = False) -> Iterator[str]:
        return super().iterencode(stored_properties(o), _one_shot)


def stored_properties(value: Any) -> Any:
    """``properties`` as ``PropertiesEncoder`` stores it (plain JSON)."""
    if isinstance(value, Mapping):
        # A NUL in a name would make PostgreSQL refuse the whole row: store it spelled out,
        # so the save goes through and the sync fails the row for its name.
        return {_stored_name(name): _stored_value(name, item) for name, item in value.items()}
    # Not an object of properties: the sync refuses it anyway ("must be a JSON object").
    return value if _is_plain(value) else repr(value)[:1000]


def _stored_name(name: Any) -> Any:
    return name.replace("\x00", "\\u0000") if isinstance(name, str) else name


def _stored_value(name: Any, value: Any) -> Any:
    if not isinstance(value, tuple) and _is_plain(value):
        return value
    try:
        return to_hubspot_value(value, str(name))
    except MappingError as exc:
        reason = str(exc).removeprefix(f"{name}: ")
        return {UNSENDABLE_KEY: reason, "value": repr(value)[:1000]}


def _is_plain(value: Any) -> bool:
    """JSON as it is, and storable: PostgreSQL's jsonb takes neither NaN nor U+0000."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, _PLAIN_SCALARS):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def nul_path(value: Any, where: str) -> str | None:
    """Where a U+0000 sits in JSON-shaped ``value`` (a key or a string), or None.
    PostgreSQL's jsonb cannot store one at all."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, list):
        items: Iterable[tuple[str, Any]] = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    elif isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and "\x00" in key:
                return f"{where}: the name {key!r}"
        items = ((f"{where}.{k}", v) for k, v in value.items())
    else:
        return None
    for path, item in items:
        found = nul_path(item, path)
        if found:
            return found
    return None


# HubSpot's email rule (shared/hubspot-api.md): an ASCII local part, dot-separated host
# labels and an alphabetic top-level domain; internationalised addresses, "x@y" and
# "x@y.c0m" are rejected.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)


def email_problem(email: str) -> str | None:
    """Why HubSpot would refuse this email (its INVALID_EMAIL wording), or None."""
    email = email.strip()
    if not email or (len(email) <= 254 and _EMAIL_RE.fullmatch(email)):
        return None
    return f"Email address {email} is invalid"


def _is_unsendable(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {UNSENDABLE_KEY, "value"}


def build_properties(fields: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict[str, str]:
    """Merge model fields and the free-form ``properties`` into HubSpot's property dict.

    Raises ``MappingError`` naming every bad property at once, so an operator fixes a row in
    one go.
    """
    out, problems = _properties(fields, extra)
    if problems:
        raise MappingError("; ".join(message for _, message in problems))
    return out


def property_problems(fields: Mapping[str, Any], extra: Any) -> list[tuple[str, str]]:
    """What ``build_properties`` (the sync) would refuse, as (where, message) pairs: where is
    the field's name, or ``properties`` for a free-form one. The admin's form shows them."""
    return _properties(fields, extra)[1]


def _properties(
    fields: Mapping[str, Any], extra: Any
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    problems: list[tuple[str, str]] = []
    out: dict[str, str] = {}
    if extra is not None and not isinstance(extra, Mapping):
        message = f"properties: must be a JSON object of name -> value, got {type(extra).__name__}"
        return out, [("properties", message)]
    for name, value in (extra or {}).items():
        if not is_property_name(name):
            message = f"{name!r}: not a HubSpot property name (lower-case letters, digits, _)"
            problems.append(("properties", message))
            continue
        if name in fields:
            if isinstance(value, Mapping) and UNSENDABLE_KEY in value:
                # A host row's value for one of the contact's own fields that could not be
                # stored there: say why, not where it should have gone.
                problems.append(("properties", f"{name}: {value[UNSENDABLE_KEY]}"))
            else:
                message = f"{name}: set it on the contact's own field, not in properties"
                problems.append(("properties", message))
            continue
        _put(out, name, value, problems, "properties")
    for name, value in fields.items():
        _put(out, name, value if value != "" else None, problems, name)
    return out, problems


def _put(
    out: dict[str, str], name: str, value: Any, problems: list[tuple[str, str]], where: str
) -> None:
    try:
        text = to_hubspot_value(value, name)
    except MappingError as exc:
        problems.append((where, str(exc)))
        return
    if text is not None:
        out[name] = text


def build_associations(raw: Any) -> list[dict[str, Any]]:
    """Validate associations given in HubSpot's shape; ``{"to": {"id": "123"}}`` alone means
    contact -> company, unlabeled (type 279)."""
    if raw in (None, "", []):
        return []
    if isinstance(raw, Mapping) and UNSENDABLE_KEY in raw:
        raise MappingError(f"associations: {raw[UNSENDABLE_KEY]}")
    if not isinstance(raw, list):
        raise MappingError("associations: must be a list")
    out = []
    for index, item in enumerate(raw):
        where = f"associations[{index}]"
        if not isinstance(item, Mapping):
            raise MappingError(f"{where}: must be an object with 'to' and 'types'")
        to = item.get("to")
        record_id = to.get("id") if isinstance(to, Mapping) else to
        if isinstance(record_id, bool) or not isinstance(record_id, int | str):
            raise MappingError(f"{where}: 'to.id' must be a HubSpot record id")
        record_id = str(record_id).strip()
        if not record_id.isdigit():
            raise MappingError(f"{where}: 'to.id' {record_id!r} is not a HubSpot record id")
        types = item.get("types") or [DEFAULT_CONTACT_COMPANY_TYPE]
        if not isinstance(types, list):
            raise MappingError(f"{where}: 'types' must be a list")
        out.append({"to": {"id": record_id}, "types": [_assoc_type(t, where) for t in types]})
    return out


def _assoc_type(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MappingError(f"{where}: each type must be an object")
    category = raw.get("associationCategory", "HUBSPOT_DEFINED")
    type_id = raw.get("associationTypeId")
    if category not in ASSOCIATION_CATEGORIES:
        raise MappingError(
            f"{where}: associationCategory {category!r} is not one of "
            f"{', '.join(ASSOCIATION_CATEGORIES)}"
        )
    if (
        isinstance(type_id, bool)
        or not isinstance(type_id, int | str)
        or not str(type_id).isdigit()
    ):
        raise MappingError(f"{where}: associationTypeId must be a whole number")
    return {"associationCategory": category, "associationTypeId": int(type_id)}


def error_trace_ids(error: Mapping[str, Any]) -> list[str]:
    """The objectWriteTraceIds a 207 error names (HubSpot sends a list of strings)."""
    context = error.get("context") or {}
    ids = context.get("objectWriteTraceId") if isinstance(context, Mapping) else None
    if isinstance(ids, str):
        return [ids]
    if isinstance(ids, Iterable):
        return [str(i) for i in ids]
    return []


_INVALID_PREFIX = "Property values were not valid: "
#: What a contact's error says before HubSpot's words when a portal rule refused it.
PORTAL_RULE_PREFIX = "A validation rule of this HubSpot portal refused it (not bad data): "


def is_portal_rule(error: Mapping[str, Any]) -> bool:
    """Did HubSpot refuse this for one of the portal's own validation rules (2026-09)?"""
    if str(error.get("subCategory") or "") in PORTAL_RULE_MARKERS:
        return True
    details = error.get("errors")
    return isinstance(details, list) and any(
        isinstance(d, Mapping) and str(d.get("code") or "") in PORTAL_RULE_MARKERS for d in details
    )


def error_category(error: Mapping[str, Any]) -> str:
    """HubSpot's category, or crmsync's PORTAL_RULE for a portal rule's refusal."""
    return "PORTAL_RULE" if is_portal_rule(error) else str(error.get("category") or "")


def error_message(error: Mapping[str, Any]) -> str:
    """HubSpot's message for one error, made readable for an operator.

    Validation errors embed a JSON list in the message ("Property values were not valid:
    [{...}]"); spell each entry out as "name: message (CODE)" instead.
    """
    message = str(error.get("message") or "rejected by HubSpot")
    if message.startswith(_INVALID_PREFIX):
        try:
            entries = json.loads(message[len(_INVALID_PREFIX) :])
        except ValueError:
            entries = None
        if isinstance(entries, list) and entries:
            parts = []
            for entry in entries:
                if not isinstance(entry, Mapping):
                    break
                text = str(entry.get("message") or "invalid")
                code = entry.get("error") or entry.get("code")
                name = entry.get("name")
                prefix = f"{name}: " if name and str(name) not in text else ""
                parts.append(f"{prefix}{text}" + (f" ({code})" if code else ""))
            else:
                message = "Invalid property values: " + "; ".join(parts)
    if is_portal_rule(error):
        message = PORTAL_RULE_PREFIX + message
    return message[:2000]


# Public names of the conversions other pure modules reuse (crmsync.preflight): one place
# for each rule.
decimal_text = _decimal_text
date_text = _date_text
datetime_text = _datetime_text
