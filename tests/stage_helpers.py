"""Plain claimed rows and inputs for the pure stages' tests (no database, no HTTP)."""

from __future__ import annotations

from typing import Any

from crmsync import db
from crmsync.sync.plan import Input

TAG = "abcdef123456"


def row(id: int = 1, **fields: Any) -> db.ClaimedRow:
    values: dict[str, Any] = {
        "id": id,
        "email": f"p{id}@example.com",
        "firstname": f"F{id}",
        "lastname": "",
        "phone": "",
        "company": "",
        "lifecyclestage": "",
        "properties": {},
        "associations": [],
        "hubspot_id": "",
        "version": 1,
        "needs_reconcile": False,
        "sync_attempts": 0,
        "reconcile_emails": "",
    }
    values.update(fields)
    return db.ClaimedRow(**values)


def create_input(*rows: db.ClaimedRow, email: str | None = None) -> Input:
    first = rows[0]
    mail = first.email.lower() if email is None else email
    props = {"email": first.email, "firstname": first.firstname} if first.email else {}
    if not first.email:
        props = {"firstname": first.firstname}
    trace = f"crmsync-{first.id}-v{first.version}-{TAG}"
    body = {"properties": props, "associations": [], "objectWriteTraceId": trace}
    return Input(trace, list(rows), body, mail)


def update_input(r: db.ClaimedRow) -> Input:
    trace = f"crmsync-{r.id}-v{r.version}-{TAG}"
    body = {"id": r.hubspot_id, "properties": {"email": r.email}, "objectWriteTraceId": trace}
    return Input(trace, [r], body)
