"""A portal's own write-validation rules, as the property validations API serves them.

``GET /crm/property-validations/{2026-03|2026-09}/0-1`` answers
``{"results": [{"propertyName", "propertyValidationRules": [{"ruleType", "ruleArguments",
"shouldApplyNormalization"}]}]}`` (HubSpot's documented shape). HubSpot enforces the rules on
API writes from version **2026-09** only; earlier versions accept what breaks them.

Rule types: ``ALPHANUMERIC`` (``NUMERIC_ONLY`` / ``ALPHANUMERIC_ONLY``), ``MIN_LENGTH``,
``MAX_LENGTH`` and ``REGEX`` are HubSpot's. How HubSpot exposes *conditionally required
properties* and *required fields of the create form* is not documented: the sandbox plays them
as two rule types of its own, ``REQUIRED`` (on create) and ``REQUIRED_IF`` (arguments: another
property and the value that makes this one required), and answers a broken rule with 400
``VALIDATION_ERROR``, ``subCategory`` ``PROPERTY_VALIDATION_RULE`` and per-property code
``VALIDATION_RULE_VIOLATED`` (docs/sandbox.md, "Portal validation rules").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .properties import PropertyError

#: The API versions whose writes are checked against the rules.
ENFORCING_VERSIONS = frozenset(("2026-09",))
RULE_TYPES = ("ALPHANUMERIC", "MIN_LENGTH", "MAX_LENGTH", "REGEX", "REQUIRED", "REQUIRED_IF")
SUB_CATEGORY = "PROPERTY_VALIDATION_RULE"
CODE = "VALIDATION_RULE_VIOLATED"


class RuleError(ValueError):
    """A rule definition the sandbox cannot play."""


@dataclass(frozen=True)
class Rule:
    property_name: str
    rule_type: str
    arguments: tuple[str, ...]

    def to_api(self) -> dict[str, Any]:
        return {
            "ruleType": self.rule_type,
            "ruleArguments": list(self.arguments),
            "shouldApplyNormalization": False,
        }


def parse_rules(raw: Iterable[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """``results`` entries (HubSpot's shape) into rules; RuleError for a bad one."""
    rules = []
    for entry in raw:
        name = entry.get("propertyName") if isinstance(entry, Mapping) else None
        items = entry.get("propertyValidationRules") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not isinstance(items, list):
            raise RuleError(
                "each validation rule entry needs propertyName and propertyValidationRules"
            )
        for item in items:
            kind = item.get("ruleType") if isinstance(item, Mapping) else None
            if kind not in RULE_TYPES:
                raise RuleError(f"ruleType {kind!r} is not one of {', '.join(RULE_TYPES)}")
            args = tuple(str(a) for a in item.get("ruleArguments") or ())
            if kind == "REQUIRED_IF" and len(args) != 2:
                raise RuleError("REQUIRED_IF takes two ruleArguments: a property and a value")
            if kind in ("MIN_LENGTH", "MAX_LENGTH") and not (args and args[0].isdigit()):
                raise RuleError(f"{kind} takes one ruleArgument, a whole number")
            if kind == "REGEX":
                try:
                    re.compile(args[0] if args else "")
                except re.error as exc:
                    raise RuleError(f"REGEX: {exc}") from exc
            rules.append(Rule(name, str(kind), args))
    return tuple(rules)


def rules_answer(rules: Iterable[Rule]) -> dict[str, Any]:
    by_property: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        by_property.setdefault(rule.property_name, []).append(rule.to_api())
    return {
        "results": [
            {"propertyName": name, "propertyValidationRules": items}
            for name, items in by_property.items()
        ]
    }


def broken_rules(
    rules: Iterable[Rule],
    properties: Mapping[str, str],
    *,
    creating: bool,
    stored: Mapping[str, str] | None = None,
) -> list[PropertyError]:
    """What a write of ``properties`` (over the record's ``stored`` ones, for an update)
    breaks, in HubSpot's per-property error shape."""
    after = {**(stored or {}), **properties}
    errors = []
    for rule in rules:
        message = _broken(rule, properties, after, creating)
        if message:
            errors.append(PropertyError(rule.property_name, CODE, message))
    return errors


def _broken(
    rule: Rule, sent: Mapping[str, str], after: Mapping[str, str], creating: bool
) -> str | None:
    name, kind, args = rule.property_name, rule.rule_type, rule.arguments
    value = after.get(name, "")
    if kind == "REQUIRED":
        if creating and not value:
            return f"{name} is required by this portal's create form and was not provided."
        return None
    if kind == "REQUIRED_IF":
        other, wanted = args
        if after.get(other) == wanted and not value and (creating or other in sent or name in sent):
            return (
                f"{name} is required when {other} is {wanted} (a validation rule of this portal)."
            )
        return None
    if name not in sent or not value:
        return None
    if kind == "ALPHANUMERIC":
        numeric = bool(args) and args[0] == "NUMERIC_ONLY"
        if (numeric and not value.isdigit()) or (not numeric and not value.isalnum()):
            allowed = "numeric characters" if numeric else "letters and digits"
            return f"{value} does not match this portal's rule for {name}: only {allowed}."
    elif kind == "MIN_LENGTH" and len(value) < int(args[0]):
        return f"{name} must be at least {args[0]} characters long (a validation rule)."
    elif kind == "MAX_LENGTH" and len(value) > int(args[0]):
        return f"{name} must be at most {args[0]} characters long (a validation rule)."
    elif kind == "REGEX" and re.fullmatch(args[0] if args else "", value) is None:
        return f"{value} does not match the pattern this portal requires for {name}."
    return None
