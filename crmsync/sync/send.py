"""Stage 2b, sending a planned batch: updates, lookups, creates, and what to do when
HubSpot rejects a request as a whole.

Order: updates of known contacts (idempotent), then, when some creates may already exist,
one lookup by email, then the creates (in upsert mode the upserts, ``upsert``); contacts
that turn out to exist already are linked and sent this row's values by a follow-up update
(the local database is the truth; see ``linking``).
A whole-request rejection is isolated: inputs whose values HubSpot's message quotes are
sent on their own, else the batch is split in halves, so only the bad inputs fail.
"""

from __future__ import annotations

from collections.abc import Callable

from ..client import BatchResponse
from ..exceptions import (
    ConflictError,
    HubSpotError,
    OutcomeUnknownError,
    RejectedError,
    RetryLaterError,
)
from ..mapping import error_message, is_portal_rule
from ..models import SyncAttempt, SyncBatch, SyncStatus
from . import archive, associations, calls, matching, outcomes, refind, upsert
from .batch import Batch, Record
from .failures import request_failed, unknown
from .linking import Linker
from .plan import Input, Plan

Outcome = SyncAttempt.Outcome
NOT_MENTIONED = "HubSpot's answer did not mention this contact"


class Sender(Linker):
    """Sends a planned batch: updates, the lookup, creates, follow-ups, associations."""

    def send(self, plan: Plan) -> None:
        for decision in plan.decided:
            self.batch.decide(self.batch.rows[decision.write.id], decision)
        creates = plan.creates
        if plan.reconcile and creates:
            creates = self.reconcile(creates)
        updates, self.followups = plan.updates + self.followups, []
        if updates:
            self.send_updates(updates)
        if creates:
            self.send_creates(creates)
        upsert.send_upserts(self, upsert.looked_up_first(self, plan))  # upsert mode
        followups = send_followups(self)
        done = [*updates, *followups, *plan.links_only, *self.links_only]
        superseded = {id(i) for i in self.superseded}
        self.batch.awaiting_associations += [i for i in done if id(i) not in superseded]
        associations.send_associations(self.batch, self.batch.awaiting_associations)
        archive.send_archives(self.batch, plan)

    # -- batch/update and batch/create ----------------------------------------------------

    def send_updates(self, items: list[Input]) -> None:
        """batch/update (idempotent), isolating whatever HubSpot rejects as a whole."""
        endpoint, send = SyncBatch.Endpoint.UPDATE, self.batch.client.batch_update
        record, response, error = calls.post(self.batch, endpoint, items, send)
        if isinstance(error, RejectedError):
            self.rejected(items, error, record, self.send_updates)
        elif isinstance(error, OutcomeUnknownError):
            # batch/update is idempotent: sending it again is safe.
            again = RetryLaterError(error.message, status=None, category="OUTCOME_UNKNOWN")
            request_failed(self.batch, items, again, record)
        elif error is not None:
            request_failed(self.batch, items, error, record)
        elif response is not None:
            answer = matching.match_updated(items, response.results, response.errors)
            for item, result in answer.updated:
                self.settle(item, str(result["id"]), Outcome.UPDATED, response, result, record)
            gone = list(answer.unmentioned)  # neither a result nor an error: merged away?
            for item, message, category in answer.rejected:
                if category == matching.NOT_FOUND:
                    gone.append(item)  # deleted or merged in HubSpot: look it up again
                    continue
                for row in item.rows:
                    self.batch.fail(row, message, category, record)
            if gone:
                refind.find_again(self, gone, record)

    def send_creates(self, items: list[Input]) -> None:
        """batch/create, isolating whatever HubSpot rejects as a whole."""
        endpoint, send = SyncBatch.Endpoint.CREATE, self.batch.client.batch_create
        record, response, error = calls.post(self.batch, endpoint, items, send)
        if isinstance(error, ConflictError):
            self.resolve_conflict(items, error, record)
        elif isinstance(error, RejectedError):
            self.rejected(items, error, record, self.send_creates)
        elif isinstance(error, OutcomeUnknownError):
            self.lost_answer(items, error, record)
        elif error is not None:
            request_failed(self.batch, items, error, record)
        elif response is not None:
            answer = matching.match_created(items, response.results, response.errors)
            for item, result in answer.created:
                self.settle(item, str(result["id"]), Outcome.CREATED, response, result, record)
            for item, hubspot_id in answer.existing:
                self.link(item, hubspot_id, response, record)
            for item, message, category in answer.rejected:
                self.fail_input(item, message, category, record)
            for item in answer.unmentioned:  # it may or may not exist now
                unknown(self.batch, item, NOT_MENTIONED, record)

    def settle(
        self,
        item: Input,
        hubspot_id: str,
        outcome: str,
        response: BatchResponse,
        result: dict[str, object],
        record: Record,
    ) -> None:
        """HubSpot holds the contact: the first row is the one sent, the others with the
        same email are linked to it."""
        for n, row in enumerate(item.rows):
            kind = outcome if n == 0 else Outcome.LINKED
            # A create carried its associations: HubSpot holds them now (none: the same as
            # not known, so nothing is written, which keeps the write-back lean).
            links = item.links.after if item.links and outcome == Outcome.CREATED else None
            links = links or None
            decision = outcomes.synced(
                row, hubspot_id, kind, response.status, result, item.synced_after, links
            )
            self.batch.decide(row, decision, record)

    # -- rejections -----------------------------------------------------------------------

    def rejected(
        self,
        items: list[Input],
        error: HubSpotError,
        record: Record,
        send: Callable[[list[Input]], None],
    ) -> None:
        """HubSpot refused the whole request: one input fails; several are isolated."""
        if len(items) == 1:
            self.fail_input(items[0], *_refusal(error), record)
        else:
            matching.isolate(items, error, send)

    def resolve_conflict(self, items: list[Input], error: ConflictError, record: Record) -> None:
        """A 409 for the whole batch names one existing contact, not which input it was.
        Look every email up once, link those HubSpot has, and create the rest."""
        emails = [i.email for i in items if i.email]
        remaining, read_record = items, record
        if emails:
            found, read_record, read_error = calls.read_by_email(self.batch, emails)
            if read_error is not None:
                request_failed(self.batch, items, read_error, read_record)
                return
            remaining = self.link_found(items, found, read_record, history=False)
        if len(remaining) < len(items):
            if remaining:
                self.send_creates(remaining)
        elif len(items) > 1:
            # Nothing found by email (a secondary email, say): isolate like any rejection.
            matching.isolate(items, error, self.send_creates)
        elif error.existing_id:
            self.link(items[0], error.existing_id, None, record)
        else:
            self.fail_input(items[0], error.message, error.category, record)

    def fail_input(self, item: Input, message: str, category: str, record: Record) -> None:
        self.batch.fail(item.primary, message, category, record)
        for row in item.rows[1:]:
            # A duplicate of a rejected row has data of its own: send it again by itself.
            again = "sent again: another row with this email was rejected"
            self.batch.retry(row, again, "", record, count=False, wait=0)


def _refusal(error: HubSpotError) -> tuple[str, str]:
    """(message, category) of a request refused as a whole; a portal rule's refusal says
    so (category PORTAL_RULE), with HubSpot's words."""
    answer = {**(error.body if isinstance(error.body, dict) else {}), "message": error.message}
    category = "PORTAL_RULE" if is_portal_rule(answer) else error.category
    return error_message(answer), category


def send_followups(sender: Sender) -> list[Input]:
    """The updates that send linked or relinked contacts the row's values, and the
    creates of rows whose record is gone; until none is left (each row is looked up
    again at most once, so this ends). Returns the updates sent."""
    sent: list[Input] = []
    while sender.followups or sender.recreates:
        recreates, sender.recreates = sender.recreates, []
        if recreates:
            sender.send_creates(recreates)
        followups, sender.followups = sender.followups, []
        if followups:
            sent += followups
            sender.send_updates(followups)
    return sent


def release_unsent(sender: Sender, *, reason: str) -> None:
    """The batch stops between two requests (a polite shutdown): rows whose work is not
    done go back to the queue, due now, keeping the HubSpot id they were linked to: a
    linked row whose follow-up update was not sent (HubSpot does not hold its values
    yet), an updated row whose associations were not sent. Rows not sent at all too."""
    batch = sender.batch
    for row_id in batch.awaiting_followup:
        decision = batch.decisions.get(row_id)
        if decision is not None and decision.outcome == Outcome.LINKED:
            # a row relinked after a merge keeps its old id: its next try finds it again
            linked = "" if row_id in batch.refound else decision.hubspot_id
            _put_back(batch, row_id, linked, reason)
    for item in batch.awaiting_associations:
        decision = batch.decisions.get(item.primary.id)
        due = item.links and (item.links.archive or item.links.create)
        write = decision.write if decision is not None else None
        # synced, but its associations not settled (synced_associations not recorded)
        unsettled = write and write.status == SyncStatus.SYNCED
        if due and unsettled and write and write.synced_associations is None:
            _put_back(batch, item.primary.id, write.hubspot_id, reason)
    batch.release_untouched(reason=reason)


def _put_back(batch: Batch, row_id: int, hubspot_id: str, reason: str) -> None:
    row = batch.rows[row_id]
    batch.decide(row, outcomes.untouched(row, reason=reason, linked_id=hubspot_id))
