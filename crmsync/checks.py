"""System checks (``manage.py check``): the CRMSYNC settings (crmsync.conf.validate's
problems, shown as Django messages; the runtime refuses to send with the same problems), and
the registered host models (crmsync.register): each mapping against its model's fields."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.functional import cached_property

from . import registry
from .conf import validate
from .mapping import is_property_name


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for problem in validate(getattr(settings, "CRMSYNC", None)):
        kind = Error if problem.is_error else Warning
        messages.append(kind(problem.message, hint=problem.hint or None, id=problem.id))
    return messages


# -- registered host models (crmsync.register) ---------------------------------------------

#: Check ids of the registrations, kept stable (README, "Syncing your own models").
REGISTRY_IDS = {
    "bad_source": "crmsync.E020",
    "no_email": "crmsync.E021",
    "twice": "crmsync.E022",
    "on_delete": "crmsync.E023",
    "contact": "crmsync.E024",
    "property_name": "crmsync.E025",
    "when": "crmsync.E026",
    "create_only": "crmsync.W020",
}


@register(Tags.models)
def check_registrations(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for registration in registry.rejected_registrations():
        if registration.label == registry.CONTACT_LABEL:
            messages.append(
                _error(
                    "contact",
                    registration,
                    "crmsync.Contact is built in: it syncs as it is and cannot be registered.",
                )
            )
        else:
            messages.append(
                _error(
                    "twice",
                    registration,
                    "registered more than once; only the first registration is used.",
                    hint="Register each model once, in one hubspot.py.",
                )
            )
    for registration in registry.registrations():
        messages += registration_problems(registration)
    return messages


def registration_problems(registration: registry.Registration) -> list[CheckMessage]:
    """What is wrong with one registration, checked against its model's ``_meta``
    (callables are not checked: they run only on a row)."""
    found: list[CheckMessage] = []
    for name, source in registration.properties.items():
        if not is_property_name(name):
            found.append(
                _error(
                    "property_name",
                    registration,
                    f"{name!r} is not a HubSpot property name (lower-case letters, digits, _).",
                )
            )
        problem = None if callable(source) else source_problem(registration.model, source)
        if problem:
            found.append(_error("bad_source", registration, f"property {name!r}: {problem}"))
    associations = registration.associations
    if associations is not None and not callable(associations):
        problem = source_problem(registration.model, associations)
        if problem:
            found.append(_error("bad_source", registration, f"associations: {problem}"))
    if "email" not in registration.properties:
        found.append(
            _error(
                "no_email",
                registration,
                "maps no 'email' property.",
                hint="HubSpot deduplicates contacts by email, and crmsync looks a contact up by "
                "email when an answer was lost: map one, e.g. properties={'email': 'email'}.",
            )
        )
    if registration.on_delete not in registry.ON_DELETE:
        found.append(
            _error(
                "on_delete",
                registration,
                f"on_delete must be 'ignore' or 'archive', got {registration.on_delete!r}.",
            )
        )
    if registration.when is not None and not callable(registration.when):
        found.append(_error("when", registration, "when= must be a callable taking a row."))
    for name in sorted(registration.create_only - set(registration.properties)):
        found.append(
            Warning(
                f"{registration.model._meta.label}: create_only names {name!r}, "
                "which properties does not map: it has no effect.",
                obj=registration.model,
                id=REGISTRY_IDS["create_only"],
            )
        )
    return found


def source_problem(model: type[models.Model], source: Any) -> str | None:
    """Why ``source`` (a field name or dotted path) cannot be read from ``model``, or None."""
    if not isinstance(source, str) or not source:
        return f"must be a field name, a dotted path or a callable, got {source!r}"
    opts = model._meta
    parts = source.split(".")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            attribute = getattr(opts.model, part, None)
            if isinstance(attribute, property | cached_property) or part == "pk":
                return None  # computed: its value is checked when a row is mapped
            if callable(attribute):
                return (
                    f"{part!r} is a method of {opts.label}: map it with a callable, "
                    f"e.g. lambda obj: obj.{part}()"
                )
            return f"{opts.label} has no field {part!r} (in {source!r})"
        if field.many_to_many or field.one_to_many:
            return f"{part!r} is a to-many relation: map it with a callable"
        if field.is_relation and last:
            return (
                f"{part!r} is a relation: map one of its fields ('{source}.<field>') or "
                f"its id ('{getattr(field, 'attname', part)}')"
            )
        if not last:
            if not field.is_relation or field.related_model is None:
                return f"{part!r} is not a relation, so {source!r} cannot go through it"
            opts = field.related_model._meta  # type: ignore[union-attr]
    return None


def _error(kind: str, registration: registry.Registration, message: str, hint: str = "") -> Error:
    return Error(
        f"{registration.model._meta.label}: {message}",
        hint=hint or None,
        obj=registration.model,
        id=REGISTRY_IDS[kind],
    )
