"""Associations v4, contacts -> companies: batch create, associate default, archive, read, labels.

One store: the contact's own ``associations`` (see ``Contact``), which batch/create of contacts
also fills. HubSpot's behaviour as documented and reported: every labeled association comes
with the unlabeled one (279), a contact has one primary company (1) at most, and a batch/read
of a contact with no companies answers a per-input ``NO_ASSOCIATIONS_FOUND`` error in a 207.
"""

from __future__ import annotations

from typing import Any

from .config import SandboxConfig
from .contacts import Shuffle, batch_answer, batch_inputs
from .errors import OBJECT_NOT_FOUND, ApiError, InputError
from .stats import Stats
from .store import PRIMARY_TYPE_ID, UNLABELED_TYPE_ID, Contact, Store, now_iso

#: Inputs per request: 2,000 for writes (report), 1,000 for batch/read (doc, since 2025-02).
MAX_WRITE_INPUTS = 2000
MAX_READ_INPUTS = 1000
CONTACT_TYPE_ID = "0-1"
COMPANY_TYPE_ID = "0-2"
#: typeId -> label of the HUBSPOT_DEFINED contact -> company types.
LABELS: dict[int, str | None] = {UNLABELED_TYPE_ID: None, PRIMARY_TYPE_ID: "Primary"}
CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")
NO_ASSOCIATIONS_FOUND = "crm.associations.NO_ASSOCIATIONS_FOUND"

Json = dict[str, Any]


def _object_id(value: Any, where: str) -> str:
    """An id given as ``{"id": "123"}`` (a string or an integer)."""
    raw = value.get("id") if isinstance(value, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        raise ApiError(400, f"Invalid input JSON: {where} must be an object with an id.")
    return str(raw)


def _numeric(object_id: str) -> int | str:
    """HubSpot's v4 answers give object ids as integers."""
    return int(object_id) if object_id.isdigit() else object_id


def _type_ids(types: Any) -> list[int]:
    if not isinstance(types, list) or not types:
        raise ApiError(400, "Invalid input JSON: types must be a non-empty list.")
    out = []
    for kind in types:
        category = kind.get("associationCategory") if isinstance(kind, dict) else None
        type_id = kind.get("associationTypeId") if isinstance(kind, dict) else None
        if category not in CATEGORIES or isinstance(type_id, bool) or not isinstance(type_id, int):
            raise ApiError(
                400,
                "Invalid input JSON: each type needs an associationCategory "
                f"({', '.join(CATEGORIES)}) and an integer associationTypeId.",
            )
        if category != "HUBSPOT_DEFINED" or type_id not in LABELS:
            raise ApiError(
                400,
                f"Association type {category}/{type_id} is not valid from CONTACT to COMPANY: "
                f"use HUBSPOT_DEFINED {UNLABELED_TYPE_ID} (unlabeled) or {PRIMARY_TYPE_ID} "
                "(Primary)",
            )
        out.append(type_id)
    return out


def _not_found(kind: str, object_id: str, side: str) -> InputError:
    return InputError(
        404,
        OBJECT_NOT_FOUND,
        f"No {kind} with id {object_id} exists",
        context={side: [object_id]},
    )


class AssociationsApi:
    def __init__(self, store: Store, stats: Stats, shuffle: Shuffle) -> None:
        self.store = store
        self.stats = stats
        self.shuffle = shuffle

    def _answer(
        self,
        config: SandboxConfig,
        results: list[Json],
        errors: list[InputError],
        started: str,
        ok_status: int,
    ) -> tuple[int, Json]:
        failures = [e.per_input(None) for e in errors]
        return batch_answer(config, self.shuffle, results, failures, started, ok_status)

    def _pair(self, from_id: str, to_id: str) -> Contact | InputError:
        """The active contact, if it and the company exist (callers hold the lock)."""
        contact = self.store.find(from_id, None)
        if contact is None:
            return _not_found("CONTACT", from_id, "fromObjectId")
        if to_id not in self.store.companies:
            return _not_found("COMPANY", to_id, "toObjectId")
        return contact

    # --- writes ----------------------------------------------------------------------------

    def create(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload, MAX_WRITE_INPUTS)
        pairs = [
            (
                _object_id(item.get("from"), "from"),
                _object_id(item.get("to"), "to"),
                _type_ids(item.get("types")),
            )
            for item in inputs
        ]
        results: list[Json] = []
        errors: list[InputError] = []
        with self.store.lock:
            for from_id, to_id, type_ids in pairs:
                found = self._pair(from_id, to_id)
                if isinstance(found, InputError):
                    errors.append(found)
                    continue
                found.associate(to_id, type_ids)
                labels = sorted({label for t in type_ids if (label := LABELS[t]) is not None})
                results.append(
                    {
                        "fromObjectTypeId": CONTACT_TYPE_ID,
                        "fromObjectId": _numeric(from_id),
                        "toObjectTypeId": COMPANY_TYPE_ID,
                        "toObjectId": _numeric(to_id),
                        "labels": labels,
                    }
                )
        self.stats.records("associations_created", len(results))
        return self._answer(config, results, errors, started, 201)

    def associate_default(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload, MAX_WRITE_INPUTS)
        pairs = [
            (_object_id(item.get("from"), "from"), _object_id(item.get("to"), "to"))
            for item in inputs
        ]
        results: list[Json] = []
        errors: list[InputError] = []
        with self.store.lock:
            for from_id, to_id in pairs:
                found = self._pair(from_id, to_id)
                if isinstance(found, InputError):
                    errors.append(found)
                    continue
                found.associate(to_id, (UNLABELED_TYPE_ID,))
                results.append(
                    {
                        "from": {"id": from_id},
                        "to": {"id": to_id},
                        "associationSpec": {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": UNLABELED_TYPE_ID,
                        },
                    }
                )
        self.stats.records("associations_created", len(results))
        return self._answer(config, results, errors, started, 200)

    def archive(self, payload: Any, config: SandboxConfig) -> tuple[int, None]:
        inputs = batch_inputs(payload, MAX_WRITE_INPUTS)
        pairs: list[tuple[str, list[str]]] = []
        for item in inputs:
            targets = item.get("to")
            if not isinstance(targets, list):
                raise ApiError(400, "Invalid input JSON: to must be a list of {id} objects.")
            from_id = _object_id(item.get("from"), "from")
            pairs.append((from_id, [_object_id(t, "to[]") for t in targets]))
        removed = 0
        with self.store.lock:
            for from_id, to_ids in pairs:
                contact = self.store.find(from_id, None)
                if contact is None:
                    continue  # as HubSpot: unknown ids are no error
                removed += sum(contact.dissociate(to_id) for to_id in to_ids)
        self.stats.records("associations_archived", removed)
        return 204, None

    # --- reads -----------------------------------------------------------------------------

    def read(self, payload: Any, config: SandboxConfig) -> tuple[int, Json]:
        started = now_iso()
        inputs = batch_inputs(payload, MAX_READ_INPUTS)
        keys = []
        for item in inputs:
            key = item.get("id")
            if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
                raise ApiError(400, "Invalid input JSON: each input needs an id.")
            keys.append(str(key))
        results: list[Json] = []
        errors: list[InputError] = []
        seen: set[str] = set()
        with self.store.lock:
            for key in keys:
                if key in seen:
                    continue
                seen.add(key)
                contact = self.store.find(key, None)
                if contact is None or not contact.associations:
                    errors.append(
                        InputError(
                            404,
                            OBJECT_NOT_FOUND,
                            f"No company is associated with contact {key}.",
                            context={
                                "fromObjectId": [key],
                                "fromObjectType": ["contact"],
                                "toObjectType": ["company"],
                            },
                            sub_category=NO_ASSOCIATIONS_FOUND,
                        )
                    )
                    continue
                results.append(
                    {
                        "from": {"id": contact.id},
                        "to": [
                            {
                                "toObjectId": _numeric(company_id),
                                "associationTypes": [
                                    _spec(t) for t in sorted(type_ids, key=_label_order)
                                ],
                            }
                            for company_id, type_ids in contact.associations.items()
                        ],
                    }
                )
        return self._answer(config, results, errors, started, 200)

    def labels(self) -> tuple[int, Json]:
        return 200, {"results": [_spec(t) for t in sorted(LABELS, key=_label_order)]}


def _label_order(type_id: int) -> int:
    """Unlabeled first, then the labels, as HubSpot lists them."""
    return 0 if type_id == UNLABELED_TYPE_ID else type_id


def _spec(type_id: int) -> Json:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": LABELS[type_id]}
