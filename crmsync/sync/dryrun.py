"""A dry run: what the sync would send for some rows, without sending or changing anything.

The rows are read, never claimed (no UPDATE, no lease, no attempt), in groups of
``BATCH_SIZE`` as successive claims would take them, and planned by the sync's own planning
(``prepare.plan_claimed``), so the preview is what ``sync_batch`` would send for them now: the
requests (endpoint, inputs with their exact properties), the rows decided without a request
and why (unmappable, held, unchanged, preflight failures), and for updates each property that
changed since HubSpot last accepted the row (``Contact.synced_properties``), old and new.
``crmsync_plan`` prints it; the admin's "Preview" action shows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Now

from .. import db
from ..client import associations_path, objects_path, read_body, read_by_email_body
from ..conf import get_settings
from ..hubspot import MAX_BATCH_INPUTS
from ..models import Contact, SyncStatus
from .batch import create_key
from .plan import Input, Plan, candidates
from .prepare import plan_claimed

#: The claim tag of a dry run's trace ids (a real claim's is 12 hex digits).
TAG = "dryrun"
DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Change:
    name: str
    #: None: HubSpot's copy is unknown (never accepted, or an id settled by an operator)
    old: str | None
    new: str


@dataclass(frozen=True)
class PlannedInput:
    contact_ids: list[int]
    email: str
    hubspot_id: str
    body: dict[str, Any]
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedRequest:
    endpoint: str
    method: str
    path: str
    inputs: list[PlannedInput]


@dataclass(frozen=True)
class DecidedRow:
    contact_id: int
    email: str
    outcome: str
    category: str
    message: str


@dataclass
class DryRun:
    rows: int = 0
    requests: list[PlannedRequest] = field(default_factory=list)
    decided: list[DecidedRow] = field(default_factory=list)

    @property
    def would_send(self) -> bool:
        return any(r.inputs for r in self.requests)

    @property
    def inputs(self) -> int:
        return sum(len(r.inputs) for r in self.requests)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(would_send=self.would_send, inputs=self.inputs)
        return data


def due_rows(limit: int = DEFAULT_LIMIT) -> list[db.ClaimedRow]:
    """The rows a claim would take now, in its order (the database's clock), only read."""
    due = Contact.objects.filter(sync_status=SyncStatus.PENDING, next_attempt_at__lte=Now())
    return rows_of(due.order_by("next_attempt_at", "id"), limit)


def rows_of(queryset: QuerySet[Contact], limit: int = DEFAULT_LIMIT) -> list[db.ClaimedRow]:
    """The given contacts (any status but in flight, skipped or archived) as a claim would
    hand them to the planner: the claim's columns, its email added to ``reconcile_emails``."""
    live = queryset.exclude(
        sync_status__in=[SyncStatus.IN_FLIGHT, SyncStatus.SKIPPED, SyncStatus.ARCHIVED]
    )
    rows = []
    for values in live.values_list(*db.CLAIM_COLUMNS)[:limit]:
        row = db.ClaimedRow(*values)
        row.sync_key = str(row.sync_key) if row.sync_key else ""  # as db.claim gives it
        if row.email:  # what db.claim appends, so lookups plan as they would
            row.reconcile_emails += f"{row.email.lower()} "
        rows.append(row)
    return rows


def preview(rows: list[db.ClaimedRow]) -> DryRun:
    """Plan ``rows`` as successive claims of ``BATCH_SIZE`` would; send and change nothing."""
    conf = get_settings()
    size = max(int(conf.BATCH_SIZE), 1)
    paths = (objects_path(conf.API_VERSION), associations_path(conf.API_VERSION))
    result = DryRun(rows=len(rows))
    for start in range(0, len(rows), size):
        group = rows[start : start + size]
        _add(result, plan_claimed(group, TAG), {r.id: r for r in group}, paths)
    return result


def _add(
    result: DryRun, plan: Plan, rows: dict[int, db.ClaimedRow], paths: tuple[str, str]
) -> None:
    """The plan's requests in the sender's order: updates, a lookup by email, creates (in
    upsert mode upserts), archives, associations."""
    path, links_path = paths
    _requests(result, "update", f"{path}/batch/update", plan.updates)
    lookups = [r for i in plan.creates for r in i.rows if r.needs_reconcile]
    key = create_key(get_settings())
    if lookups and key and all(i.primary.sync_key for i in plan.creates):
        # Every create carries its key: the lookup is a read by the key alone (as
        # linking.Linker.look_up), of every create's key.
        keys = [i.primary.sync_key for i in plan.creates]
        ids = [r.id for i in plan.creates for r in i.rows]
        for start in range(0, len(keys), MAX_BATCH_INPUTS):
            chunk = keys[start : start + MAX_BATCH_INPUTS]
            item = PlannedInput(ids, ", ".join(chunk), "", read_body(chunk, key))
            result.requests.append(PlannedRequest("read", "POST", f"{path}/batch/read", [item]))
        lookups = []
    lookups += plan.archive_lookups
    if lookups:
        emails = sorted({e for r in lookups for e in candidates(r)})
        ids = [r.id for r in lookups]
        for start in range(0, len(emails), MAX_BATCH_INPUTS):  # as calls.read_by_email
            chunk = emails[start : start + MAX_BATCH_INPUTS]
            item = PlannedInput(ids, ", ".join(chunk), "", read_by_email_body(chunk))
            result.requests.append(PlannedRequest("read", "POST", f"{path}/batch/read", [item]))
    _requests(result, "create", f"{path}/batch/create", plan.creates)
    _requests(result, "upsert", f"{path}/batch/upsert", plan.upserts)
    _requests(result, "archive", f"{path}/batch/archive", plan.archives)
    links = [_links(i) for i in [*plan.updates, *plan.links_only, *plan.upserts] if i.links]
    if links:
        where = f"{links_path}/batch/archive + batch/create"
        result.requests.append(PlannedRequest("associations", "POST", where, links))
    for decision in plan.decided:
        row = rows.get(decision.write.id)
        result.decided.append(
            DecidedRow(
                decision.write.id,
                row.email if row else "",
                decision.outcome,
                decision.error_category,
                decision.error_message,
            )
        )


def _requests(result: DryRun, endpoint: str, path: str, inputs: list[Input]) -> None:
    if inputs:
        result.requests.append(PlannedRequest(endpoint, "POST", path, [_input(i) for i in inputs]))


def _input(item: Input) -> PlannedInput:
    row = item.primary
    changes: list[Change] = []
    if row.hubspot_id and "id" in item.body:
        synced = row.synced_properties
        changes = [
            Change(k, None if synced is None else synced.get(k, ""), v)
            for k, v in item.properties.items()
        ]
    ids = [r.id for r in item.rows]
    return PlannedInput(ids, row.email, row.hubspot_id, item.body, changes)


def _links(item: Input) -> PlannedInput:
    links = item.links
    body = {"archive": links.archive, "create": links.create} if links else {}
    row = item.primary
    return PlannedInput([row.id], row.email, row.hubspot_id, body)
