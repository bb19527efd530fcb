"""Stage 3, matching: which of HubSpot's answers belongs to which input.

Pure functions over plain data. HubSpot answers in any order, so never by position: by
``objectWriteTraceId`` when HubSpot echoes it, else by email (case-insensitive), else, for an
input without an email, by the properties we sent. An input that no result and no error
mentions is reported as such: for a create, HubSpot may or may not hold it now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import HubSpotError, existing_id
from ..mapping import error_category, error_message, error_trace_ids
from .plan import Input, candidates


@dataclass
class CreateAnswer:
    created: list[tuple[Input, dict[str, Any]]] = field(default_factory=list)
    #: a per-input 409: HubSpot already holds this contact, under this id
    existing: list[tuple[Input, str]] = field(default_factory=list)
    rejected: list[tuple[Input, str, str]] = field(default_factory=list)  # message, category
    unmentioned: list[Input] = field(default_factory=list)


@dataclass
class UpdateAnswer:
    updated: list[tuple[Input, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[Input, str, str]] = field(default_factory=list)  # message, category
    unmentioned: list[Input] = field(default_factory=list)


class _Open:
    """Inputs not matched yet, by trace id; every input by email (taking one that is no
    longer open, by either, takes nothing)."""

    def __init__(self, items: Sequence[Input]) -> None:
        self.by_trace = {i.trace_id: i for i in items}
        self.by_email = {i.email: i for i in items if i.email}

    def take_trace(self, trace: str) -> Input | None:
        return self._take(self.by_trace.get(trace))

    def take_result(self, result: Mapping[str, Any]) -> Input | None:
        item = self.by_trace.get(str(result.get("objectWriteTraceId", "")))
        if item is None:
            email = str((result.get("properties") or {}).get("email") or "").lower()
            item = self.by_email.get(email)
        return self._take(item)

    def take_by_properties(self, result: Mapping[str, Any]) -> Input | None:
        """The open input whose every property the result holds; a value sent as "" (an
        empty field: HubSpot stores nothing) matches a property the result lacks or has
        null."""
        props = result.get("properties") or {}
        for item in self.by_trace.values():
            if all((props.get(k) or "") == (v or "") for k, v in item.properties.items()):
                return self._take(item)
        return None

    def _take(self, item: Input | None) -> Input | None:
        if item is None or item.trace_id not in self.by_trace:
            return None
        del self.by_trace[item.trace_id]
        return item

    def rest(self) -> list[Input]:
        return list(self.by_trace.values())


def match_created(
    items: Sequence[Input],
    results: Iterable[Mapping[str, Any]],
    errors: Iterable[Mapping[str, Any]],
) -> CreateAnswer:
    answer = CreateAnswer()
    open_ = _Open(items)
    unmatched = []
    for result in results:
        item = open_.take_result(result)
        if item is None:
            unmatched.append(result)
        else:
            answer.created.append((item, dict(result)))
    _match_write_errors(open_, errors, answer)
    # Inputs without an email and no echoed trace id: match by the properties we sent.
    for result in unmatched:
        item = open_.take_by_properties(result)
        if item is not None:
            answer.created.append((item, dict(result)))
    answer.unmentioned = open_.rest()
    return answer


def _match_write_errors(
    open_: _Open, errors: Iterable[Mapping[str, Any]], answer: CreateAnswer
) -> None:
    """Per-input errors of a create or an upsert, by trace id: a 409 naming the contact that
    holds the email is ``existing``, anything else ``rejected``."""
    for error in errors:
        for trace in error_trace_ids(error):
            item = open_.take_trace(trace)
            if item is None:
                continue
            message = error_message(error)
            hubspot_id = existing_id(message)
            if hubspot_id:
                answer.existing.append((item, hubspot_id))
            else:
                answer.rejected.append((item, message, error_category(error)))


def match_upserted(
    items: Sequence[Input],
    results: Iterable[Mapping[str, Any]],
    errors: Iterable[Mapping[str, Any]],
    unique_property: str,
) -> CreateAnswer:
    """batch/upsert's answer (``created``: every input written, new or not). A result is
    matched by its echoed trace id, else by the key it holds in ``unique_property``, else by
    email, else by the properties sent."""
    answer = CreateAnswer()
    open_ = _Open(items)
    by_key = {str(i.body["id"]): i for i in items}
    for result in results:
        item = open_.take_trace(str(result.get("objectWriteTraceId", "")))
        if item is None:
            keyed = by_key.get(str((result.get("properties") or {}).get(unique_property) or ""))
            item = open_.take_trace(keyed.trace_id) if keyed is not None else None
        item = item or open_.take_result(result) or open_.take_by_properties(result)
        if item is not None:
            answer.created.append((item, dict(result)))
    _match_write_errors(open_, errors, answer)
    answer.unmentioned = open_.rest()
    return answer


def match_updated(
    items: Sequence[Input],
    results: Iterable[Mapping[str, Any]],
    errors: Iterable[Mapping[str, Any]],
) -> UpdateAnswer:
    """Updates name their record id; errors name ids (OBJECT_NOT_FOUND) or trace ids."""
    answer = UpdateAnswer()
    by_id = {str(i.body["id"]): i for i in items}
    open_ = _Open(items)
    for result in results:
        item = by_id.pop(str(result.get("id", "")), None)
        if item is not None and open_.take_trace(item.trace_id):
            answer.updated.append((item, dict(result)))
    for error in errors:
        context = error.get("context") or {}
        ids = context.get("ids") if isinstance(context, Mapping) else None
        named = [by_id.get(str(i)) for i in ids or []]
        named += [open_.by_trace.get(t) for t in error_trace_ids(error)]
        for candidate in named:
            item = open_.take_trace(candidate.trace_id) if candidate else None
            if item is not None:
                message = error_message(error)
                answer.rejected.append((item, message, error_category(error)))
    answer.unmentioned = open_.rest()
    return answer


def found_ids(results: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A batch/read by email: lower-cased email -> HubSpot id."""
    found = {}
    for result in results:
        email = str((result.get("properties") or {}).get("email") or "").lower()
        if email and result.get("id"):
            found[email] = str(result["id"])
    return found


def key_entry(key: str) -> str:
    """Where a lookup's ``found`` keeps a record found by a row's key (create mode with a
    unique property), beside the lower-cased emails (which always hold an "@")."""
    return f"key:{key}"


def existing_for(item: Input, found: Mapping[str, str], *, history: bool) -> str | None:
    """The HubSpot id a lookup found for this input: by its key (``key_entry``), by its
    email, else (``history``) by any email one of its rows was claimed with before."""
    key = item.primary.sync_key
    hubspot_id = found.get(key_entry(key)) if key else None
    hubspot_id = hubspot_id or (found.get(item.email) if item.email else None)
    if history:
        for row in item.rows:
            hubspot_id = hubspot_id or next((found[e] for e in candidates(row) if e in found), None)
    return hubspot_id


def quoted_in(item: Input, text: str) -> bool:
    """Does HubSpot's error text quote one of this input's property values (its email)?"""
    return any(len(v) >= 3 and v in text for v in item.properties.values())


#: The property of a surviving record listing the ids merged into it, ";"-separated.
MERGED_IDS = "hs_merged_object_ids"
NOT_FOUND = "OBJECT_NOT_FOUND"


@dataclass(frozen=True)
class Refound:
    """Where a contact HubSpot no longer knows by its id went: ``hubspot_id`` empty when
    nothing was found; ``same`` when the old id still reads (the update was only left out
    of an answer); ``note`` for the row's history."""

    hubspot_id: str = ""
    note: str = ""
    same: bool = False


def merged_ids(result: Mapping[str, Any]) -> list[str]:
    value = (result.get("properties") or {}).get(MERGED_IDS) or ""
    return [v.strip() for v in str(value).split(";") if v.strip()]


def refind(
    old_id: str,
    by_id: Iterable[Mapping[str, Any]],
    lookups: Sequence[tuple[str, str, Sequence[Mapping[str, Any]]]] = (),
) -> Refound:
    """Pure: what a lookup found of contact ``old_id``. ``by_id``: a batch/read of the old
    ids (a merged-away id may read as its survivor, whose id differs and which lists it in
    hs_merged_object_ids). ``lookups``: (property, the row's value, records found by that
    property), in order (a unique property, then email); a record matches when it holds
    that value (emails compared in lower case)."""
    gone = f"HubSpot contact {old_id}"
    for result in by_id:
        found = str(result.get("id") or "")
        if found == old_id:
            return Refound(old_id, f"{gone} still exists", same=True)
        if found and old_id in merged_ids(result):
            return Refound(found, f"{gone} was merged into {found}: relinked")
    for name, value, results in lookups:
        want = value.strip().lower() if name == "email" else value
        for result in results:
            held = str((result.get("properties") or {}).get(name) or "")
            found = str(result.get("id") or "")
            if not want or not found or (held.lower() if name == "email" else held) != want:
                continue
            if found == old_id:
                return Refound(old_id, f"{gone} still exists", same=True)
            if old_id in merged_ids(result):
                return Refound(found, f"{gone} was merged into {found}: relinked")
            by = "email" if name == "email" else name
            return Refound(
                found, f"{gone} is gone (deleted or merged); found again by {by}: {found}"
            )
    return Refound("", f"{gone} is gone (deleted or merged) and was not found again")


def isolate(items: list[Input], error: HubSpotError, send: Callable[[list[Input]], None]) -> None:
    """Send the inputs whose values HubSpot's message quotes on their own, and the rest
    together; with no such clue, split in halves. The good rows go through in this run
    and only the bad ones fail: about log2(batch) extra requests for one bad row."""
    text = error.message
    if isinstance(error.body, dict):
        text += json.dumps(error.body.get("errors") or [], ensure_ascii=False)
    suspects = [i for i in items if quoted_in(i, text)]
    if not suspects or len(suspects) == len(items):
        middle = len(items) // 2
        suspects, rest = items[:middle], items[middle:]
    else:
        rest = [i for i in items if i not in suspects]
    send(rest)
    send(suspects)
