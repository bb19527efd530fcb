"""Stage 1, planning: turn a claimed batch into the HubSpot inputs to send.

Pure: rows in, a ``Plan`` out. Known contacts (a HubSpot id) become ``batch/update`` inputs
carrying only what changed since HubSpot last accepted the row (an emptied value as "",
HubSpot's way to clear it; ``create_only`` properties never); new ones become
``batch/create`` inputs (in upsert mode ``batch/upsert`` inputs by the row's stable key),
deduplicated by email (HubSpot rejects two inputs with one email in a batch); rows to
archive become ``batch/archive`` inputs. Rows whose earlier create may have happened are
marked for a lookup first; rows that cannot be mapped, that need a lookup but
have no email to look up by, or whose update would change nothing are decided here and never
sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import db, preflight
from ..mapping import MappingError, build_associations, build_properties
from ..models import PROPERTY_COLUMNS
from ..propertydefs import Schema
from . import outcomes


@dataclass
class Input:
    """One HubSpot input and the rows it stands for (several when emails repeat)."""

    trace_id: str
    rows: list[db.ClaimedRow]
    body: dict[str, Any]
    email: str = ""
    #: what HubSpot holds of the row's properties once this input succeeds (None: unknown)
    synced_after: dict[str, str] | None = None
    #: association changes to make after the update (see ``association_changes``)
    links: Links | None = None

    @property
    def primary(self) -> db.ClaimedRow:
        return self.rows[0]

    @property
    def properties(self) -> dict[str, str]:
        return self.body["properties"]


@dataclass
class Plan:
    creates: list[Input] = field(default_factory=list)
    updates: list[Input] = field(default_factory=list)
    #: upsert mode: batch/upsert inputs by the unique property (body id: the row's key)
    upserts: list[Input] = field(default_factory=list)
    #: some creates may already exist in HubSpot: look their emails up before creating
    reconcile: bool = False
    #: rows settled without a request (unmappable, held, unchanged, nothing to archive)
    decided: list[outcomes.Decision] = field(default_factory=list)
    #: batch/archive inputs (body {"id": ...})
    archives: list[Input] = field(default_factory=list)
    #: rows to archive whose create may have happened unanswered: look them up by email
    archive_lookups: list[db.ClaimedRow] = field(default_factory=list)
    #: known contacts whose associations changed but whose properties did not
    links_only: list[Input] = field(default_factory=list)
    #: properties preflight found missing from HubSpot's schema (a newer one may have them)
    unknown: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Links:
    """What an update changes of a contact's associations: pairs to archive (every type
    between the contact and that company), associations to create, and what HubSpot holds
    after both."""

    archive: list[str]
    create: list[list[Any]]
    after: list[list[Any]]


def association_keys(associations: list[dict[str, Any]]) -> list[list[Any]]:
    """HubSpot-shaped associations as sorted [company id, category, type id] lists."""
    keys = {
        (a["to"]["id"], t["associationCategory"], t["associationTypeId"])
        for a in associations
        for t in a["types"]
    }
    return [list(k) for k in sorted(keys)]


def association_changes(current: list[list[Any]], synced: list[list[Any]] | None) -> Links | None:
    """None when nothing changed. Unknown (None) synced: create every association, archive
    none. v4's archive removes every type between a pair, so a pair that loses one type is
    archived and its remaining types created again."""
    if synced is None:
        return Links([], current, current) if current else None
    now, then = {tuple(k) for k in current}, {tuple(k) for k in synced}
    if now == then:
        return None
    touched = sorted({k[0] for k in then - now})
    create = [list(k) for k in sorted(now) if k not in then or k[0] in touched]
    return Links(touched, create, current)


CreateOnly = Callable[[str], frozenset[str]]


def _none(source: str) -> frozenset[str]:
    return frozenset()


def changes(
    current: Mapping[str, str], synced: Mapping[str, str] | None, create_only: frozenset[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(what an update sends, what HubSpot holds after it). With nothing known of HubSpot's
    copy, every property is sent; else only those that differ, and "" for one emptied."""
    if synced is None:
        send = {k: v for k, v in current.items() if k not in create_only}
        return send, dict(send)
    send = {k: v for k, v in current.items() if k not in create_only and synced.get(k) != v}
    send.update({k: "" for k in synced if k not in current and k not in create_only})
    after = {k: v for k, v in {**synced, **send}.items() if v != ""}
    return send, after


def trace_id(row: db.ClaimedRow, token_tag: str) -> str:
    """Unique per input: row, version and claim (so a retry never reuses one). HubSpot
    answers per input (207) only when every input carries one."""
    return f"crmsync-{row.id}-v{row.version}-{token_tag}"


def candidates(row: db.ClaimedRow) -> list[str]:
    """Every email this row may have been created with: the ones recorded when earlier
    attempts were claimed (its email at each claim), deduplicated."""
    return list(dict.fromkeys(e for e in row.reconcile_emails.split() if e))


def row_fields(row: db.ClaimedRow) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in PROPERTY_COLUMNS}
    fields["email"] = row.email.strip()
    return fields


def plan_batch(
    rows: list[db.ClaimedRow],
    token_tag: str,
    create_only: CreateOnly = _none,
    unique_property: str = "",
    schema: Schema | None = None,
    create_key: str = "",
) -> Plan:
    """``unique_property`` set: upsert mode, new contacts go through batch/upsert by it.
    ``schema``: HubSpot's property schema, to check and convert every row's properties
    before sending (``crmsync.preflight``); None sends them unchecked. ``create_key`` set
    (create mode with a unique property): each create carries the row's key in it, and a
    row whose earlier create may have happened is looked up by it too."""
    plan = Plan()
    by_email: dict[str, Input] = {}
    keys: set[str] = set()
    for row in rows:
        trace = trace_id(row, token_tag)
        if row.action == "archive":
            _plan_archive(plan, row, trace)
            continue
        mapped = _mapped(plan, row, schema)
        if mapped is None:
            continue
        properties, associations = mapped
        if row.hubspot_id:
            _plan_update(
                plan, row, trace, properties, associations, create_only(row.source), schema
            )
            continue
        if _breaks_rules(plan, row, schema, properties, None):
            continue
        if row.needs_reconcile:
            if not candidates(row) and not (create_key and row.sync_key):
                plan.decided.append(outcomes.held(row))
                continue
            plan.reconcile = True
        email = row.email.strip().lower()
        if email and email in by_email:  # same email twice: send once, link both
            by_email[email].rows.append(row)
            continue
        if unique_property:
            if not row.sync_key or row.sync_key in keys:
                # Two inputs with one key fail the whole batch (HubSpot: duplicate ids).
                message = f"Cannot send: this row's key {row.sync_key!r} is in the batch twice"
                plan.decided.append(outcomes.failed(row, message, "DUPLICATE_KEY"))
                continue
            keys.add(row.sync_key)
            item = upsert_input(row, trace, properties, associations, unique_property)
            plan.upserts.append(item)
        else:
            item = _create_input(row, trace, properties, associations, create_key)
            plan.creates.append(item)
        if email:
            by_email[email] = item
    return plan


def _plan_update(
    plan: Plan,
    row: db.ClaimedRow,
    trace: str,
    properties: dict[str, str],
    associations: list[dict[str, Any]],
    create_only: frozenset[str],
    schema: Schema | None,
) -> None:
    # Associations go with a create only: batch/update takes properties.
    send, after = changes(properties, row.synced_properties, create_only)
    if _breaks_rules(plan, row, schema, send, row.synced_properties or {}):
        return
    links = association_changes(association_keys(associations), row.synced_associations)
    body: dict[str, Any] = {"id": row.hubspot_id, "properties": send}
    body["objectWriteTraceId"] = trace
    item = Input(trace, [row], body, synced_after=after, links=links)
    if send:
        plan.updates.append(item)
    elif links:
        plan.links_only.append(item)
    else:
        plan.decided.append(outcomes.unchanged(row))


def _create_input(
    row: db.ClaimedRow,
    trace: str,
    properties: dict[str, str],
    associations: list[dict[str, Any]],
    create_key: str = "",
) -> Input:
    # HubSpot's spec requires "associations" on every create input, [] when none.
    sent = {**properties, create_key: row.sync_key} if create_key and row.sync_key else properties
    body = {"properties": sent, "associations": associations, "objectWriteTraceId": trace}
    links = Links([], [], association_keys(associations))  # sent with the create
    email = row.email.strip().lower()
    return Input(trace, [row], body, email, synced_after=dict(properties), links=links)


def upsert_input(
    row: db.ClaimedRow,
    trace: str,
    properties: dict[str, str],
    associations: list[dict[str, Any]],
    unique_property: str,
) -> Input:
    """batch/upsert by the row's key. Upsert inputs take no associations (HubSpot's schema
    has none): they go through the v4 API once the contact's id is known, every one of them,
    as what an earlier upsert whose answer was lost left is unknown (creating is idempotent)."""
    body = {
        "idProperty": unique_property,
        "id": row.sync_key,
        "properties": properties,
        "objectWriteTraceId": trace,
    }
    current = association_keys(associations)
    links = Links([], current, current) if current else None
    email = row.email.strip().lower()
    return Input(trace, [row], body, email, synced_after=dict(properties), links=links)


def _mapped(
    plan: Plan, row: db.ClaimedRow, schema: Schema | None
) -> tuple[dict[str, str], list[dict[str, Any]]] | None:
    """The row's properties (checked and converted by HubSpot's schema, when known) and
    associations; None when it cannot be sent (then it is decided)."""
    try:
        properties = build_properties(row_fields(row), row.properties)
        associations = build_associations(row.associations)
    except MappingError as exc:
        where = f"{row.source} #{row.source_pk}: " if row.source else ""
        message = f"Cannot send {where}{exc}" if where else f"Cannot send: {exc}"
        plan.decided.append(outcomes.failed(row, message, "MAPPING_ERROR"))
        return None
    if schema is not None:
        properties, problems = preflight.convert(properties, schema)
        if problems:
            _stopped(plan, row, problems)
            return None
    return properties, associations


def _breaks_rules(
    plan: Plan,
    row: db.ClaimedRow,
    schema: Schema | None,
    sent: dict[str, str],
    existing: Mapping[str, str] | None,
) -> bool:
    """Does this write break one of the portal's validation rules? (Then it is decided.)"""
    if schema is None or not schema.rules or (existing is not None and not sent):
        return False
    creating = existing is None
    problems = preflight.rule_problems(schema.rules, sent, creating=creating, existing=existing)
    if problems:
        _stopped(plan, row, problems)
    return bool(problems)


def _stopped(plan: Plan, row: db.ClaimedRow, problems: list[preflight.PropertyProblem]) -> None:
    """Preflight found what HubSpot would refuse: failed, never sent."""
    rule = all(p.portal_rule for p in problems)
    category = preflight.PORTAL_RULE if rule else preflight.PREFLIGHT
    where = f" ({row.source} #{row.source_pk})" if row.source else ""
    why = "a validation rule of this HubSpot portal" if rule else "HubSpot"
    message = f"Not sent{where}: {why} would refuse it. " + "; ".join(p.message for p in problems)
    plan.decided.append(outcomes.failed(row, message, category))
    plan.unknown.update(p.name for p in problems if p.unknown)


def _plan_archive(plan: Plan, row: db.ClaimedRow, trace: str) -> None:
    if row.hubspot_id:
        plan.archives.append(Input(trace, [row], {"id": row.hubspot_id}))
    elif row.needs_reconcile and candidates(row):
        plan.archive_lookups.append(row)  # an unanswered create may have made it
    else:
        plan.decided.append(outcomes.archived(row))  # HubSpot never had it


def create_again(row: db.ClaimedRow, trace: str) -> Input:
    """A ``batch/create`` input for a row whose HubSpot record is gone (deleted or merged
    and not found again). Raises MappingError as ``plan_batch`` would (it mapped before)."""
    properties = build_properties(row_fields(row), row.properties)
    associations = build_associations(row.associations)
    body = {"properties": properties, "associations": associations, "objectWriteTraceId": trace}
    links = Links([], [], association_keys(associations))
    email = row.email.strip().lower()
    return Input(trace, [row], body, email, synced_after=dict(properties), links=links)


def full_update(
    row: db.ClaimedRow, hubspot_id: str, trace: str, create_only: frozenset[str]
) -> Input:
    """A ``batch/update`` input sending every property of the row to ``hubspot_id``, a
    record of which nothing is known (a merge's survivor), and all its associations."""
    properties = build_properties(row_fields(row), row.properties)
    send, after = changes(properties, None, create_only)
    current = association_keys(build_associations(row.associations))
    links = Links([], current, current) if current else None
    body = {"id": hubspot_id, "properties": send, "objectWriteTraceId": trace}
    return Input(trace, [row], body, synced_after=after, links=links)
