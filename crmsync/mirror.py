"""The save path's SQL: write a registered host row's mirror in ``crmsync.Contact``.

One statement per save, whatever happened before: ``INSERT ... ON CONFLICT (source, source_pk)
WHERE NOT (source = '') DO UPDATE ... WHERE <the mirrored data differs> RETURNING``. The
partial unique index ``crmsync_contact_source_uniq`` is the conflict target: the ``WHERE`` in
the target is what lets PostgreSQL and SQLite >= 3.35 use a partial index, and it is spelled as
Django spells the index's condition, because SQLite matches it by its form (``source <> ''``
does not match ``NOT (source = '')`` there). A save that changes
nothing mapped matches the conflict, fails the ``DO UPDATE ... WHERE`` and writes nothing: no
new row version, no bumped ``version``, nothing returned, so no nudge. ``queue_in_chunks``
does the same for many rows, one statement per chunk.

JSON is compared as data: on PostgreSQL as ``jsonb``; on SQLite as text written canonically
(sorted keys, no spaces), so equal data is equal text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models, transaction

from .dbclock import now_sql
from .models import Contact, SyncAttempt, SyncStatus
from .registry import COLUMNS, Mapped, Registration, map_row, registration_for
from .retention import forget_contact_history, forget_on_delete

_TABLE = Contact._meta.db_table
_DATA = (*COLUMNS, "properties", "associations", "action")
# Statuses whose row is left as it is by a save: in flight, its worker sends it again after
# the write-back (version moved); held, only an operator may release it; skipped, an
# operator said never to sync it (as in Contact.save).
_KEEP = f"'{SyncStatus.IN_FLIGHT}', '{SyncStatus.HELD}', '{SyncStatus.SKIPPED}'"
# Statuses whose note (sync_error) a save keeps: it says why the operator must act.
_KEEP_NOTE = f"'{SyncStatus.HELD}', '{SyncStatus.SKIPPED}'"


@dataclass(frozen=True)
class Chunk:
    """What one chunk of ``queue_in_chunks`` did."""

    rows: int
    changed: int
    last_pk: Any


def save_mirror(registration: Registration, obj: Any, using: str | None = None) -> bool:
    """Mirror a saved host row: upsert it when it qualifies (``when``), else mark it for
    archive or leave it (``on_delete``). True when a row now waits to be sent."""
    if registration.qualifies(obj):
        return upsert(registration.label, [(obj.pk, map_row(registration, obj))], using) > 0
    if registration.on_delete == "archive":
        return retire(registration.label, [obj.pk], archive=True, using=using) > 0
    return False


def delete_mirror(registration: Registration, obj: Any, using: str | None = None) -> bool:
    """The host row is gone: never send a mirror HubSpot has not seen, and archive the rest
    when ``on_delete="archive"``. True when a row now waits to be sent."""
    archive = registration.on_delete == "archive"
    return retire(registration.label, [obj.pk], archive=archive, using=using) > 0


def upsert(label: str, rows: Sequence[tuple[Any, Mapped]], using: str | None = None) -> int:
    """Insert or update the mirrors of ``rows`` ((pk, mapped values)) in one statement; how
    many changed (and wait to be sent, unless in flight or held)."""
    if not rows:
        return 0
    connection = connections[using or "default"]
    postgres = connection.vendor == "postgresql"
    params: list[Any] = []
    for pk, mapped in rows:
        params += [label, str(pk), *(mapped.columns[name] for name in COLUMNS)]
        params += [_json(mapped.properties), _json(mapped.associations)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(len(rows), postgres), params)
        return len(cursor.fetchall())


def retire(label: str, pks: Sequence[Any], *, archive: bool, using: str | None = None) -> int:
    """Host rows gone (or no longer qualifying): delete their mirrors that HubSpot never saw;
    with ``archive``, mark the others for ``batch/archive``. How many were marked."""
    if not pks:
        return 0
    connection = connections[using or "default"]
    keys = [str(pk) for pk in pks]
    marks = ", ".join(["%s"] * len(keys))
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(_UNSENT_DELETE.format(marks=marks), [label, *keys])
        _forget_deleted([row[0] for row in cursor.fetchall()], connection.alias)
        if not archive:
            return 0
        now = now_sql(connection.vendor)
        cursor.execute(_ARCHIVE.format(marks=marks, now=now), [label, *keys])
        return len(cursor.fetchall())


def _forget_deleted(ids: list[int], using: str) -> None:
    """Mirrors deleted by SQL (a failed one has history): as a ``Contact.delete()`` would,
    their personal data leaves history (``HISTORY_FORGET_ON_DELETE``) and their attempts
    lose the link (the constraint is checked at commit)."""
    if not ids:
        return
    if forget_on_delete():
        forget_contact_history(ids, using=using)
    SyncAttempt.objects.using(using).filter(contact_id__in=ids).update(contact=None)


def queue_in_chunks(
    queryset: models.QuerySet[Any], chunk_size: int = 500, start_after: Any = None
) -> Iterator[Chunk]:
    """Mirror every row of ``queryset`` in pk order, ``chunk_size`` rows (and one upsert)
    at a time, in flat memory; yields each chunk's counts so a caller can show progress and
    resume after ``last_pk``."""
    registration = registration_for(queryset.model)
    if registration is None:
        raise LookupError(
            f"crmsync: {queryset.model._meta.label} is not registered: call "
            "crmsync.register() for it first"
        )
    rows = queryset.order_by("pk")
    if start_after is not None:
        rows = rows.filter(pk__gt=start_after)
    if registration.relations:
        rows = rows.select_related(*registration.relations)
    using = rows.db
    batch: list[Any] = []
    for obj in rows.iterator(chunk_size=chunk_size):
        batch.append(obj)
        if len(batch) >= chunk_size:
            yield _queue_chunk(registration, batch, using)
            batch = []
    if batch:
        yield _queue_chunk(registration, batch, using)


def _queue_chunk(registration: Registration, batch: list[Any], using: str) -> Chunk:
    upserts, retired = [], []
    for obj in batch:
        if registration.qualifies(obj):
            upserts.append((obj.pk, map_row(registration, obj)))
        elif registration.on_delete == "archive":
            retired.append(obj.pk)
    changed = upsert(registration.label, upserts, using)
    changed += retire(registration.label, retired, archive=True, using=using)
    return Chunk(rows=len(batch), changed=changed, last_pk=batch[-1].pk)


def _json(value: Any) -> str:
    # Canonical, so that SQLite's text comparison sees equal data as equal.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=32)  # one statement text per chunk size and backend
def _upsert_sql(count: int, postgres: bool) -> str:
    cast = "::jsonb" if postgres else ""
    now = now_sql("postgresql" if postgres else "sqlite")  # due now by the database's clock
    one = (
        f"(%s, %s, {', '.join(['%s'] * len(COLUMNS))}, %s{cast}, %s{cast}, "
        f"'upsert', '{SyncStatus.PENDING}', '', '', '', '', 0, {now}, 1, 0, 0, FALSE, '', "
        f"{now}, {now})"
    )
    if postgres:
        differs = (
            f"({', '.join(f'c.{n}' for n in _DATA)}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{n}' for n in _DATA)})"
        )
    else:
        differs = " OR ".join(f"c.{n} IS NOT excluded.{n}" for n in _DATA)
    return _UPSERT.format(
        data=", ".join(COLUMNS),
        values=", ".join([one] * count),
        set_data=", ".join(f"{n} = EXCLUDED.{n}" for n in (*COLUMNS, "properties", "associations")),
        differs=differs,
        now="EXCLUDED.next_attempt_at",
    )


# Reviving a mirror HubSpot archived (the row qualifies again) creates a new contact: the
# old id points at one in HubSpot's recycle bin, which batch/update cannot reach.
def _requeue(c: str) -> str:
    """SET clauses that queue a changed mirror, as ``Contact.save`` does (``c``: the table's
    alias with its dot, or ""): due now, attempts reset; in flight, held or skipped keep
    their status, and held or skipped their note."""
    held = f"{c}sync_status IN ({_KEEP_NOTE})"
    return f"""version = {c}version + 1,
    sync_status = CASE WHEN {c}sync_status IN ({_KEEP}) THEN {c}sync_status
        ELSE '{SyncStatus.PENDING}' END,
    sync_error = CASE WHEN {held} THEN {c}sync_error ELSE '' END,
    sync_error_category = CASE WHEN {held} THEN {c}sync_error_category ELSE '' END,
    sync_attempts = 0"""


_UPSERT = f"""
INSERT INTO {_TABLE} AS c (
    source, source_pk, {{data}}, properties, associations, action, sync_status, hubspot_id,
    sync_error, sync_error_category, hubspot_status, sync_attempts, next_attempt_at, version,
    synced_version, claimed_version, needs_reconcile, reconcile_emails, created_at, updated_at
) VALUES {{values}}
ON CONFLICT (source, source_pk) WHERE NOT (source = '') DO UPDATE SET
    {{set_data}},
    action = 'upsert',
    {_requeue("c.")},
    hubspot_id = CASE WHEN c.sync_status = '{SyncStatus.ARCHIVED}' THEN '' ELSE c.hubspot_id END,
    synced_properties = CASE WHEN c.sync_status = '{SyncStatus.ARCHIVED}' THEN NULL
        ELSE c.synced_properties END,
    synced_associations = CASE WHEN c.sync_status = '{SyncStatus.ARCHIVED}' THEN NULL
        ELSE c.synced_associations END,
    next_attempt_at = {{now}},
    updated_at = {{now}}
WHERE {{differs}}
RETURNING id
"""

# Never seen by HubSpot: no id, never claimed (or refused by HubSpot), and no create whose
# answer was lost (needs_reconcile). In flight or held rows stay: a create may be under way.
_UNSENT_DELETE = f"""
DELETE FROM {_TABLE}
WHERE source = %s AND source_pk IN ({{marks}}) AND hubspot_id = '' AND NOT needs_reconcile
  AND ((sync_status = '{SyncStatus.PENDING}' AND claimed_version = 0)
       OR sync_status = '{SyncStatus.FAILED}')
RETURNING id
"""

_ARCHIVE = f"""
UPDATE {_TABLE} SET
    action = 'archive',
    {_requeue("")},
    next_attempt_at = {{now}},
    updated_at = {{now}}
WHERE source = %s AND source_pk IN ({{marks}}) AND action <> 'archive'
    AND sync_status <> '{SyncStatus.ARCHIVED}'
RETURNING id
"""
