"""Stage 1, planning: turn a claimed batch into the HubSpot inputs to send.

Pure: rows in, a ``Plan`` out. Known contacts (a HubSpot id) become ``batch/update`` inputs;
new ones become ``batch/create`` inputs, deduplicated by email (HubSpot rejects two inputs
with one email in a batch); rows whose earlier create may have happened are marked for a
lookup first; rows that cannot be mapped, or that need a lookup but have no email to look up
by, are decided here and never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import db
from ..mapping import MappingError, build_associations, build_properties
from . import outcomes


@dataclass
class Input:
    """One HubSpot input and the rows it stands for (several when emails repeat)."""

    trace_id: str
    rows: list[db.ClaimedRow]
    body: dict[str, Any]
    email: str = ""

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
    #: some creates may already exist in HubSpot: look their emails up before creating
    reconcile: bool = False
    #: rows settled without a request (unmappable, or held)
    decided: list[outcomes.Decision] = field(default_factory=list)


def trace_id(row: db.ClaimedRow, token_tag: str) -> str:
    """Unique per input: row, version and claim (so a retry never reuses one). HubSpot
    answers per input (207) only when every input carries one."""
    return f"crmsync-{row.id}-v{row.version}-{token_tag}"


def candidates(row: db.ClaimedRow) -> list[str]:
    """Every email this row may have been created with: the ones recorded when earlier
    attempts were claimed (its email at each claim), deduplicated."""
    return list(dict.fromkeys(e for e in row.reconcile_emails.split() if e))


def row_fields(row: db.ClaimedRow) -> dict[str, Any]:
    return {
        "email": row.email.strip(),
        "firstname": row.firstname,
        "lastname": row.lastname,
        "phone": row.phone,
        "company": row.company,
        "lifecyclestage": row.lifecyclestage,
    }


def plan_batch(rows: list[db.ClaimedRow], token_tag: str) -> Plan:
    plan = Plan()
    by_email: dict[str, Input] = {}
    for row in rows:
        try:
            properties = build_properties(row_fields(row), row.properties)
            associations = build_associations(row.associations)
        except MappingError as exc:
            plan.decided.append(outcomes.failed(row, f"Cannot send: {exc}", "MAPPING_ERROR"))
            continue
        trace = trace_id(row, token_tag)
        if row.hubspot_id:
            # Associations go with a create only: batch/update takes properties.
            body: dict[str, Any] = {
                "id": row.hubspot_id,
                "properties": properties,
                "objectWriteTraceId": trace,
            }
            plan.updates.append(Input(trace, [row], body))
            continue
        if row.needs_reconcile:
            if not candidates(row):
                plan.decided.append(outcomes.held(row))
                continue
            plan.reconcile = True
        email = row.email.strip().lower()
        if email and email in by_email:  # same email twice: send once, link both
            by_email[email].rows.append(row)
            continue
        # HubSpot's spec requires "associations" on every create input, [] when none.
        body = {"properties": properties, "associations": associations, "objectWriteTraceId": trace}
        item = Input(trace, [row], body, email)
        if email:
            by_email[email] = item
        plan.creates.append(item)
    return plan
