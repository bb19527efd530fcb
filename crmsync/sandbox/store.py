"""The sandbox's in-memory CRM: contacts, companies and contact property definitions.

One lock guards every change. Readers that only need a consistent snapshot of one record take
it too; validation, which needs only the property definitions, runs outside it (definitions
are replaced, never mutated, so a reader always sees a whole set).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .properties import (
    DEFAULT_GROUPS,
    PropertyDef,
    PropertyGroup,
    default_properties,
    normalize_email,
    property_from_api,
)

FIRST_CONTACT_ID = 100_001
#: Properties HubSpot returns when a read names none.
DEFAULT_READ_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
#: Properties HubSpot always returns on top of those asked for.
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")
#: HubSpot-defined contact -> company association types: unlabeled, and "Primary".
UNLABELED_TYPE_ID = 279
PRIMARY_TYPE_ID = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Contact:
    __slots__ = (
        "archived",
        "archived_at",
        "associations",
        "created_at",
        "id",
        "properties",
        "search_visible_at",
        "updated_at",
    )

    def __init__(self, contact_id: str, properties: dict[str, str], stamp: str) -> None:
        self.id = contact_id
        self.properties = properties
        self.created_at = stamp
        self.updated_at = stamp
        self.archived = False
        self.archived_at: str | None = None
        #: The one association store: company id -> HUBSPOT_DEFINED type ids, in the order the
        #: companies were first associated. Kept while the contact is archived (HubSpot
        #: restores them with the record) but not served for an archived contact.
        self.associations: dict[str, set[int]] = {}
        #: Monotonic time from which search sees this version of the record.
        self.search_visible_at = 0.0

    def to_api(
        self, names: Iterable[str] | None = None, *, omit_unset: bool = False
    ) -> dict[str, Any]:
        """HubSpot's shape; ``names`` limits the properties (missing ones are null, or left
        out with ``omit_unset``: the spec allows only strings as values)."""
        if names is None:
            properties: dict[str, Any] = dict(self.properties)
        elif omit_unset:
            stored = self.properties
            properties = {name: stored[name] for name in names if name in stored}
            for name in ALWAYS_RETURNED:
                if name in stored:
                    properties[name] = stored[name]
        else:
            stored = self.properties
            properties = {name: stored.get(name) for name in names}
            for name in ALWAYS_RETURNED:
                properties[name] = stored.get(name)
        out = {
            "id": self.id,
            "properties": properties,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.archived_at is not None:
            out["archivedAt"] = self.archived_at
        return out

    def to_record(self) -> dict[str, Any]:
        """Everything stored, for inspection (adds ``associations`` in the shape of a
        batch/create input's)."""
        record = self.to_api()
        record["associations"] = [
            {
                "to": {"id": company_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
                    for type_id in sorted(type_ids)
                ],
            }
            for company_id, type_ids in self.associations.items()
        ]
        return record

    def associate(self, company_id: str, type_ids: Iterable[int]) -> None:
        """Add association types to a company (callers hold the store's lock).

        Every labeled association comes with the unlabeled one, as in HubSpot, and a contact
        has at most one primary company: a new primary demotes the old one to unlabeled.
        """
        wanted = set(type_ids)
        wanted.add(UNLABELED_TYPE_ID)
        if PRIMARY_TYPE_ID in wanted:
            for other_id, other_types in self.associations.items():
                if other_id != company_id:
                    other_types.discard(PRIMARY_TYPE_ID)
        self.associations.setdefault(company_id, set()).update(wanted)

    def dissociate(self, company_id: str) -> bool:
        """Remove every association with a company; False when there was none."""
        return self.associations.pop(company_id, None) is not None


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.contacts: dict[str, Contact] = {}
        self.by_email: dict[str, str] = {}
        #: Secondary emails (hs_additional_emails): they conflict but search does not see them.
        self.by_secondary_email: dict[str, str] = {}
        #: Values of custom properties with ``hasUniqueValue``: name -> value -> contact id.
        self.by_unique: dict[str, dict[str, str]] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        self.properties: dict[str, PropertyDef] = {}
        self.groups: dict[str, PropertyGroup] = {}
        #: Merged-away contact id -> the id it was merged into (that one may be merged later).
        self.merged_into: dict[str, str] = {}
        self._next_id = FIRST_CONTACT_ID
        self._next_company_id = 9_101
        self._unique_names: tuple[str, ...] = ()

    def reset(
        self, custom_properties: Iterable[Mapping[str, Any]], companies: Iterable[tuple[str, str]]
    ) -> None:
        with self.lock:
            self.contacts = {}
            self.by_email = {}
            self.by_secondary_email = {}
            self.by_unique = {}
            self.companies = {}
            self.merged_into = {}
            self._next_id = FIRST_CONTACT_ID
            self._next_company_id = 9_101
            self.properties = {p.name: p for p in default_properties()}
            self._unique_names = ()
            self.groups = {name: PropertyGroup(name, label) for name, label in DEFAULT_GROUPS}
        for body in custom_properties:
            self.add_property(property_from_api(body), replace=True)
        for company_id, name in companies:
            self.add_company(company_id, name)

    # --- properties ---------------------------------------------------------------------

    def add_property(self, prop: PropertyDef, *, replace: bool = False) -> bool:
        """Add a definition; False when the name exists and ``replace`` is not set."""
        with self.lock:
            if prop.name in self.properties and not replace:
                return False
            updated = dict(self.properties)
            updated[prop.name] = prop
            self.properties = updated
            self._unique_names = tuple(
                p.name for p in updated.values() if p.unique and p.name != "email"
            )
            return True

    def add_group(self, group: PropertyGroup) -> bool:
        """Add a property group; False when one of that name exists."""
        with self.lock:
            if group.name in self.groups:
                return False
            self.groups = {**self.groups, group.name: group}
            return True

    # --- companies ----------------------------------------------------------------------

    def add_company(self, company_id: str | None, name: str) -> str:
        with self.lock:
            if company_id is None:
                while str(self._next_company_id) in self.companies:
                    self._next_company_id += 1
                company_id = str(self._next_company_id)
                self._next_company_id += 1
            stamp = now_iso()
            self.companies[company_id] = {
                "id": company_id,
                "properties": {
                    "name": name,
                    "hs_object_id": company_id,
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            return company_id

    # --- contacts (callers hold ``lock``) -----------------------------------------------

    def next_id(self) -> str:
        """The id ``allocate_id`` gives next."""
        return str(self._next_id)

    def allocate_id(self) -> str:
        contact_id = str(self._next_id)
        self._next_id += 1
        return contact_id

    def owner_of_email(self, email: str) -> str | None:
        """The id of the contact that has ``email`` as primary or secondary address."""
        return self.by_email.get(email) or self.by_secondary_email.get(email)

    def unique_names(self) -> tuple[str, ...]:
        """Custom properties whose values HubSpot keeps unique (``email`` has its own maps)."""
        return self._unique_names

    def owner_of_unique(self, name: str, value: str) -> str | None:
        return self.by_unique.get(name, {}).get(value)

    def _index_unique(self, contact: Contact, old: Mapping[str, str]) -> None:
        for name in self.unique_names():
            before, after = old.get(name), contact.properties.get(name)
            if before == after:
                continue
            values = self.by_unique.setdefault(name, {})
            if before and values.get(before) == contact.id:
                del values[before]
            if after:
                values[after] = contact.id

    def insert(self, contact_id: str, properties: dict[str, str], stamp: str) -> Contact:
        properties["hs_object_id"] = contact_id
        properties["createdate"] = stamp
        properties["lastmodifieddate"] = stamp
        contact = Contact(contact_id, properties, stamp)
        self.contacts[contact_id] = contact
        email = properties.get("email")
        if email:
            self.by_email[email] = contact_id
        secondaries = properties.get("hs_additional_emails")
        if secondaries:
            for secondary in _split_emails(secondaries):
                self.by_secondary_email[secondary] = contact_id
        if self._unique_names:
            self._index_unique(contact, {})
        return contact

    def apply_update(self, contact: Contact, changes: Mapping[str, str], stamp: str) -> None:
        old_email = contact.properties.get("email")
        props = contact.properties
        old = dict(props) if self._unique_names else None
        for name, value in changes.items():
            if value == "":
                props.pop(name, None)
            else:
                props[name] = value
        props["lastmodifieddate"] = stamp
        contact.updated_at = stamp
        new_email = props.get("email")
        if old_email != new_email:
            if old_email and self.by_email.get(old_email) == contact.id:
                del self.by_email[old_email]
            if new_email:
                self.by_email[new_email] = contact.id
        if old is not None:
            self._index_unique(contact, old)

    def archive(self, contact: Contact, stamp: str) -> None:
        contact.archived = True
        contact.archived_at = stamp
        contact.updated_at = stamp
        email = contact.properties.get("email")
        if email and self.by_email.get(email) == contact.id:
            del self.by_email[email]
        for secondary in _split_emails(contact.properties.get("hs_additional_emails", "")):
            if self.by_secondary_email.get(secondary) == contact.id:
                del self.by_secondary_email[secondary]
        # An archived record gives its unique values back (a new record may take them).
        for values in self.by_unique.values():
            for value in [v for v, owner in values.items() if owner == contact.id]:
                del values[value]

    def find(self, key: str, id_property: str | None) -> Contact | None:
        """An active contact by id, by email when ``id_property`` is "email", or by the value
        of a custom unique property named by ``id_property``."""
        if id_property == "email":
            contact_id = self.by_email.get(normalize_email(key))
            if contact_id is None:
                return None
        elif id_property and id_property != "hs_object_id":
            contact_id = self.owner_of_unique(id_property, key)
            if contact_id is None:
                return None
        else:
            contact_id = key
        contact = self.contacts.get(contact_id)
        if contact is None or contact.archived:
            return None
        return contact

    def survivor(self, key: str) -> Contact | None:
        """The active contact a merged-away id ended in (None: not merged, or archived)."""
        seen: set[str] = set()
        while key in self.merged_into and key not in seen:
            seen.add(key)
            key = self.merged_into[key]
        return self.find(key, None) if seen else None

    def merge(self, primary_id: str, merged_id: str, stamp: str) -> Contact:
        """Merge ``merged_id`` into ``primary_id``, as HubSpot does: the primary survives and
        lists the other's id (and the ids merged into it before) in hs_merged_object_ids, the
        other's email becomes one of its secondary emails, values it lacks are filled in,
        associations are united; the merged-away id is gone (not archived).
        KeyError for an unknown or archived id, ValueError for the same id twice."""
        if primary_id == merged_id:
            raise ValueError("cannot merge a contact into itself")
        primary, merged = self.find(primary_id, None), self.find(merged_id, None)
        if primary is None or merged is None:
            missing = primary_id if primary is None else merged_id
            raise KeyError(f"no active contact {missing}")
        props, other = primary.properties, merged.properties
        ids = _split(props.get("hs_merged_object_ids", ""))
        ids += [merged.id, *_split(other.get("hs_merged_object_ids", ""))]
        secondaries = _split(props.get("hs_additional_emails", ""))
        secondaries += _split(other.get("hs_additional_emails", ""))
        merged_email = other.get("email")
        if merged_email:
            secondaries.append(merged_email)
        self.archive(merged, stamp)  # frees its emails in the indexes
        del self.contacts[merged.id]
        for name, value in other.items():
            if name not in props and name not in _OWN_PROPERTIES:
                props[name] = value
        props["hs_merged_object_ids"] = ";".join(dict.fromkeys(ids))
        if secondaries:
            props["hs_additional_emails"] = ";".join(dict.fromkeys(secondaries))
            for email in secondaries:
                self.by_secondary_email[normalize_email(email)] = primary.id
        for company_id, type_ids in merged.associations.items():
            primary.associations.setdefault(company_id, set()).update(type_ids)
        props["lastmodifieddate"] = stamp
        primary.updated_at = stamp
        self.merged_into[merged.id] = primary.id
        for old, into in self.merged_into.items():
            if into == merged.id:
                self.merged_into[old] = primary.id
        return primary

    def mark_visible(self, contact: Contact, lag_ms: int) -> None:
        contact.search_visible_at = time.monotonic() + lag_ms / 1000.0 if lag_ms else 0.0


#: Properties a merge never copies from the merged-away contact.
_OWN_PROPERTIES = frozenset(
    ("email", "hs_object_id", "createdate", "lastmodifieddate", "hs_additional_emails")
)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def _split_emails(value: str) -> list[str]:
    return [normalize_email(e) for e in value.split(";") if e.strip()]
