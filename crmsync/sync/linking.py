"""Stage 2b', linking rows to contacts HubSpot holds already: the lookup by email before
creates that may exist (a lost answer, a dead worker, a 409), the immediate lookup after a
lost create answer, and the follow-up update that sends a linked contact this row's values
(skipped when the lookup shows HubSpot holds them already).
"""

from __future__ import annotations

from typing import Any

from ..client import BatchResponse
from ..exceptions import HubSpotError, OutcomeUnknownError
from ..models import SyncAttempt
from . import calls, matching, outcomes
from .batch import Batch, Record
from .failures import request_failed
from .plan import Input, Links, candidates

Outcome = SyncAttempt.Outcome


class Linker:
    """What a Sender knows of the contacts its lookups found, and the follow-ups due."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        #: updates that send linked contacts this row's values
        self.followups: list[Input] = []
        #: a lost create answer was looked up at once in this batch (``lost_answer``)
        self.looked_up_lost = False
        #: what this batch's lookups found HubSpot holding: id -> properties
        self.held: dict[str, dict[str, Any]] = {}
        #: linked contacts that hold this row's values already: only associations are due
        self.links_only: list[Input] = []
        #: creates of rows whose HubSpot record is gone and was not found again (``refind``)
        self.recreates: list[Input] = []
        #: inputs replaced by a relink or a create again (their id is gone): no associations
        self.superseded: list[Input] = []

    # -- linking to what HubSpot already holds --------------------------------------------

    def reconcile(self, creates: list[Input]) -> list[Input]:
        """An earlier create of some of these may have happened (its answer was lost, or its
        worker died), possibly under an email the row had then. Look every email each row
        was ever sent with up at once; link what HubSpot holds; return the rest."""
        found, record, error = self.look_up(creates)
        if error is not None:
            request_failed(self.batch, creates, error, record)
            return []
        return self.link_found(creates, found, record, history=True)

    def lost_answer(self, items: list[Input], error: OutcomeUnknownError, record: Record) -> None:
        """A create's answer was lost (dropped after HubSpot wrote the records, a timeout):
        every row is decided unknown (looked up before its next try; held without an email),
        then, once a batch, looked up at once. Rows HubSpot holds are linked now (their
        values sent by a follow-up update if it does not hold them), instead of after a
        backoff and a claim of their own: the tail of a run under faults. The others keep the
        unknown path: the create may still be in progress at HubSpot, so they are not
        created again now."""
        request_failed(self.batch, items, error, record)
        findable = [item for item in items if item.email or self._key_of(item)]
        if self.looked_up_lost or not findable:
            return
        self.looked_up_lost = True
        found, read_record, read_error = self.look_up(findable)
        if read_error is None:
            self.link_found(findable, found, read_record, history=True)

    def _key_of(self, item: Input) -> str:
        """The key this input's create carried (create mode with a unique property), or ""."""
        return item.primary.sync_key if self.batch.create_key else ""

    def look_up(self, items: list[Input]) -> tuple[dict[str, str], Record, HubSpotError | None]:
        """``calls.read_by_email`` of every email the inputs' rows were sent with, and, in
        create mode with a unique property, a batch/read of their keys by it (consistent, as
        the read by email: a key not found was not created), asking for the properties they
        send, so a record that holds them already needs no update."""
        properties = sorted({name for item in items for name in item.properties})
        keys = [key for key in map(self._key_of, items) if key]
        emails = [email for email in _lookup_emails(items) if email]
        found: dict[str, str] = {}
        record: Record | None = None
        # Every create carried its key: the key finds what they made (an email HubSpot had
        # before is a 409 on the create, linked then), so no read by email is needed.
        if (emails and len(keys) < len(items)) or not keys:
            found, record, error = calls.read_by_email(self.batch, emails, properties, self.held)
            if error is not None:
                return found, record, error
        if keys:
            name = self.batch.create_key
            results, record, error = calls.read_contacts(self.batch, keys, name, properties)
            if error is not None:
                return found, record, error
            for result in results:
                value = str((result.get("properties") or {}).get(name) or "")
                if value and result.get("id"):
                    found[matching.key_entry(value)] = str(result["id"])
                    self.held[str(result["id"])] = dict(result.get("properties") or {})
        assert record is not None  # one of the two reads ran
        return found, record, None

    def link_found(
        self, items: list[Input], found: dict[str, str], record: Record, *, history: bool
    ) -> list[Input]:
        remaining = []
        for item in items:
            hubspot_id = matching.existing_for(item, found, history=history)
            if hubspot_id:
                self.link(item, hubspot_id, None, record)
            else:
                remaining.append(item)
        return remaining

    def link(
        self, item: Input, hubspot_id: str, response: BatchResponse | None, record: Record
    ) -> None:
        """Link the rows to the contact HubSpot holds, and queue an update with the primary
        row's values (a record found after a lost answer may hold an older version), unless
        the lookup that found it shows it holds them already (the record a lost create made:
        one request fewer, in the tail of a run under faults)."""
        status = response.status if response else ""
        holds = response is None and _holds(self.held.get(hubspot_id), item.properties)
        for n, row in enumerate(item.rows):
            self.batch.linked[row.id] = hubspot_id
            synced_after = item.synced_after if holds and n == 0 else None
            decision = outcomes.synced(row, hubspot_id, Outcome.LINKED, status, None, synced_after)
            self.batch.decide(row, decision, record)
        body = {
            "id": hubspot_id,
            "properties": item.properties,
            "objectWriteTraceId": item.trace_id,
        }
        # What HubSpot had is unknown: create every association this row has (idempotent).
        after = item.links.after if item.links else []
        links = Links([], after, after)
        followup = Input(item.trace_id, [item.primary], body, item.email, item.synced_after, links)
        if holds:
            if after:
                self.links_only.append(followup)
            return
        self.batch.awaiting_followup.add(item.primary.id)
        self.followups.append(followup)


def _holds(held: dict[str, Any] | None, properties: dict[str, Any]) -> bool:
    """Whether HubSpot's record (its properties, as a lookup read them) holds every value
    the update would send; an email compared as HubSpot keeps it, in lower case."""
    if held is None:
        return False
    for name, value in properties.items():
        theirs = "" if held.get(name) is None else str(held[name])
        ours = "" if value is None else str(value)
        if name == "email":
            theirs, ours = theirs.lower(), ours.lower()
        if theirs != ours:
            return False
    return True


def _lookup_emails(items: list[Input]) -> list[str]:
    """Every email each input's rows were ever sent with (an earlier create may have used
    one the row no longer has)."""
    return [e for item in items for e in [item.email, *_row_emails(item)]]


def _row_emails(item: Input) -> list[str]:
    return [e for row in item.rows for e in candidates(row)]
