"""crmsync: keep a Django project's contacts flowing into HubSpot CRM.

The public API (README, "Syncing your own models")::

    crmsync.register(Customer, properties={"email": "email", ...})
    crmsync.hubspot_id(customer)            # the HubSpot id, or None
    crmsync.queue(Customer.objects.filter(...))   # after update()/bulk_update()/raw SQL
    with crmsync.without_sync(): ...        # nothing is queued

Each function imports its module when called: this package is imported while Django loads
its apps, before any model may be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db import models

    from .registry import Registration, Source

__version__ = "0.1.0"
__all__ = ["__version__", "hubspot_id", "queue", "register", "without_sync"]


def register(
    model: type[models.Model],
    *,
    properties: Mapping[str, Source],
    create_only: Iterable[str] = (),
    when: Callable[[Any], Any] | None = None,
    on_delete: str = "ignore",
    associations: Source | None = None,
) -> Registration:
    """Mirror ``model`` into HubSpot contacts.

    ``properties`` maps each HubSpot property to a field name, a dotted path through
    relations (``"company.name"``) or ``callable(obj)``; ``create_only`` properties are sent
    with the create only; rows for which ``when(obj)`` is false are not sent; ``on_delete``
    is ``"ignore"`` (HubSpot keeps the contact) or ``"archive"``; ``associations`` gives the
    HubSpot company id (or ids) the contact belongs to, kept up to date through HubSpot's
    associations API. ``manage.py check``
    reports every problem with the mapping.
    """
    from .registry import register as _register

    return _register(
        model,
        properties=properties,
        create_only=create_only,
        when=when,
        on_delete=on_delete,
        associations=associations,
    )


def hubspot_id(obj: models.Model) -> str | None:
    """The HubSpot id of this row's contact (one query), or None when not synced yet."""
    from .registry import hubspot_id as _hubspot_id

    return _hubspot_id(obj)


def queue(queryset: models.QuerySet[Any], *, chunk_size: int = 500) -> int:
    """Queue these rows of a registered model (after ``update()``, ``bulk_update()``, raw
    SQL: they send no signals); returns how many mirrors changed. Rows whose mapped values
    did not change are not written. Nothing is queued inside ``without_sync()`` or with
    ``CRMSYNC["ENABLED"]`` False."""
    import logging

    from . import mirror, receivers, registry

    if not registry.queueing_active():
        why = "inside without_sync()" if registry.queueing_paused() else "ENABLED is False"
        logging.getLogger(__name__).info("crmsync.queue(): nothing queued (%s)", why)
        return 0
    changed = sum(chunk.changed for chunk in mirror.queue_in_chunks(queryset, chunk_size))
    if changed:
        receivers.nudge_on_commit(queryset.db)
    return changed


def without_sync() -> AbstractContextManager[None]:
    """``with crmsync.without_sync(): ...``: saves, deletes and ``queue()`` queue nothing
    in this block (seeders, imports, tests). A context variable: other threads and
    requests are not affected."""
    from .registry import without_sync as _without_sync

    return _without_sync()
