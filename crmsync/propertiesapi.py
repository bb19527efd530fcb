"""The property endpoints of ``crmsync.client.HubSpotClient`` (a base class of it): property
definitions and groups (create: a 409 means it exists, not a failure), and the portal's
property validation rules at the date-versioned path (none at ``v3``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .exceptions import ConflictError


class PropertiesApi:
    """The property definitions, groups and validation rules endpoints of the client."""

    api_version: str
    _send: Callable[..., tuple[dict[str, Any] | None, int, str]]

    def properties_path(self, object_type: str = "contacts") -> str:
        if self.api_version == "v3":
            return f"/crm/v3/properties/{object_type}"
        return f"/crm/properties/{self.api_version}/{object_type}"

    def get_properties(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Every contact property definition. A 429 here does not cool the shared limiter
        down: the sync's own requests will meet the limit themselves if it holds."""
        return self._read(self.properties_path(), timeout)

    def _read(self, path: str, timeout: float | None) -> list[dict[str, Any]]:
        answer, _, _ = self._send("GET", path, None, timeout=timeout, cool_down_on_429=False)
        results = (answer or {}).get("results", [])
        # Anything but a list is HubSpot's mistake: hand it on for the caller to report.
        return results if isinstance(results, list) else [results]

    def get_property_groups(self) -> list[dict[str, Any]]:
        return self._read(f"{self.properties_path()}/groups", None)

    def create_property_group(self, name: str, label: str, display_order: int = -1) -> bool:
        """True when created, False when a group of that name exists (HubSpot's 409)."""
        body = {"name": name, "label": label, "displayOrder": display_order}
        return self._create(f"{self.properties_path()}/groups", body)

    def create_property(self, definition: Mapping[str, Any]) -> bool:
        """``POST .../properties/contacts`` (name, label, type, fieldType, groupName,
        options, hasUniqueValue): True when created, False when it exists (409)."""
        return self._create(self.properties_path(), definition)

    def validation_rules_path(self, object_type_id: str = "0-1") -> str | None:
        """The property validations API exists at the date versions only."""
        if self.api_version == "v3":
            return None
        return f"/crm/property-validations/{self.api_version}/{object_type_id}"

    def get_validation_rules(
        self, object_type_id: str = "0-1", timeout: float | None = None
    ) -> list[dict[str, Any]] | None:
        """The portal's property validation rules (``results``: propertyName,
        propertyValidationRules); None at ``v3``, which has no such path."""
        path = self.validation_rules_path(object_type_id)
        return None if path is None else self._read(path, timeout)

    def _create(self, path: str, body: Mapping[str, Any]) -> bool:
        try:
            self._send(
                "POST", path, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            )
        except ConflictError:
            return False
        return True
