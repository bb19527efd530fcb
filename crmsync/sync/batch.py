"""One claimed batch while it is worked on: its rows, the decisions taken so far, and the
history of the requests made for it. Stages add to it; the write-back applies it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import db
from ..client import HubSpotClient
from ..conf import CrmSyncSettings
from ..models import SyncBatch
from . import outcomes
from .plan import Input, trace_id


@dataclass
class RunSummary:
    """What one drain did, for the command's output, the task's log and the benchmark."""

    synced: int = 0
    failed: int = 0
    retrying: int = 0
    held: int = 0
    batches: int = 0
    requests: int = 0
    lost_lease: int = 0
    stopped_reason: str = ""
    #: the run stopped because crmsync is misconfigured (HubSpot has no such endpoint)
    config_error: str = ""
    #: the run stopped because HubSpot could not be reached (no connection was made)
    unreachable: str = ""

    def add(self, other: RunSummary) -> None:
        for name in ("synced", "failed", "retrying", "held", "batches", "requests", "lost_lease"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.stopped_reason = self.stopped_reason or other.stopped_reason
        self.config_error = self.config_error or other.config_error
        self.unreachable = self.unreachable or other.unreachable

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def create_key(conf: CrmSyncSettings) -> str:
    """The unique property creates carry the row's key in: ``UNIQUE_PROPERTY`` in create
    mode ("" otherwise; upsert mode sends the key as the upsert's id instead)."""
    return conf.UNIQUE_PROPERTY if conf.WRITE_MODE == "create" else ""


@dataclass
class Record:
    """One request (a history row to insert) and the attempts it decided."""

    batch: SyncBatch
    attempts: list[db.AttemptRow] = field(default_factory=list)


class Batch:
    """The state of one claimed batch: ``decide`` is the only way a row's fate is set."""

    def __init__(
        self,
        conf: CrmSyncSettings,
        client: HubSpotClient,
        token: uuid.UUID,
        rows: Sequence[db.ClaimedRow],
        lease_deadline: float,
    ) -> None:
        self.conf = conf
        self.client = client
        self.token = token
        self.token_tag = token.hex[:12]
        self.rows = {r.id: r for r in rows}
        #: when the lease ends, on this process's ``time.monotonic()`` clock: counted from
        #: before the claim, so never later than the database's deadline
        self.lease_deadline = lease_deadline
        self.policy = outcomes.RetryPolicy(
            conf.MAX_ATTEMPTS, conf.RETRY_BASE_SECONDS, conf.RETRY_MAX_SECONDS
        )
        self.decisions: dict[int, outcomes.Decision] = {}
        self.records: list[Record] = []
        #: attempts decided without a request (unmappable or held rows)
        self.loose_attempts: list[db.AttemptRow] = []
        #: rows linked to an existing HubSpot contact in this run
        self.linked: dict[int, str] = {}
        #: what a stop between two requests must put back (``send.release_unsent``): rows
        #: linked whose follow-up update is due, inputs whose associations are due
        self.awaiting_followup: set[int] = set()
        self.awaiting_associations: list[Input] = []
        #: rows whose HubSpot id was not found and which were looked up again in this batch
        #: (``refind``), with that id: a second miss fails them
        self.refound: dict[int, str] = {}
        self.summary = RunSummary(batches=1)

    @property
    def create_key(self) -> str:
        """Create mode with ``UNIQUE_PROPERTY`` set: creates carry each row's key in it, so a
        create whose answer was lost is looked up by the key (README, "Write modes")."""
        return create_key(self.conf)

    def decide(
        self, row: db.ClaimedRow, decision: outcomes.Decision, record: Record | None = None
    ) -> None:
        self.decisions[row.id] = decision
        if not decision.outcome:
            return
        attempt = db.AttemptRow(
            contact_id=row.id,
            email=row.email[:254],
            outcome=decision.outcome,
            hubspot_id=decision.hubspot_id,
            error_category=decision.error_category[:64],
            error_message=decision.error_message,
            trace_id=trace_id(row, self.token_tag),
            version=row.version,
            upsert_new=decision.upsert_new,
        )
        (record.attempts if record else self.loose_attempts).append(attempt)

    def record_associations(self, row: db.ClaimedRow, after: list[list[Any]]) -> None:
        """The row's (synced) decision also records what HubSpot now holds of its
        associations; no second history entry."""
        decision = self.decisions[row.id]
        write = dataclasses.replace(decision.write, synced_associations=after)
        self.decisions[row.id] = dataclasses.replace(decision, write=write)

    # The decisions stages take most, with this batch's policy and links filled in.

    def fail(self, row: db.ClaimedRow, message: str, category: str, record: Record) -> None:
        linked = self.linked.get(row.id, "")
        self.decide(row, outcomes.failed(row, message, category, linked), record)

    def retry(
        self,
        row: db.ClaimedRow,
        message: str,
        category: str,
        record: Record,
        *,
        count: bool = True,
        wait: float | None = None,
    ) -> None:
        decision = outcomes.retry(
            row,
            message,
            category,
            self.policy,
            count=count,
            wait=wait,
            linked_id=self.linked.get(row.id, ""),
        )
        self.decide(row, decision, record)

    def release_untouched(self, *, reason: str = "") -> None:
        """Rows not decided yet go back to pending, due now, attempts unchanged."""
        for row in self.rows.values():
            if row.id not in self.decisions:
                linked = self.linked.get(row.id, "")
                self.decide(row, outcomes.untouched(row, reason=reason, linked_id=linked))
