"""What a Contact instance loaded, so that ``save()`` knows which synced fields changed."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.db import models

from ..mapping import stored_properties

#: Columns whose change means HubSpot must hear about it.
#: The contact's own columns that are HubSpot properties of the same name.
PROPERTY_COLUMNS = ("email", "firstname", "lastname", "phone", "company", "lifecyclestage")
SYNCED_FIELDS = (*PROPERTY_COLUMNS, "properties", "associations")


class ChangeTracking(models.Model):
    """Remembers the synced fields' values as loaded (or last saved)."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance = super().from_db(db, field_names, values)
        instance._loaded_data = instance._synced_data()
        return instance

    def refresh_from_db(
        self,
        using: str | None = None,
        fields: Iterable[str] | None = None,
        from_queryset: models.QuerySet[Any] | None = None,
    ) -> None:
        fields = None if fields is None else list(fields)
        super().refresh_from_db(using, fields, from_queryset)
        # What was just read is what a later save compares against. This is also how a
        # deferred field is loaded when first read: then it is loaded, not changed.
        names = SYNCED_FIELDS if fields is None else [n for n in SYNCED_FIELDS if n in fields]
        self._loaded_data = {**self._loaded_synced_data(), **self._synced_data(names)}

    def _loaded_synced_data(self) -> dict[str, Any]:
        return getattr(self, "_loaded_data", {})

    def _synced_data(self, names: Iterable[str] = SYNCED_FIELDS) -> dict[str, Any]:
        """The synced fields' values, leaving out (and never loading) deferred ones. Copies:
        ``properties`` and ``associations`` are often edited in place."""
        deferred = self.get_deferred_fields()
        return {name: copy.deepcopy(getattr(self, name)) for name in names if name not in deferred}

    def changed_synced_fields(self, names: Iterable[str] = SYNCED_FIELDS) -> list[str]:
        """The synced fields among ``names`` that differ from what was loaded or last saved.
        A field set on an instance that never loaded it counts as changed; a field still
        deferred does not (nobody set it)."""
        loaded = self._loaded_synced_data()
        current = self._synced_data(names)
        return [
            name
            for name in current
            if name not in loaded or _stored(name, loaded[name]) != _stored(name, current[name])
        ]


def _stored(name: str, value: Any) -> Any:
    # A date saved is read back as its HubSpot string: setting the same date again (a host
    # copying its data in on every save) is no change, and is not sent again.
    return stored_properties(value) if name == "properties" else value
