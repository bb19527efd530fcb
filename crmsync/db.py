"""The hot-path SQL: claim a batch of due rows, write its results back.

Both are one statement each on every backend, so a batch costs a constant number of queries.
They are raw SQL because the ORM cannot express either as one statement: the claim is an
``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``, and the write-back
updates 100 rows with 100 different values, fenced by the claim token and the row's version
(Django's ``bulk_update`` would build one CASE per row and field, about five times slower).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from .dbclock import later_sql, now_sql
from .models import SYNCED_FIELDS, Contact, SyncAttempt, SyncStatus

CLAIM_COLUMNS = (
    "id",
    *SYNCED_FIELDS,  # the order of ClaimedRow's fields below
    "hubspot_id",
    "version",
    "needs_reconcile",
    "sync_attempts",
    "reconcile_emails",
    "source",
    "source_pk",
    "action",
    "synced_properties",
    "synced_associations",
    "sync_key",
)


@dataclass
class ClaimedRow:
    id: int
    email: str
    firstname: str
    lastname: str
    phone: str
    company: str
    lifecyclestage: str
    properties: Any
    associations: Any
    hubspot_id: str
    version: int
    needs_reconcile: bool
    sync_attempts: int
    #: lower-cased emails the row had at each claim since it was last settled, space-separated
    reconcile_emails: str
    #: the registered host model this row mirrors ("app_label.modelname"), and its pk
    source: str = ""
    source_pk: str = ""
    #: "upsert" or "archive"
    action: str = "upsert"
    #: what HubSpot last accepted from this row; None: not known
    synced_properties: dict[str, str] | None = None
    #: the associations HubSpot holds, [company id, category, type id]; None: not known
    synced_associations: list[list[Any]] | None = None
    sync_key: str = ""


@dataclass
class WriteBack:
    """The new sync state of one row, as the service decided it."""

    id: int
    status: str
    hubspot_id: str = ""
    error: str = ""
    error_category: str = ""
    hubspot_status: str = ""
    hubspot_created_at: dt.datetime | None = None
    hubspot_updated_at: dt.datetime | None = None
    attempts: int = 0
    #: due again this many seconds after the write-back, by the database's clock (None: the
    #: due time is left as it is)
    retry_in: float | None = None
    needs_reconcile: bool = False
    reconcile_emails: str = ""
    #: with status synced: what HubSpot now holds of this row's properties (None: unchanged)
    synced_properties: dict[str, str] | None = None
    #: with status synced: the associations HubSpot now holds (None: unchanged)
    synced_associations: list[list[Any]] | None = None


@dataclass
class AttemptRow:
    """One SyncAttempt to insert; plain data, because building 100 model instances per
    batch and letting bulk_create prepare each field cost more than the HTTP call."""

    contact_id: int
    email: str
    outcome: str
    hubspot_id: str
    error_category: str
    error_message: str
    trace_id: str
    version: int
    batch_id: int | None = None
    upsert_new: bool | None = None


_ATTEMPT_COLUMNS = (
    ("created_at", "timestamptz"),
    ("batch_id", "bigint"),
    ("contact_id", "bigint"),
    ("email", "text"),
    ("outcome", "text"),
    ("hubspot_id", "text"),
    ("error_category", "text"),
    ("error_message", "text"),
    ("trace_id", "text"),
    ("version", "integer"),
    ("upsert_new", "boolean"),
)


# Each row's values in the order of its columns after created_at (the database's now).
_attempt_values = attrgetter(*(name for name, _ in _ATTEMPT_COLUMNS[1:]))


def _json_table(columns: Sequence[tuple[str, str]], placeholder: str) -> str:
    """A derived table over one JSON parameter holding a list of rows (lists), for
    PostgreSQL. One JSON text is built by json.dumps in C; binding a dozen arrays element by
    element, or one object per row, costs more than the HTTP call."""
    fields = ", ".join(f"(e->>{i})::{kind} AS {name}" for i, (name, kind) in enumerate(columns))
    return f"(SELECT {fields} FROM json_array_elements({placeholder}::json) AS e)"


def _json_rows(rows: Sequence[Sequence[Any]]) -> str:
    return json.dumps(rows, separators=(",", ":"), default=_isoformat)


def _isoformat(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def insert_attempts(rows: Sequence[AttemptRow]) -> None:
    """Insert one batch's history in one statement (a few on an old SQLite), stamped with
    the database's clock: a worker whose clock is off writes none in the future."""
    if not rows:
        return
    table = connection.ops.quote_name(SyncAttempt._meta.db_table)
    names = ", ".join(name for name, _ in _ATTEMPT_COLUMNS)
    rest, now = _ATTEMPT_COLUMNS[1:], now_sql(connection.vendor)  # created_at: the DB's now
    values = [_attempt_values(r) for r in rows]
    with connection.cursor() as cursor:
        if _is_postgres():
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {now}, "
                f"{', '.join(name for name, _ in rest)} FROM {_json_table(rest, '%s')} AS v",
                [_json_rows(values)],
            )
            return
        row_sql = f"({now}, " + ", ".join(["%s"] * len(rest)) + ")"
        limit = connection.features.max_query_params or 999
        step = max(limit // len(rest), 1)
        for start in range(0, len(values), step):
            chunk = values[start : start + step]
            flat = [value for row in chunk for value in row]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}", flat
            )


def _table() -> str:
    return connection.ops.quote_name(Contact._meta.db_table)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


_EMPTY_JSON = {"{}": dict, "[]": list}


def _json(value: Any) -> Any:
    """Django's PostgreSQL backend hands raw SQL jsonb back as text; most rows hold {} or []."""
    if isinstance(value, str):
        empty = _EMPTY_JSON.get(value)
        return empty() if empty else json.loads(value)
    return json.loads(value) if isinstance(value, bytes) else value


def claim(token: uuid.UUID, limit: int, lease_seconds: float) -> list[ClaimedRow]:
    """Mark up to ``limit`` due rows in flight under ``token`` for ``lease_seconds``; return
    them. One statement; "due" and the lease's deadline are the database's clock.

    On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets any number of workers on any number of
    hosts claim at once without waiting on or taking each other's rows. SQLite has no row
    locks; it runs one writing statement at a time, which is just as safe.
    """
    table = _table()
    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    vendor = connection.vendor
    now = now_sql(vendor)
    token_param = token if _is_postgres() else token.hex
    sql = (
        f"UPDATE {table} SET sync_status = %s, claim_token = %s, "
        f"lease_expires_at = {later_sql(vendor, '%s')}, "
        f"claimed_version = version, updated_at = {now}, "
        # Remember the email this claim may create the contact with: if the answer is lost
        # or the worker dies, the lookup must find it even after the email was edited.
        f"reconcile_emails = CASE WHEN email = '' THEN reconcile_emails "
        f"ELSE reconcile_emails || lower(email) || ' ' END "
        f"WHERE id IN (SELECT id FROM {table} WHERE sync_status = %s AND next_attempt_at <= {now} "
        f"ORDER BY next_attempt_at, id LIMIT %s{skip_locked}) "
        f"RETURNING {', '.join(CLAIM_COLUMNS)}"
    )
    params = [SyncStatus.IN_FLIGHT.value, token_param, float(lease_seconds)]
    params += [SyncStatus.PENDING.value, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = []
    for row in rows:
        item = ClaimedRow(*row)
        item.properties = _json(item.properties)
        item.associations = _json(item.associations)
        item.synced_properties = _json(item.synced_properties)
        item.synced_associations = _json(item.synced_associations)
        item.needs_reconcile = bool(item.needs_reconcile)
        item.sync_key = str(uuid.UUID(str(item.sync_key))) if item.sync_key else ""
        claimed.append(item)
    claimed.sort(key=lambda r: r.id)
    return claimed


def extend_lease(token: uuid.UUID, lease_seconds: float) -> int:
    """Extend the lease of rows held under ``token`` to ``lease_seconds`` from db now."""
    token_param = token if _is_postgres() else token.hex
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table()} SET lease_expires_at = {later_sql(connection.vendor, '%s')} "
            f"WHERE claim_token = %s AND sync_status = %s",
            [float(lease_seconds), token_param, SyncStatus.IN_FLIGHT.value],
        )
        return int(cursor.rowcount)


_WRITE_COLUMNS = (
    ("id", "bigint"),
    ("status", "text"),
    ("hubspot_id", "text"),
    ("error", "text"),
    ("error_category", "text"),
    ("hubspot_status", "text"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("attempts", "integer"),
    ("retry_in", "float8"),
    ("needs_reconcile", "boolean"),
    ("reconcile_emails", "text"),
    ("synced_properties", "jsonb"),
    ("synced_associations", "jsonb"),
)

_write_values = attrgetter(
    *(
        {"created_at": "hubspot_created_at", "updated_at": "hubspot_updated_at"}.get(name, name)
        for name, _ in _WRITE_COLUMNS
    )
)

# A row edited while its batch was in flight (version moved on) goes back to pending with
# its attempts reset, whatever HubSpot said: the result was for older data. Only a held row
# stays held: its create may have happened, and only an operator can say.
_SET_TEMPLATE = """
    sync_status = CASE WHEN c.version <> c.claimed_version AND v.status <> %(held)s
                       THEN %(pending)s ELSE v.status END,
    hubspot_id = CASE WHEN v.hubspot_id <> '' THEN v.hubspot_id ELSE c.hubspot_id END,
    sync_error = CASE WHEN c.version <> c.claimed_version AND v.status <> %(held)s
                      THEN '' ELSE v.error END,
    sync_error_category = v.error_category,
    hubspot_status = CASE WHEN v.hubspot_status <> '' THEN v.hubspot_status
                          ELSE c.hubspot_status END,
    hubspot_created_at = COALESCE(v.created_at, c.hubspot_created_at),
    hubspot_updated_at = COALESCE(v.updated_at, c.hubspot_updated_at),
    synced_at = CASE WHEN v.status = %(synced)s THEN {now} ELSE c.synced_at END,
    synced_version = CASE WHEN v.status = %(synced)s THEN c.claimed_version
                          ELSE c.synced_version END,
    sync_attempts = CASE WHEN c.version <> c.claimed_version THEN 0 ELSE v.attempts END,
    next_attempt_at = CASE WHEN c.version <> c.claimed_version THEN {now}
                           WHEN v.retry_in IS NULL THEN c.next_attempt_at ELSE {retry} END,
    needs_reconcile = v.needs_reconcile,
    reconcile_emails = v.reconcile_emails,
    synced_properties = CASE WHEN v.status = %(synced)s AND v.synced_properties IS NOT NULL
                             THEN v.synced_properties ELSE c.synced_properties END,
    synced_associations = CASE WHEN v.status = %(synced)s AND v.synced_associations IS NOT NULL
                               THEN v.synced_associations ELSE c.synced_associations END,
    claim_token = NULL,
    lease_expires_at = NULL,
    updated_at = {now}
"""
# The database's clock stamps the row and applies the backoff (see crmsync.dbclock).
_SET_CLAUSE = _SET_TEMPLATE.format(
    now=now_sql("postgresql"), retry=later_sql("postgresql", "v.retry_in")
)
_SET_SQLITE_NAMED = _SET_TEMPLATE.format(
    now=now_sql("sqlite"), retry=later_sql("sqlite", "v.retry_in")
)
_SET_SQLITE_ORDER = re.findall(r"%\((\w+)\)s", _SET_SQLITE_NAMED)
_SET_SQLITE = re.sub(r"%\((\w+)\)s", "%s", _SET_SQLITE_NAMED)


def relax_commit_durability() -> None:
    """Let PostgreSQL acknowledge this transaction's commit before its WAL reaches disk.

    Only for the write-back: if a database crash loses it, the rows are as a worker crash
    before the write-back leaves them (in flight until the lease expires, then looked up
    before being created again), a case crmsync handles anyway. The claim keeps full
    durability: a lost claim would let another worker create the same rows blindly.
    """
    if _is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def write_back(token: uuid.UUID, rows: Sequence[WriteBack]) -> int:
    """Apply every row's new state in one statement, only where ``token`` still holds the
    claim. Returns how many rows were written; a row whose lease was lost is left alone."""
    if not rows:
        return 0
    values = [_write_values(r) for r in rows]
    if _is_postgres():
        return _write_back_postgres(token, values)
    return _write_back_sqlite(token, values)


_STATUSES = {name: SyncStatus(name).value for name in ("held", "pending", "synced")}


def _write_back_postgres(token: uuid.UUID, values: list[tuple[Any, ...]]) -> int:
    sql = (
        f"UPDATE {_table()} AS c SET {_SET_CLAUSE} "
        f"FROM {_json_table(_WRITE_COLUMNS, '%(rows)s')} AS v "
        f"WHERE c.id = v.id AND c.claim_token = %(token)s"
    )
    params: dict[str, Any] = {**_STATUSES, "token": token, "rows": _json_rows(values)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _write_back_sqlite(token: uuid.UUID, values: list[tuple[Any, ...]]) -> int:
    # A VALUES table (columns column1, column2...) renamed in a subquery, positional
    # parameters only. Not a CTE: Python's sqlite3 reports no rowcount for "WITH ... UPDATE".
    ops = connection.ops
    row_sql = "(" + ", ".join(["%s"] * len(_WRITE_COLUMNS)) + ")"
    renamed = ", ".join(f"column{i + 1} AS {name}" for i, (name, _) in enumerate(_WRITE_COLUMNS))
    flat: list[Any] = []
    for row in values:
        flat.extend(_sqlite_value(ops, v) for v in row)
    named = {**_STATUSES, "token": token.hex}
    sql = (
        f"UPDATE {_table()} AS c SET {_SET_SQLITE} "
        f"FROM (SELECT {renamed} FROM (VALUES {', '.join([row_sql] * len(values))})) AS v "
        f"WHERE c.id = v.id AND c.claim_token = %s"
    )
    params = [named[name] for name in _SET_SQLITE_ORDER] + flat + [token.hex]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _sqlite_value(ops: Any, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return ops.adapt_datetimefield_value(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


@receiver(connection_created)
def _raise_sqlite_parameter_limit(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django 5.2 assumes SQLite's old limit of 999 parameters, which splits a 100-row
    history insert into two statements. Use the limit this SQLite really has."""
    if connection.vendor != "sqlite":
        return
    import sqlite3

    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    if limit > connection.features.max_query_params:
        connection.features.max_query_params = limit
