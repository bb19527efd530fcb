"""``Contact.sync_key``, each row's stable key in HubSpot in upsert mode (the value of
``CRMSYNC["UNIQUE_PROPERTY"]``; README, "Write modes").

Random and stored, never derived: it survives edits of any field (an email, a name), a rename
of the host model (``source``), a restore into another database (where ids may differ), and is
unique across every model mirrored into ``crmsync.Contact``. Never changed once set.

Its default is the database's own (``RandomUUID``), not only Python's, because rows also arrive
by raw SQL (the mirror of host models, ``crmsync.mirror``, and the benchmarks): each gets a key
of its own however it was inserted, and migration 0012 gives one to every existing row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models


class RandomUUID(models.Func):
    """``gen_random_uuid()`` on PostgreSQL (built in since 13); 32 hex digits on SQLite, the
    form Django stores a UUIDField in there."""

    output_field = models.UUIDField()
    template = "gen_random_uuid()"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return "(lower(hex(randomblob(16))))", []


def sync_key_field() -> models.UUIDField:
    """``Contact.sync_key``: a random key per row, from Python or from the database."""
    return models.UUIDField(
        default=uuid.uuid4, db_default=RandomUUID(), unique=True, editable=False
    )
