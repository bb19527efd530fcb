"""The contacts endpoints: batch create/update/upsert/read/archive, get one, and search.

Each write runs in three steps: validate every input against the property definitions
(outside the store lock), then, under the lock, check emails and ids against the store and
the earlier inputs of the same batch, then write. Without a unique ``objectWriteTraceId`` on
every input, the first failed input fails the whole batch and nothing is written, which is what
HubSpot documents for v1 and integrations report for v3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .config import SandboxConfig
from .errors import OBJECT_NOT_FOUND, VALIDATION_ERROR, ApiError, InputError
from .properties import (
    FAST_EMAIL,
    FAST_OPTION,
    FAST_TEXT,
    MAX_STRING_LENGTH,
    PropertyDef,
    PropertyError,
    check_value,
    is_valid_email,
    normalize_email,
    unknown_property,
)
from .stats import Stats
from .store import DEFAULT_READ_PROPERTIES, Contact, Store, now_iso
from .upsert import upsert as upsert_batch
from .validations import Rule, broken_rules

MAX_BATCH_INPUTS = 100
CONTACT_TO_COMPANY_TYPE_IDS = frozenset((1, 279))
READ_NOT_FOUND_MESSAGE = (
    "Could not get some CONTACT objects, they may be deleted or not exist. "
    "Check that ids are valid."
)
SEARCH_MAX_LIMIT = 200

Shuffle = Callable[[list[Any]], None]
Json = dict[str, Any]


def batch_answer(
    config: SandboxConfig,
    shuffle: Shuffle,
    results: list[Json],
    errors: list[Json],
    started: str,
    ok_status: int,
) -> tuple[int, Json]:
    """A batch answer as HubSpot shapes it, for objects and associations alike: results in
    any order, a 207 with the per-input errors counted by numErrors."""
    if config.shuffle_results and len(results) > 1:
        shuffle(results)
    body: Json = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = started
    body["completedAt"] = now_iso()
    return (207 if errors else ok_status), body


def batch_inputs(payload: Any, limit: int = MAX_BATCH_INPUTS) -> list[Any]:
    """The ``inputs`` of a batch body, each an object, at most ``limit`` of them (else 400)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise ApiError(400, "Invalid input JSON: the body must be an object with a list of inputs.")
    inputs: list[Any] = payload["inputs"]
    if len(inputs) > limit:
        raise ApiError(
            400,
            f"The maximum number of inputs supported in a batch is {limit}. "
            f"{len(inputs)} inputs were provided.",
        )
    for item in inputs:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid input JSON: each input must be an object.")
    return inputs


def _trace_ids(inputs: list[Json], config: SandboxConfig) -> tuple[list[str | None], bool]:
    """Each input's trace id, and whether all are present, strings and unique (207 mode)."""
    traces = [item.get("objectWriteTraceId") for item in inputs]
    clean = [t if isinstance(t, str) and t else None for t in traces]
    unique = config.multi_status and all(clean) and len(set(clean)) == len(clean)
    return clean, unique


def _validate(
    defs: Mapping[str, PropertyDef], properties: Any, *, keep_empty: bool
) -> tuple[dict[str, str], list[PropertyError]]:
    if properties is None:
        return {}, []
    if not isinstance(properties, dict):
        return {}, [PropertyError("properties", "INVALID_TYPE", "properties must be an object")]
    clean: dict[str, str] = {}
    errors: list[PropertyError] = []
    for name, value in properties.items():
        prop = defs.get(name)
        if prop is None:
            errors.append(unknown_property(name))
            continue
        # Shortcuts for the common valid values; everything else takes the full check.
        fast = prop.fast
        if fast and value and type(value) is str:
            if fast == FAST_TEXT and len(value) <= MAX_STRING_LENGTH:
                clean[name] = value
                continue
            if fast == FAST_OPTION and value in prop.option_values:
                clean[name] = value
                continue
            if fast == FAST_EMAIL and is_valid_email(value):
                clean[name] = value.lower()
                continue
        stored, error = check_value(prop, value)
        if error is not None:
            errors.append(error)
        elif stored or keep_empty:
            clean[name] = stored or ""
    return clean, errors


def validate_properties(
    defs: Mapping[str, PropertyDef], properties: Any
) -> tuple[dict[str, str], list[PropertyError]]:
    """An update's or upsert's properties, checked ("" kept: it clears a value)."""
    return _validate(defs, properties, keep_empty=True)


def unique_conflict(
    store: Store,
    wanted: Mapping[str, str],
    contact_id: str | None,
    taken: dict[Any, str],
    new_id: str = "",
) -> InputError | None:
    """Does writing ``wanted`` to ``contact_id`` (None: a new record) take an email or a unique
    value that another record, or an earlier input of this batch, holds? Records what it
    takes in ``taken`` when it does not conflict."""
    current = store.contacts[contact_id].properties if contact_id is not None else {}
    claims: list[tuple[str, str]] = []
    email = wanted.get("email")
    if email and email != current.get("email"):
        owner = store.owner_of_email(email) or taken.get(("email", email))
        if owner and owner != contact_id:
            if owner.startswith("input:"):
                return InputError.conflict_in_batch("email", email)
            return InputError.conflict(owner)
        claims.append(("email", email))
    for name in store.unique_names():
        value = wanted.get(name)
        if not value or value == current.get(name):
            continue
        owner = store.owner_of_unique(name, value) or taken.get((name, value))
        if owner and owner != contact_id:
            if owner.startswith("input:"):
                return InputError.conflict_in_batch(name, value)
            return InputError.unique_taken(name, value, owner)
        claims.append((name, value))
    me = contact_id or new_id or f"input:{len(taken)}"
    for claim in claims:
        taken[claim] = me
    return None


def _duplicate_ids(keys: list[str]) -> None:
    seen: set[str] = set()
    dupes = []
    for key in keys:
        if key in seen:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise ApiError(
            400, f"Duplicate IDs found in batch input: {sorted(set(dupes))}. IDs must be unique"
        )


class ContactsApi:
    def __init__(self, store: Store, stats: Stats, shuffle: Shuffle) -> None:
        self.store = store
        self.stats = stats
        self.shuffle = shuffle

    # --- shared --------------------------------------------------------------------------

    def _associations(self, raw: Any) -> tuple[list[Json], InputError | None]:
        if raw is None:
            return [], None
        if not isinstance(raw, list):
            return [], InputError(400, VALIDATION_ERROR, "associations must be a list")
        out = []
        companies = self.store.companies
        for assoc in raw:
            to = assoc.get("to") if isinstance(assoc, dict) else None
            to_id = to.get("id") if isinstance(to, dict) else None
            types = assoc.get("types") if isinstance(assoc, dict) else None
            if to_id is None or not isinstance(types, list) or not types:
                return [], InputError(
                    400, VALIDATION_ERROR, "Each association needs to.id and a list of types"
                )
            to_id = str(to_id)
            for kind in types:
                category = kind.get("associationCategory") if isinstance(kind, dict) else None
                type_id = kind.get("associationTypeId") if isinstance(kind, dict) else None
                if category != "HUBSPOT_DEFINED" or type_id not in CONTACT_TO_COMPANY_TYPE_IDS:
                    return [], InputError(
                        400,
                        VALIDATION_ERROR,
                        f"Association type {category}/{type_id} is not valid from CONTACT to "
                        "COMPANY: use HUBSPOT_DEFINED 279 (unlabeled) or 1 (primary)",
                        context={"toObjectId": [to_id]},
                    )
            if to_id not in companies:
                return [], InputError(
                    400,
                    VALIDATION_ERROR,
                    f"Association target COMPANY with id {to_id} does not exist",
                    context={"toObjectId": [to_id]},
                )
            out.append({"to": {"id": to_id}, "types": types})
        return out, None

    def _answer(
        self,
        config: SandboxConfig,
        results: list[Json],
        errors: list[Json],
        started: str,
        ok_status: int,
    ) -> tuple[int, Json]:
        return batch_answer(config, self.shuffle, results, errors, started, ok_status)

    @staticmethod
    def _settle(
        outcomes: list[Any], traces: list[str | None], multi: bool, config: SandboxConfig
    ) -> list[Json]:
        """Raise for a batch that fails as a whole, else return the per-input errors."""
        failed = [
            (o, t) for o, t in zip(outcomes, traces, strict=True) if isinstance(o, InputError)
        ]
        if not failed:
            return []
        if config.conflict_mode == "batch":
            for error, _ in failed:
                if error.status == 409:
                    raise error.whole()
        if not multi:
            for error, _ in failed:
                if not error.partial_always:
                    raise error.whole()
        return [error.per_input(trace) for error, trace in failed]

    def _result(self, contact: Contact, trace: str | None, config: SandboxConfig) -> Json:
        result = contact.to_api()
        if config.echo_trace_ids and trace is not None:
            result["objectWriteTraceId"] = trace
        return result

    # --- batch/create ----------------------------------------------------------------------

    def create(
        self, payload: Any, config: SandboxConfig, rules: tuple[Rule, ...] = ()
    ) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload)
        traces, multi = _trace_ids(inputs, config)
        defs = self.store.properties
        prepared: list[Any] = []
        for item in inputs:
            clean, errors = _validate(defs, item.get("properties"), keep_empty=False)
            if errors:
                prepared.append(InputError.invalid_properties(errors))
                continue
            broken = broken_rules(rules, clean, creating=True) if rules else []
            if broken:
                prepared.append(InputError.broken_rules(broken))
                continue
            raw_associations = item.get("associations")
            if raw_associations is None:
                prepared.append((clean, None))
                continue
            associations, assoc_error = self._associations(raw_associations)
            prepared.append(assoc_error or (clean, associations))
        if not multi:
            for p in prepared:
                if isinstance(p, InputError):
                    raise p.whole()
        store = self.store
        results: list[Json] = []
        with store.lock:
            outcomes: list[Any] = []
            taken: dict[Any, str] = {}
            for p in prepared:
                if isinstance(p, InputError):
                    outcomes.append(p)
                    continue
                conflict = unique_conflict(store, p[0], None, taken, store.next_id())
                if conflict is not None:
                    outcomes.append(conflict)
                    continue
                outcomes.append((store.allocate_id(), p[0], p[1]))
            failures = self._settle(outcomes, traces, multi, config)
            stamp = now_iso()
            echo, lag, insert = config.echo_trace_ids, config.search_lag_ms, store.insert
            for outcome, trace in zip(outcomes, traces, strict=True):
                if outcome.__class__ is InputError:
                    continue
                contact_id, properties, associations = outcome
                contact = insert(contact_id, properties, stamp)
                for association in associations or ():
                    contact.associate(
                        association["to"]["id"],
                        (t["associationTypeId"] for t in association["types"]),
                    )
                if lag:
                    store.mark_visible(contact, lag)
                result = contact.to_api()
                if echo and trace is not None:
                    result["objectWriteTraceId"] = trace
                results.append(result)
        self.stats.records("created", len(results))
        return self._answer(config, results, failures, started, 201)

    # --- batch/update ----------------------------------------------------------------------

    def update(
        self, payload: Any, config: SandboxConfig, rules: tuple[Rule, ...] = ()
    ) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload)
        traces, multi = _trace_ids(inputs, config)
        default_id_property = payload.get("idProperty")
        keys: list[tuple[str, str | None]] = []
        for item in inputs:
            key = item.get("id")
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise ApiError(400, "Invalid input JSON: each input needs an id.")
            id_property = item.get("idProperty", default_id_property)
            if id_property not in (None, "hs_object_id", "email"):
                raise ApiError(
                    400, f"idProperty {id_property} is not a unique property of contacts."
                )
            keys.append((str(key), id_property))
        _duplicate_ids([normalize_email(k) if p == "email" else k for k, p in keys])
        defs = self.store.properties
        prepared: list[Any] = []
        for item in inputs:
            clean, errors = _validate(defs, item.get("properties"), keep_empty=True)
            prepared.append(InputError.invalid_properties(errors) if errors else clean)
        if not multi:
            for p in prepared:
                if isinstance(p, InputError):
                    raise p.whole()
        store = self.store
        results: list[Json] = []
        with store.lock:
            outcomes: list[Any] = []
            taken: dict[Any, str] = {}
            for p, (key, id_property) in zip(prepared, keys, strict=True):
                if isinstance(p, InputError):
                    outcomes.append(p)
                    continue
                contact = store.find(key, id_property)
                if contact is None:
                    omit = id_property != "email" and config.merged_update == "omit"
                    if omit and key in store.merged_into:
                        outcomes.append(None)  # left out of the answer, no error
                        continue
                    outcomes.append(
                        InputError(
                            404,
                            OBJECT_NOT_FOUND,
                            READ_NOT_FOUND_MESSAGE,
                            context={"ids": [key]},
                            partial_always=True,
                        )
                    )
                    continue
                broken = broken_rules(rules, p, creating=False, stored=contact.properties)
                if broken:
                    outcomes.append(InputError.broken_rules(broken))
                    continue
                conflict = unique_conflict(store, p, contact.id, taken)
                if conflict is not None:
                    outcomes.append(conflict)
                    continue
                outcomes.append((contact, p))
            failures = self._settle(outcomes, traces, multi, config)
            stamp = now_iso()
            for outcome, trace in zip(outcomes, traces, strict=True):
                if outcome is None or isinstance(outcome, InputError):
                    continue
                contact, changes = outcome
                store.apply_update(contact, changes, stamp)
                store.mark_visible(contact, config.search_lag_ms)
                results.append(self._result(contact, trace, config))
        self.stats.records("updated", len(results))
        return self._answer(config, results, failures, started, 200)

    # --- batch/upsert ----------------------------------------------------------------------

    def upsert(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        return upsert_batch(self, payload, config)

    # --- batch/read, batch/archive, get ----------------------------------------------------

    def read(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload)
        id_property = payload.get("idProperty")
        unique = ("hs_object_id", "email", *self.store.unique_names())
        if id_property is not None and id_property not in unique:
            raise ApiError(400, f"idProperty {id_property} is not a unique property of contacts.")
        names = payload.get("properties")
        if names is None:
            names = []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ApiError(400, "properties must be a list of property names.")
        names = names or list(DEFAULT_READ_PROPERTIES)
        # Required by the spec (clients send []); the sandbox keeps no history, so a property
        # asked for gets its current value as its only version.
        history = payload.get("propertiesWithHistory")
        if history is None:
            history = []
        if not isinstance(history, list) or not all(isinstance(n, str) for n in history):
            raise ApiError(400, "propertiesWithHistory must be a list of property names.")
        results: list[Json] = []
        missing: list[str] = []
        seen: set[str] = set()
        with self.store.lock:
            for item in inputs:
                key = item.get("id")
                if not isinstance(key, str | int) or isinstance(key, bool):
                    raise ApiError(400, "Invalid input JSON: each input needs an id.")
                key = str(key)
                contact = self.store.find(key, id_property)
                by_id = id_property in (None, "hs_object_id")
                if contact is None and by_id and config.merged_read == "survivor":
                    contact = self.store.survivor(key)
                if contact is None:
                    missing.append(key)
                elif contact.id not in seen:
                    seen.add(contact.id)
                    result = contact.to_api(names, omit_unset=True)
                    if history:
                        result["propertiesWithHistory"] = _history(contact, history)
                    results.append(result)
        errors: list[Json] = []
        if missing:
            not_found = InputError(
                404, OBJECT_NOT_FOUND, READ_NOT_FOUND_MESSAGE, context={"ids": missing}
            )
            errors.append(not_found.per_input(None))
        return self._answer(config, results, errors, started, 200)

    def archive(self, payload: Any, config: SandboxConfig) -> tuple[int, Json | None]:
        inputs = batch_inputs(payload)
        archived = 0
        with self.store.lock:
            stamp = now_iso()
            for item in inputs:
                contact = self.store.find(str(item.get("id")), None)
                if contact is not None:
                    self.store.archive(contact, stamp)
                    archived += 1
        self.stats.records("archived", archived)
        return 204, None

    def get(
        self, key: str, query: Mapping[str, list[str]], config: SandboxConfig
    ) -> tuple[int, Json]:
        names: list[str] | None = None
        if "properties" in query:
            names = [n for value in query["properties"] for n in value.split(",") if n]
        id_property = query["idProperty"][0] if query.get("idProperty") else None
        want_archived = (query.get("archived") or ["false"])[0] == "true"
        with self.store.lock:
            if want_archived:
                found = self.store.contacts.get(key)
                contact = found if found is not None and found.archived else None
            else:
                contact = self.store.find(key, id_property)
                by_id = id_property in (None, "hs_object_id")
                if contact is None and by_id and config.merged_read == "survivor":
                    contact = self.store.survivor(key)
            if contact is None:
                raise ApiError(404, "resource not found", OBJECT_NOT_FOUND)
            return 200, contact.to_api(names or DEFAULT_READ_PROPERTIES)

    def list_page(self, query: Mapping[str, list[str]]) -> tuple[int, Json]:
        """GET /crm/v3/objects/contacts?limit=N: the first page (no paging cursor kept)."""
        try:
            limit = int((query.get("limit") or ["10"])[0])
        except ValueError:
            raise ApiError(400, "limit must be a number") from None
        if not 1 <= limit <= 100:
            raise ApiError(400, "limit must be between 1 and 100")
        with self.store.lock:
            live = [c for c in self.store.contacts.values() if not c.archived][:limit]
            return 200, {"results": [c.to_api(DEFAULT_READ_PROPERTIES) for c in live]}

    def merge(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        """POST .../contacts/merge {primaryObjectId, objectIdToMerge}: the primary survives."""
        if not isinstance(payload, dict):
            raise ApiError(400, "Invalid input JSON: the body must be an object.")
        primary, other = payload.get("primaryObjectId"), payload.get("objectIdToMerge")
        if not isinstance(primary, str | int) or not isinstance(other, str | int):
            raise ApiError(400, "primaryObjectId and objectIdToMerge are required.")
        with self.store.lock:
            try:
                contact = self.store.merge(str(primary), str(other), now_iso())
            except KeyError as exc:
                message = f"resource not found: {exc.args[0]}"
                raise ApiError(404, message, OBJECT_NOT_FOUND) from None
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
            self.store.mark_visible(contact, config.search_lag_ms)
            answer = contact.to_api()
        self.stats.records("merged", 1)
        return 200, answer

    # --- search ----------------------------------------------------------------------------

    def search(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        if not isinstance(payload, dict):
            raise ApiError(400, "Invalid input JSON: the body must be an object.")
        groups = payload.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            raise ApiError(400, "filterGroups must be a list of at most 5 groups.")
        matchers = [_group_matcher(group) for group in groups]
        limit = payload.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= SEARCH_MAX_LIMIT:
            raise ApiError(400, f"limit must be between 1 and {SEARCH_MAX_LIMIT}.")
        try:
            offset = int(payload.get("after") or 0)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "after must be a paging cursor from a previous answer.") from exc
        names = payload.get("properties") or DEFAULT_READ_PROPERTIES
        now = time.monotonic()
        with self.store.lock:
            found = [
                c
                for c in self.store.contacts.values()
                if not c.archived
                and c.search_visible_at <= now
                and (not matchers or any(m(c.properties) for m in matchers))
            ]
            found.sort(key=lambda c: int(c.id))
            page = [c.to_api(names) for c in found[offset : offset + limit]]
        body: Json = {"total": len(found), "results": page}
        if offset + limit < len(found):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return 200, body


def _history(contact: Contact, names: list[str]) -> dict[str, list[Json]]:
    stored = contact.properties
    return {
        name: [{"value": stored[name], "timestamp": contact.updated_at, "sourceType": "API"}]
        for name in names
        if name in stored
    }


def _group_matcher(group: Any) -> Callable[[Mapping[str, str]], bool]:
    filters = group.get("filters") if isinstance(group, dict) else None
    if not isinstance(filters, list) or not filters:
        raise ApiError(400, "Each filter group needs a list of filters.")
    tests = [_filter_test(f) for f in filters]
    return lambda props: all(test(props) for test in tests)


def _filter_test(spec: Any) -> Callable[[Mapping[str, str]], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise ApiError(400, "Each filter needs a propertyName and an operator.")
    name: str = spec["propertyName"]
    operator = spec.get("operator")
    # HubSpot's search compares text case-insensitively.
    if operator in ("EQ", "NEQ"):
        target = str(spec.get("value", "")).lower()
        if operator == "EQ":
            return lambda props: props.get(name, "").lower() == target
        return lambda props: props.get(name, "").lower() != target
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list):
            raise ApiError(400, f"Operator {operator} needs a list of values.")
        targets = {str(v).lower() for v in values}
        if operator == "IN":
            return lambda props: props.get(name, "").lower() in targets
        return lambda props: props.get(name, "").lower() not in targets
    if operator == "HAS_PROPERTY":
        return lambda props: bool(props.get(name))
    if operator == "NOT_HAS_PROPERTY":
        return lambda props: not props.get(name)
    raise ApiError(400, f"Operator {operator} is not supported by the sandbox's search.")
