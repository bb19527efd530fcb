"""What history keeps of a request body: personal data masked or forgotten. Pure functions
over JSON, tested from tables; the text sent to HubSpot is never touched.

- :func:`history_text` is what ``sync/calls.call`` stores as ``SyncBatch.request_body``: the
  body, with the values of the properties named in ``CRMSYNC["HISTORY_MASKED_PROPERTIES"]``
  replaced by :data:`MASK`.
- :func:`forget_inputs` rewrites a stored body when a contact is deleted (or a data subject
  asks to be forgotten): each input that was the contact's is replaced by a note.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

#: What a masked value reads as in history.
MASK = "[masked]"
#: What an input of a forgotten contact reads as in history.
FORGOTTEN = "personal data removed from history (contact deleted or forgotten)"


def history_text(body: Mapping[str, Any], encoded: bytes, masked: Collection[str]) -> str:
    """The text history keeps of a request: ``encoded`` (the bytes sent) when nothing in it
    is masked, else the body re-encoded with the masked values replaced."""
    if not masked:
        return encoded.decode()
    copy, changed = _masked(body, masked)
    if not changed:
        return encoded.decode()
    return _encode(copy)


def _masked(body: Mapping[str, Any], masked: Collection[str]) -> tuple[dict[str, Any], bool]:
    changed = False
    # batch/read looks contacts up by a property (email): its inputs' ids are its values.
    ids_masked = body.get("idProperty") in masked
    inputs = []
    for item in body.get("inputs") or []:
        if not isinstance(item, Mapping):
            inputs.append(item)
            continue
        item = dict(item)
        properties = item.get("properties")
        if isinstance(properties, Mapping) and any(n in masked for n in properties):
            item["properties"] = {
                name: (MASK if name in masked and value not in ("", None) else value)
                for name, value in properties.items()
            }
            changed = True
        if ids_masked and "id" in item:
            item["id"] = MASK
            changed = True
        inputs.append(item)
    return {**body, "inputs": inputs}, changed


def forget_inputs(text: str, trace_ids: Collection[str], emails: Collection[str]) -> str | None:
    """``text`` (a stored request body) with every input that carries one of ``trace_ids``,
    or is one of ``emails`` (as its email property, or as the id batch/read looked up),
    replaced by a note; None when no input matched (or the text is not a JSON body)."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        return None
    wanted = {e.strip().lower() for e in emails if e.strip()}
    by_email = body.get("idProperty") == "email"
    changed = False
    inputs = []
    for item in body["inputs"]:
        if isinstance(item, dict) and _is_theirs(item, trace_ids, wanted, by_email):
            note: dict[str, Any] = {"forgotten": FORGOTTEN}
            if item.get("objectWriteTraceId"):
                note["objectWriteTraceId"] = item["objectWriteTraceId"]
            inputs.append(note)
            changed = True
        else:
            inputs.append(item)
    if not changed:
        return None
    body["inputs"] = inputs
    return _encode(body)


def _is_theirs(
    item: dict[str, Any], trace_ids: Collection[str], emails: set[str], by_email: bool
) -> bool:
    if item.get("objectWriteTraceId") in trace_ids:
        return True
    properties = item.get("properties")
    email = properties.get("email") if isinstance(properties, dict) else None
    if by_email:
        email = item.get("id")
    return isinstance(email, str) and email.strip().lower() in emails


def _encode(body: Mapping[str, Any]) -> str:
    # As crmsync.client.encode writes it (compact, UTF-8 as is).
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
