"""Settling a held contact: the operator links it to the HubSpot record its lost create
made, found by looking it up in HubSpot or known from elsewhere.

Linking sets ``hubspot_id`` and queues the row as pending with ``synced_properties`` unknown
(None), rather than marking it synced: nobody knows what HubSpot holds of that record (the
lost create may predate an edit, or the record was changed in HubSpot since), so the next
update sends every property and HubSpot ends up with the row's current data, at the cost of
one update. It also checks the id at once: an id HubSpot does not know fails that update
with OBJECT_NOT_FOUND, shown on the row, instead of leaving a wrong link marked synced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models.functions import Now

from .. import runtime
from ..client import search_contacts
from ..conf import validated_settings
from ..exceptions import ConfigurationError, HubSpotError
from ..mapping import MappingError, build_properties
from ..models import PROPERTY_COLUMNS, Contact, SyncAttempt, SyncBatch, SyncStatus
from ..ratelimit.errors import RateLimiterError
from .rows import write_note

#: HubSpot record ids are decimal digits (as strings).
_ID_RE = re.compile(r"[1-9][0-9]{0,19}")
#: The lookup is one call made while an operator waits: never longer than this.
LOOKUP_TIMEOUT_SECONDS = 5.0
#: HubSpot's search takes at most 6 filters per group; the most telling properties first.
_SEARCH_ORDER = ("email", "phone", "firstname", "lastname", "company")
_MAX_FILTERS = 6
_CANDIDATES = 10


@dataclass(frozen=True)
class Candidate:
    """A HubSpot contact the lookup found: its id and the properties compared."""

    id: str
    properties: dict[str, str]


@dataclass(frozen=True)
class LookupResult:
    candidates: list[Candidate] = field(default_factory=list)
    #: Why the lookup could not be done ("" when it was).
    error: str = ""
    #: The properties searched by.
    searched: dict[str, str] = field(default_factory=dict)


def settle_with_id(contact_id: int, hubspot_id: str, username: str) -> tuple[bool, str]:
    """Link held contact ``contact_id`` to HubSpot record ``hubspot_id`` (see the module's
    docstring); (done, message for the operator)."""
    hubspot_id = (hubspot_id or "").strip()
    if not _ID_RE.fullmatch(hubspot_id):
        return False, "A HubSpot id is a number such as 512 (digits only)."
    changed = Contact.objects.filter(pk=contact_id, sync_status=SyncStatus.HELD).update(
        hubspot_id=hubspot_id,
        synced_properties=None,
        synced_associations=None,
        needs_reconcile=False,
        reconcile_emails="",
        sync_status=SyncStatus.PENDING,
        next_attempt_at=Now(),
        sync_attempts=0,
        sync_error="",
        sync_error_category="",
        updated_at=Now(),
    )
    if not changed:
        return False, "This contact is no longer held: nothing was changed."
    contact = Contact.objects.get(pk=contact_id)
    write_note(contact, f"settled by an operator: linked to HubSpot id {hubspot_id}", username)
    return True, (f"Linked to HubSpot id {hubspot_id}; the next sync sends every property to it.")


def sent_properties(contact: Contact) -> dict[str, str]:
    """What crmsync sent HubSpot for this row's last create (from its history), else what
    it would send now."""
    attempt = (
        SyncAttempt.objects.filter(contact=contact, batch__endpoint=SyncBatch.Endpoint.CREATE)
        .exclude(trace_id="")
        .select_related("batch")
        .order_by("-id")
        .first()
    )
    if attempt is not None and attempt.batch is not None:
        try:
            inputs = json.loads(attempt.batch.request_body).get("inputs") or []
        except (ValueError, AttributeError):
            inputs = []
        for item in inputs:
            if isinstance(item, dict) and item.get("objectWriteTraceId") == attempt.trace_id:
                properties = item.get("properties")
                if isinstance(properties, dict):
                    return {str(k): str(v) for k, v in properties.items()}
    try:
        fields = {name: getattr(contact, name) for name in PROPERTY_COLUMNS}
        return build_properties(fields, contact.properties)
    except MappingError:
        return {}


def look_up_in_hubspot(properties: dict[str, str]) -> LookupResult:
    """Search HubSpot for contacts whose values equal the ones sent: one bounded call
    (shared rate limiter, LOOKUP_TIMEOUT_SECONDS); every failure becomes ``error``."""
    searched = _search_by(properties)
    if not searched:
        return LookupResult(error="Nothing was sent to search by: enter the id if you know it.")
    filters = [{"propertyName": k, "operator": "EQ", "value": v} for k, v in searched.items()]
    try:
        conf = validated_settings()
        results = search_contacts(
            runtime.get_client(conf),
            [{"filters": filters}],
            list(searched),
            limit=_CANDIDATES,
            timeout=min(LOOKUP_TIMEOUT_SECONDS, conf.HTTP_TIMEOUT_SECONDS),
        )
    except ConfigurationError as exc:
        return LookupResult(error=f"crmsync is not configured to reach HubSpot: {exc}")
    except RateLimiterError as exc:
        return LookupResult(error=f"The rate limiter lets no request through now ({exc}).")
    except HubSpotError as exc:
        return LookupResult(error=f"HubSpot's search failed: {exc}. Try again in a moment.")
    return LookupResult(candidates=_candidates(results), searched=searched)


def _search_by(properties: dict[str, str]) -> dict[str, str]:
    # The identifying properties only: lifecyclestage or a custom property may have been
    # changed in HubSpot since, and an EQ on it would miss the record.
    named = [k for k in _SEARCH_ORDER if properties.get(k)]
    others = sorted(k for k, v in properties.items() if v and k not in _SEARCH_ORDER)
    return {k: properties[k] for k in (named or others)[:_MAX_FILTERS]}


def _candidates(results: list[dict[str, Any]]) -> list[Candidate]:
    found = []
    for item in results:
        ident = str(item.get("id", ""))
        if _ID_RE.fullmatch(ident):
            props = item.get("properties") or {}
            found.append(Candidate(ident, {str(k): str(v) for k, v in props.items()}))
    return found
