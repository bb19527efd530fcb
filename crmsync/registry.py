"""The host models crmsync mirrors, what each maps to HubSpot, and the switch that stops it.

``crmsync.register(Customer, properties={...})`` adds a :class:`Registration`. Every saved
``Customer`` then gets a mirror row in ``crmsync.Contact`` (``source`` = its label, ``source_pk``
= its pk) holding the mapped values, which the sync sends like any other contact
(``crmsync.mirror`` writes it, ``crmsync.receivers`` calls it on save and delete).

Mapping a row never raises: a callable that raises, a value HubSpot cannot take (a dict, a
model instance, NaN...) becomes ``{"crmsync_cannot_send": why, "value": repr}`` in the mirror's
properties, so the sync fails that one row with a message naming the property, and the host's
``save()`` (often a web request) goes through. A dotted path through a missing related object
(``company.name`` with no company) gives ``None``: the property is cleared in HubSpot.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.utils.functional import Promise

from . import conf
from .mapping import UNSENDABLE_KEY, MappingError, to_hubspot_value
from .models import PROPERTY_COLUMNS, Contact, SyncStatus

logger = logging.getLogger(__name__)

#: Properties that live in Contact's own columns; every other one goes in ``properties``.
COLUMNS = PROPERTY_COLUMNS
ON_DELETE = ("ignore", "archive")
CONTACT_LABEL = Contact._meta.label_lower

#: A property's source: a field name, a dotted path through relations, or callable(obj).
Source = str | Callable[[Any], Any]


@dataclass(frozen=True, eq=False)
class Registration:
    """One registered host model: what ``crmsync.register`` was given."""

    model: type[models.Model]
    properties: Mapping[str, Source]
    create_only: frozenset[str] = frozenset()
    when: Callable[[Any], Any] | None = None
    on_delete: str = "ignore"
    #: The HubSpot company (or companies) the contact is associated with: a field name, a
    #: dotted path or callable(obj) giving a HubSpot company id, a list of them, or None.
    associations: Source | None = None
    #: ``app_label.modelname``: the mirror rows' ``source``.
    label: str = field(init=False)
    #: The forward relations dotted paths go through, for ``select_related`` when queueing.
    relations: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.model._meta.label_lower)
        sources = [*self.properties.values(), *([self.associations] if self.associations else [])]
        object.__setattr__(self, "relations", _relations(self.model, sources))

    def qualifies(self, obj: Any) -> bool:
        """Whether ``when`` lets this row reach HubSpot. A ``when`` that raises counts as
        false for this save (logged): guessing true could create a contact that should not
        exist, and the next save asks again."""
        if self.when is None:
            return True
        try:
            return bool(self.when(obj))
        except Exception:
            logger.exception(
                "crmsync: %s #%s: when= raised; not queued this time", self.label, obj.pk
            )
            return False


@dataclass
class Mapped:
    """A host row's mapped values, as the mirror stores them."""

    #: Contact's own columns (every one of COLUMNS, "" when unset).
    columns: dict[str, str]
    #: Other properties: HubSpot strings ("" clears), or unsendable markers.
    properties: dict[str, Any]
    #: Associations in HubSpot's shape (contact -> company, unlabeled), or what went wrong.
    associations: Any = field(default_factory=list)


# -- the registry --------------------------------------------------------------------------

_active: dict[type[models.Model], Registration] = {}
#: Registrations the checks report and nothing uses: a second one of a model, or one of
#: crmsync.Contact itself.
_rejected: list[Registration] = []


def register(
    model: type[models.Model],
    *,
    properties: Mapping[str, Source],
    create_only: Iterable[str] = (),
    when: Callable[[Any], Any] | None = None,
    on_delete: str = "ignore",
    associations: Source | None = None,
) -> Registration:
    """Mirror ``model`` into HubSpot (see ``crmsync.register``). Problems with the mapping
    (an unknown field, no email...) are reported by ``manage.py check``, all at once."""
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise TypeError(f"crmsync.register() takes a model class, got {model!r}")
    if not isinstance(properties, Mapping):
        raise TypeError("crmsync.register(properties=...) must be a dict of property -> source")
    if isinstance(create_only, str):
        create_only = [create_only]
    registration = Registration(
        model, dict(properties), frozenset(create_only), when, on_delete, associations
    )
    if model in _active or registration.label == CONTACT_LABEL:
        _rejected.append(registration)
        return registration
    _active[model] = registration
    for listener in _listeners:
        listener(registration)
    return registration


#: Called with each registration, past and future: how crmsync.receivers connects its signal
#: handlers per registered model (a handler for every sender would cost each save of every
#: model a call, and a post_delete handler would turn off Django's fast deletes everywhere).
_listeners: list[Callable[[Registration], None]] = []


def on_register(listener: Callable[[Registration], None]) -> None:
    _listeners.append(listener)
    for registration in list(_active.values()):
        listener(registration)


def unregister(model: type[models.Model]) -> None:
    """Forget ``model``'s registrations (for tests): its saves queue nothing from now on."""
    _active.pop(model, None)
    _rejected[:] = [r for r in _rejected if r.model is not model]


def registration_for(model: type[models.Model]) -> Registration | None:
    """The registration that governs ``model`` (a proxy follows its concrete model). Called
    on every save of every model, so it is a dict lookup."""
    found = _active.get(model)
    if found is None and model._meta.proxy:
        found = _active.get(model._meta.concrete_model)  # type: ignore[arg-type]
    return found


def registration_named(label: str) -> Registration | None:
    """The registration of ``app_label.modelname`` (any case), or None."""
    wanted = label.lower()
    return next((r for r in _active.values() if r.label == wanted), None)


def registrations() -> list[Registration]:
    return list(_active.values())


def rejected_registrations() -> list[Registration]:
    return list(_rejected)


def create_only_for(label: str) -> frozenset[str]:
    """The properties the sync sends with a create only, for mirrors whose source is
    ``label`` (empty for crmsync's own contacts and for models not registered)."""
    registration = registration_named(label) if label else None
    return registration.create_only if registration else frozenset()


# -- the switch ----------------------------------------------------------------------------

_paused: contextvars.ContextVar[int] = contextvars.ContextVar("crmsync_without_sync", default=0)


@contextlib.contextmanager
def without_sync() -> Iterator[None]:
    """Nothing is queued inside this block (saves, deletes, ``queue()``), in this thread or
    task only: a context variable, so other requests and threads are not affected."""
    token = _paused.set(_paused.get() + 1)
    try:
        yield
    finally:
        _paused.reset(token)


def queueing_active() -> bool:
    """Outside ``without_sync()`` and with ``CRMSYNC["ENABLED"]`` not False."""
    return _paused.get() == 0 and conf.queueing_enabled()


def queueing_paused() -> bool:
    return _paused.get() > 0


# -- mapping one row -----------------------------------------------------------------------


def map_row(registration: Registration, obj: Any) -> Mapped:
    """``obj``'s mapped values: never raises (see the module's docstring)."""
    columns = dict.fromkeys(COLUMNS, "")
    properties: dict[str, Any] = {}
    for name, source in registration.properties.items():
        value = _stored(name, _read(source, obj))
        if name in columns:
            if isinstance(value, str) and len(value) <= _COLUMN_LIMITS[name]:
                columns[name] = value
                continue
            if isinstance(value, str):
                value = _cannot(
                    f"value is {len(value):,} characters; crmsync's {name} column holds at "
                    f"most {_COLUMN_LIMITS[name]}",
                    value,
                )
        properties[name] = value
    associations = (
        _associations(_read(registration.associations, obj)) if (registration.associations) else []
    )
    return Mapped(columns, properties, associations)


def _associations(value: Any) -> Any:
    """Company ids -> HubSpot's association shape. Something else is kept as it is given,
    so the sync fails the row with the mapping's own message about it."""
    if isinstance(value, _Raised):
        return {UNSENDABLE_KEY: value.why[:1000]}
    ids = value if isinstance(value, list | tuple | set | frozenset) else [value]
    if any(isinstance(i, models.Model) for i in ids):
        return {UNSENDABLE_KEY: "associations: give HubSpot company ids, not model objects"}
    return [{"to": {"id": str(i)}} for i in sorted(ids, key=str) if i not in (None, "")]


class _Raised:
    def __init__(self, why: str) -> None:
        self.why = why


def _read(source: Source, obj: Any) -> Any:
    if callable(source):
        try:
            return source(obj)
        except Exception as exc:
            return _Raised(f"callable raised {type(exc).__name__}: {exc}")
    target = obj
    for part in source.split("."):
        if target is None:
            return None  # through a missing related object: cleared
        try:
            target = getattr(target, part)
        except ObjectDoesNotExist:
            return None  # a reverse one-to-one with no row
        except Exception as exc:
            return _Raised(f"reading {source!r} raised {type(exc).__name__}: {exc}")
    return target


def _stored(name: str, value: Any) -> Any:
    """A HubSpot string ("" for None: cleared), or an unsendable marker."""
    if isinstance(value, _Raised):
        return {UNSENDABLE_KEY: value.why[:1000], "value": ""}
    if isinstance(value, models.Model):
        return _cannot(
            f"is a {type(value).__name__} object: map one of its fields "
            f"(e.g. '{name}.<field>' in the path) or its id",
            value,
        )
    if isinstance(value, Promise):  # gettext_lazy and friends
        value = str(value)
    try:
        text = to_hubspot_value(value, name)
    except MappingError as exc:
        return _cannot(str(exc).removeprefix(f"{name}: "), value)
    return "" if text is None else text


def _cannot(why: str, value: Any) -> dict[str, str]:
    return {UNSENDABLE_KEY: why[:1000], "value": repr(value)[:1000]}


_COLUMN_LIMITS: dict[str, int] = {
    name: Contact._meta.get_field(name).max_length or 0  # type: ignore[union-attr]
    for name in COLUMNS
}


def _relations(model: type[models.Model], sources: Iterable[Source]) -> tuple[str, ...]:
    """The forward to-one relations of the dotted paths, as select_related takes them."""
    found: set[str] = set()
    for source in sources:
        if not isinstance(source, str):
            continue
        opts, path = model._meta, []
        for part in source.split(".")[:-1]:
            try:
                relation = opts.get_field(part)
            except Exception:
                break
            if not (relation.many_to_one or relation.one_to_one) or relation.related_model is None:
                break
            path.append(part)
            opts = relation.related_model._meta  # type: ignore[union-attr]
        if path:
            found.add("__".join(path))
    return tuple(sorted(found))


# -- reading back --------------------------------------------------------------------------


def hubspot_id(obj: models.Model) -> str | None:
    """The HubSpot id of ``obj``'s contact (one query), or None: not synced yet, or
    archived. Works for crmsync.Contact rows and registered host rows alike."""
    if isinstance(obj, Contact):
        rows = Contact.objects.filter(pk=obj.pk)
    else:
        rows = Contact.objects.filter(source=obj._meta.label_lower, source_pk=str(obj.pk))
    found = (
        rows.exclude(sync_status=SyncStatus.ARCHIVED)
        .order_by()
        .values_list("hubspot_id", flat=True)[:1]
    )
    value = next(iter(found), "")
    return value or None
