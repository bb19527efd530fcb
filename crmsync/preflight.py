"""Before a row is sent: its properties checked against HubSpot's schema, and converted by
each property's type.

Pure: HubSpot strings in (``mapping.build_properties`` made them from Python values), the
schema (``crmsync.propertydefs``) and the portal's rules beside them, problems out. Each
problem names the property and what HubSpot allows, as clearly as HubSpot's own message.

Converted by the property's type, not only the Python type: a date property takes midnight
UTC in epoch milliseconds (from ``YYYY-MM-DD``, epoch milliseconds or an ISO datetime at
midnight UTC); a datetime property ISO 8601 UTC (or epoch milliseconds); a bool ``true`` /
``false``; a number plain decimal text. Over-long text and control characters are refused by
``mapping`` already (one place per rule).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .mapping import date_text, datetime_text, decimal_text
from .propertydefs import PortalRule, PropertyDef, Schema

DAY_MS = 86_400_000
_EPOCH_MS_RE = re.compile(r"-?\d{1,15}", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# "True" and "False" (Python's str of a bool) are taken; "yes", "1"... are refused, as HubSpot does.
_TRUE, _FALSE = frozenset(("true",)), frozenset(("false",))
#: crmsync's error categories for a row preflight stops (``hubspot.ERROR_CATEGORIES``).
PREFLIGHT = "PREFLIGHT"
PORTAL_RULE = "PORTAL_RULE"


@dataclass(frozen=True)
class PropertyProblem:
    """Why HubSpot would refuse one property of a row."""

    name: str
    message: str
    #: broken: one of the portal's own validation rules (not the value's type)
    portal_rule: bool = False
    #: HubSpot has no property of this name (a newer schema may have it)
    unknown: bool = False


def check(
    properties: Mapping[str, str],
    schema: Schema,
    rules: Iterable[PortalRule] | None = None,
    *,
    creating: bool = True,
    existing: Mapping[str, str] | None = None,
) -> list[PropertyProblem]:
    """Every problem HubSpot would find in a write of ``properties`` (over ``existing``,
    what HubSpot holds, for an update)."""
    converted, problems = convert(properties, schema)
    if problems:
        return problems
    return rule_problems(rules or (), converted, creating=creating, existing=existing)


def convert(
    properties: Mapping[str, str], schema: Schema
) -> tuple[dict[str, str], list[PropertyProblem]]:
    """Each value in the form its property's type takes, and the problems found."""
    out: dict[str, str] = {}
    problems: list[PropertyProblem] = []
    for name, value in properties.items():
        prop = schema.get(name)
        if prop is None:
            text = f"{name}: HubSpot has no contact property of this name"
            problems.append(PropertyProblem(name, text, unknown=True))
            continue
        if prop.read_only:
            text = f"{name}: read-only in HubSpot (calculated or set by HubSpot); it cannot be set"
            problems.append(PropertyProblem(name, text))
            continue
        converted, problem = convert_value(prop, value)
        if problem is None and converted is not None:
            out[name] = converted
        else:
            problems.append(PropertyProblem(name, f"{name}: {problem}"))
    return out, problems


def convert_value(prop: PropertyDef, value: str) -> tuple[str | None, str | None]:
    """(the value as the property's type takes it, None) or (None, what is wrong)."""
    if value == "":
        return "", None  # clears the property, whatever its type
    kind = prop.type
    if kind == "enumeration":
        return _option(prop, value)
    if kind in ("string", "phone_number"):
        # An email's form is HubSpot's to judge (INVALID_EMAIL): the isolation of a rejected
        # request finds it, and the admin's form shows it (mapping.email_problem).
        return value, None
    text = value.strip()
    if kind == "number":
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return None, f"{value!r} is not a number (HubSpot takes plain decimal text)"
        return decimal_text(number, prop.name), None
    if kind == "bool":
        if text.lower() in _TRUE:
            return "true", None
        if text.lower() in _FALSE:
            return "false", None
        return None, f"{value!r} is not a boolean (HubSpot takes true or false)"
    if kind == "date":
        return _date(text)
    if kind == "datetime":
        return _datetime(text)
    return value, None  # a type crmsync does not know: HubSpot decides


def _option(prop: PropertyDef, value: str) -> tuple[str | None, str | None]:
    if prop.external_options:
        return value, None  # the contact owner: options live outside the definition
    parts = [p for p in value.split(";") if p] if prop.several else [value]
    allowed = set(prop.options)
    for part in parts:
        if part not in allowed:
            options = ", ".join(prop.options) or "none"
            return None, f"{part!r} is not one of the allowed options: {options}"
    return value, None


def _date(text: str) -> tuple[str | None, str | None]:
    if _EPOCH_MS_RE.fullmatch(text):
        if int(text) % DAY_MS:
            return None, f"{text} is not midnight UTC (a date property takes a day, no time)"
        return text, None
    parsed = _parse(text)
    if parsed is None:
        return None, (
            f"{text!r} is not a date (HubSpot takes YYYY-MM-DD or midnight UTC in epoch "
            "milliseconds)"
        )
    if (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0, 0):
        return None, (
            f"{text} is at {parsed:%H:%M:%S} UTC, not midnight (a date property takes a day, "
            "no time)"
        )
    return date_text(parsed.date()), None


def _datetime(text: str) -> tuple[str | None, str | None]:
    if _EPOCH_MS_RE.fullmatch(text):
        return text, None
    parsed = _parse(text)
    if parsed is None:
        return None, (f"{text!r} is not a datetime (HubSpot takes ISO 8601 or epoch milliseconds)")
    return datetime_text(parsed), None


def _parse(text: str) -> dt.datetime | None:
    """An ISO date or datetime, in UTC (a naive one is taken as UTC)."""
    if not _DATE_RE.match(text):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


# -- the portal's own validation rules ------------------------------------------------------


def rule_problems(
    rules: Iterable[PortalRule],
    sent: Mapping[str, str],
    *,
    creating: bool,
    existing: Mapping[str, str] | None = None,
) -> list[PropertyProblem]:
    """The portal's rules a write of ``sent`` (over ``existing``) would break."""
    after = {**(existing or {}), **sent}
    problems = []
    for rule in rules:
        text = _broken(rule, sent, after, creating)
        if text:
            name = rule.property_name
            problems.append(PropertyProblem(name, f"{name}: {text}", portal_rule=True))
    return problems


def _broken(
    rule: PortalRule, sent: Mapping[str, str], after: Mapping[str, str], creating: bool
) -> str | None:
    name, kind, args = rule.property_name, rule.rule_type, rule.arguments
    value = after.get(name, "")
    if kind == "REQUIRED":
        return "required by the portal's create form" if creating and not value else None
    if kind == "REQUIRED_IF" and len(args) == 2:
        other, wanted = args
        touched = creating or other in sent or name in sent
        if touched and after.get(other) == wanted and not value:
            return f"required by a portal validation rule when {other} is {wanted}"
        return None
    if name not in sent or not value:
        return None
    if kind == "ALPHANUMERIC":
        numeric = bool(args) and args[0] == "NUMERIC_ONLY"
        if not (value.isdigit() if numeric else value.isalnum()):
            allowed = "digits" if numeric else "letters and digits"
            return f"{value!r} breaks a portal validation rule: only {allowed}"
    elif kind in ("MIN_LENGTH", "MAX_LENGTH") and args and args[0].isdigit():
        limit = int(args[0])
        if (kind == "MIN_LENGTH" and len(value) < limit) or (
            kind == "MAX_LENGTH" and len(value) > limit
        ):
            most = "at least" if kind == "MIN_LENGTH" else "at most"
            return f"a portal validation rule wants {most} {limit} characters, got {len(value)}"
    elif kind == "REGEX" and args:
        try:
            matches = re.fullmatch(args[0], value) is not None
        except re.error:
            matches = True  # a pattern Python cannot read: HubSpot decides
        if not matches:
            return f"{value!r} does not match the portal's pattern {args[0]}"
    return None
