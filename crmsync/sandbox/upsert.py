"""batch/upsert, by ``email`` or by a custom property with ``hasUniqueValue``, as HubSpot does it.

- ``idProperty`` must be ``email`` or a property that exists and is unique, else the whole
  request is a 400 (HubSpot: "Unable to perform update/upsert by non-unique ... property").
- Each result carries ``new``: true when the input created the record.
- "Partial upserts are not supported when using ``email`` as the ``idProperty`` for contacts"
  (HubSpot's doc): by email, the first failed input fails the whole batch, trace ids or not.
  By a custom unique property, a batch whose inputs all carry a unique ``objectWriteTraceId``
  answers 207 with per-input errors.
- A conflict (an email another contact holds, a unique value another record holds) is a
  per-input 409, or fails the whole batch with ``conflict_mode="batch"`` (Airbyte's report).
- Upsert inputs take no ``associations`` (the schema has none): a 400 here, so a client that
  sends them is caught.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SandboxConfig
from .errors import ApiError, InputError
from .properties import PropertyError, is_valid_email, normalize_email
from .store import now_iso

if TYPE_CHECKING:
    from .contacts import ContactsApi

Json = dict[str, Any]


def id_property_of(api: ContactsApi, inputs: list[Json], default: Any) -> str:
    """The one ``idProperty`` of the batch (every input the same), checked."""
    names = {item.get("idProperty", default) for item in inputs} or {default}
    if len(names) != 1:
        raise ApiError(400, "Every input of a batch/upsert must use the same idProperty.")
    (name,) = names
    if name == "email":
        return name
    prop = api.store.properties.get(name) if isinstance(name, str) else None
    if prop is None:
        raise ApiError(400, f"Property {name!r} does not exist for object type CONTACT.")
    if not prop.unique:
        raise ApiError(
            400, f"Unable to perform update/upsert by non-unique property {name} for CONTACT."
        )
    return name


def _key(item: Json, id_property: str) -> str:
    key = item.get("id")
    if not isinstance(key, str) or not key.strip():
        raise ApiError(400, "Invalid input JSON: each input needs an id.")
    if "associations" in item:
        raise ApiError(
            400,
            "Invalid input JSON: batch/upsert inputs take no associations "
            "(associate with the v4 associations API).",
        )
    return normalize_email(key) if id_property == "email" else key


def _prepare(api: ContactsApi, item: Json, key: str, id_property: str) -> Any:
    from .contacts import validate_properties

    clean, errors = validate_properties(api.store.properties, item.get("properties"))
    if id_property == "email":
        raw = str(item["id"])
        if not is_valid_email(raw.strip()):
            errors.insert(
                0, PropertyError("email", "INVALID_EMAIL", f"Email address {raw} is invalid")
            )
        elif clean.get("email", key) != key:
            errors.append(
                PropertyError(
                    "email",
                    "INVALID_EMAIL",
                    f"properties.email {clean['email']} differs from the upsert id {raw}",
                )
            )
    elif clean.get(id_property, key) != key:
        errors.append(
            PropertyError(
                id_property,
                "INVALID_UNIQUE_VALUE",
                f"properties.{id_property} {clean[id_property]} differs from the upsert id {key}",
            )
        )
    return InputError.invalid_properties(errors) if errors else clean


def upsert(api: ContactsApi, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
    from .contacts import _duplicate_ids, _trace_ids, batch_inputs, unique_conflict

    started = now_iso()
    inputs = batch_inputs(payload)
    id_property = id_property_of(api, inputs, payload.get("idProperty"))
    traces, multi = _trace_ids(inputs, config)
    if id_property == "email":
        multi = False  # HubSpot: no partial upserts by email
    keys = [_key(item, id_property) for item in inputs]
    _duplicate_ids(keys)
    prepared = [
        _prepare(api, item, key, id_property) for item, key in zip(inputs, keys, strict=True)
    ]
    if not multi:
        for p in prepared:
            if isinstance(p, InputError):
                raise p.whole()
    store = api.store
    results: list[Json] = []
    created = updated = 0
    with store.lock:
        outcomes: list[Any] = []
        taken: dict[tuple[str, str], str] = {}  # claimed by earlier inputs of this batch
        for p, key in zip(prepared, keys, strict=True):
            if isinstance(p, InputError):
                outcomes.append(p)
                continue
            if id_property == "email":
                contact_id = store.by_email.get(key)
                if contact_id is None and key in store.by_secondary_email:
                    outcomes.append(InputError.conflict(store.by_secondary_email[key]))
                    continue
            else:
                contact_id = store.owner_of_unique(id_property, key)
            wanted = {**p, id_property: key}
            conflict = unique_conflict(store, wanted, contact_id, taken)
            if conflict is not None:
                outcomes.append(conflict)
                continue
            outcomes.append((contact_id, wanted))
        failures = api._settle(outcomes, traces, multi, config)
        stamp = now_iso()
        for outcome, trace in zip(outcomes, traces, strict=True):
            if isinstance(outcome, InputError):
                continue
            contact_id, changes = outcome
            if contact_id is None:
                properties = {k: v for k, v in changes.items() if v}
                contact = store.insert(store.allocate_id(), properties, stamp)
                created += 1
            else:
                contact = store.contacts[contact_id]
                store.apply_update(contact, changes, stamp)
                updated += 1
            store.mark_visible(contact, config.search_lag_ms)
            result = api._result(contact, trace, config)
            result["new"] = contact_id is None
            results.append(result)
    api.stats.records("created", created)
    api.stats.records("updated", updated)
    return api._answer(config, results, failures, started, 200)
