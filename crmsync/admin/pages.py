"""What the contact and batch pages show beyond their fields: a contact's state in one
sentence, its record in HubSpot, and history a page at a time.

History is read a page at a time (LIMIT/OFFSET on the ``(contact, -id)`` index, or on the
batch's foreign key), one row more than shown to know whether an older page exists: a
contact with 5,000 attempts costs the same page as one with 20, and no COUNT is run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

from ..conf import CrmSyncSettings
from ..models import Contact, SyncAttempt, SyncStatus

PER_PAGE = 20
ATTEMPT_COLUMNS = (
    "id",
    "created_at",
    "batch_id",
    "contact_id",
    "email",
    "outcome",
    "hubspot_id",
    "error_category",
    "error_message",
    "upsert_new",
)


@dataclass
class HistoryPage:
    rows: list[SyncAttempt]
    number: int
    has_next: bool
    parameter: str

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number(request: HttpRequest, parameter: str) -> int:
    """The page asked for; anything that is not a page number is the first page."""
    text = request.GET.get(parameter, "1")
    return max(1, min(int(text), 100_000)) if text.isascii() and text.isdigit() else 1


def history_page(queryset: QuerySet[SyncAttempt], number: int, parameter: str) -> HistoryPage:
    start = (number - 1) * PER_PAGE
    rows = list(queryset.order_by("-id").only(*ATTEMPT_COLUMNS)[start : start + PER_PAGE + 1])
    return HistoryPage(rows[:PER_PAGE], number, len(rows) > PER_PAGE, parameter)


def hubspot_record(contact: Contact, conf: CrmSyncSettings) -> SafeString | str:
    """The HubSpot id, linked to its record in HubSpot's app when the portal id is known."""
    if not contact.hubspot_id:
        return "-"
    if not conf.PORTAL_ID:
        return format_html(
            "{} <span class='help'>(set CRMSYNC[\"PORTAL_ID\"] to link to the record in "
            "HubSpot)</span>",
            contact.hubspot_id,
        )
    url = (
        f"{conf.HUBSPOT_APP_URL.rstrip('/')}/contacts/{conf.PORTAL_ID}/record/0-1/"
        f"{contact.hubspot_id}"
    )
    return format_html(
        '<a href="{}" target="_blank" rel="noopener">HubSpot contact {}</a>',
        url,
        contact.hubspot_id,
    )


def state_sentence(contact: Contact, conf: CrmSyncSettings, now: dt.datetime | None = None) -> str:
    """Where the contact is and why, in one sentence an operator can act on."""
    now = now or timezone.now()
    status = contact.sync_status
    error = contact.sync_error.strip()
    why = f"{error} [{contact.sync_error_category}]" if contact.sync_error_category else error
    if status == SyncStatus.FAILED:
        reason = why or "no reason recorded"
        return f"Failed: {reason}. Fix what it names and save, or queue it again."
    if status == SyncStatus.HELD:
        return (
            f"Held: {why or 'the outcome of a create is unknown'}. Check HubSpot for this "
            "contact and settle it: give its HubSpot id, or release it to be created again."
        )
    if status == SyncStatus.IN_FLIGHT:
        return _in_flight(contact, now)
    if status == SyncStatus.SYNCED:
        ago = timesince(contact.synced_at, now) if contact.synced_at else "a while"
        return f"Synced {ago} ago as HubSpot contact {contact.hubspot_id or '?'}."
    if status == SyncStatus.ARCHIVED:
        return "Archived in HubSpot: nothing more is sent for it."
    return _pending(contact, conf, now, why)


def _pending(contact: Contact, conf: CrmSyncSettings, now: dt.datetime, why: str) -> str:
    what = "to be archived" if contact.action == "archive" else ""
    attempt = f"attempt {contact.sync_attempts + 1} of {conf.MAX_ATTEMPTS}"
    if contact.next_attempt_at and contact.next_attempt_at > now:
        when = f"next attempt in {timeuntil(contact.next_attempt_at, now)}"
    else:
        when = "due now, a worker will send it"
    text = f"Pending{' ' + what if what else ''}: {when} ({attempt})"
    if contact.needs_reconcile:
        text += "; HubSpot is searched by email first, as an earlier create may have happened"
    return f"{text}. Last try: {why}." if why else f"{text}."


def _in_flight(contact: Contact, now: dt.datetime) -> str:
    lease = contact.lease_expires_at
    if lease is None:
        return "In flight: a worker is sending it."
    local = timezone.localtime(lease).strftime("%H:%M:%S")
    if lease < now:
        return (
            f"In flight, but its lease ran out at {local} ({timesince(lease, now)} ago): the "
            "worker died or hung, and the next run puts it back."
        )
    return f"In flight: a worker is sending it; lease until {local} (in {timeuntil(lease, now)})."


# -- a batch's outcomes -----------------------------------------------------------------------

Outcome = SyncAttempt.Outcome
_LABELS = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.LINKED: "linked to existing contacts",
    Outcome.UNCHANGED: "unchanged",
    Outcome.ARCHIVED: "archived",
    Outcome.RETRY: "to retry",
    Outcome.UNKNOWN: "outcome unknown",
    Outcome.HELD: "held",
}


def outcome_counts(batch_id: Any) -> dict[str, int]:
    """Outcomes of one request's contacts: one GROUP BY over its (at most 100) attempts."""
    rows = SyncAttempt.objects.filter(batch_id=batch_id).order_by().values("outcome")
    return {r["outcome"]: r["n"] for r in rows.annotate(n=Count("id"))}


def batch_summary(counts: dict[str, int], http_status: int | None, category: str) -> str:
    """ "96 created, 4 linked to existing contacts, 0 errors": a CONFLICT HubSpot answered for
    a contact it already held, and crmsync linked, is no error."""
    if not counts:
        if http_status is None:
            return "No answer from HubSpot; no contact was decided by this request."
        if http_status >= 400:
            return (
                f"HTTP {http_status} {category} for the whole request: its contacts were "
                "decided by the claim's other requests (or retried later)."
            ).replace("  ", " ")
        return "No contact was decided by this request."
    parts = [f"{counts[o]} {label}" for o, label in _LABELS.items() if counts.get(o)]
    failed = counts.get(Outcome.FAILED, 0)
    return ", ".join([*parts, f"{failed} error{'' if failed == 1 else 's'}"]) + "."


# -- list columns -----------------------------------------------------------------------------


def short_date(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """ "14:03" today, "Mar 02 14:03" this year, else "2024-03-02": a list column stays narrow."""
    if value is None:
        return "-"
    now = timezone.localtime(now or timezone.now())
    local = timezone.localtime(value)
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if local.year == now.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d")


def clipped(text: str, limit: int = 160) -> SafeString | str:
    """A long error wrapped and clipped to two lines; the whole of it in the tooltip."""
    if not text:
        return "-"
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return format_html('<span class="crmsync-clip" title="{}">{}</span>', text, short)
