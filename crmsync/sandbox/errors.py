"""HubSpot's error bodies, whole-request and per-input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .properties import PropertyError, validation_message

VALIDATION_ERROR = "VALIDATION_ERROR"
CONFLICT = "CONFLICT"
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"


class ApiError(Exception):
    """Fails the whole request with ``status`` and HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = VALIDATION_ERROR,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def body(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        }
        body.update(self.extra)
        return body


class InputError:
    """Why one input of a batch failed; becomes a per-input 207 error or fails the batch."""

    __slots__ = (
        "category",
        "context",
        "details",
        "message",
        "partial_always",
        "status",
        "sub_category",
    )

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        context: dict[str, list[str]] | None = None,
        details: Sequence[dict[str, Any]] = (),
        partial_always: bool = False,
        sub_category: str | None = None,
    ) -> None:
        self.status = status
        self.category = category
        self.message = message
        self.context = context or {}
        self.details = list(details)
        #: Reported per input even without trace ids (an unknown id in batch/update).
        self.partial_always = partial_always
        self.sub_category = sub_category

    @classmethod
    def invalid_properties(cls, errors: Sequence[PropertyError]) -> InputError:
        return cls(
            400,
            VALIDATION_ERROR,
            validation_message(errors),
            context={"propertyName": [e.name for e in errors]},
            details=[e.error_detail() for e in errors],
        )

    @classmethod
    def broken_rules(cls, errors: Sequence[PropertyError]) -> InputError:
        """The portal's own validation rules refused the input (API version 2026-09)."""
        error = cls.invalid_properties(errors)
        error.sub_category = "PROPERTY_VALIDATION_RULE"
        return error

    @classmethod
    def conflict(cls, existing_id: str) -> InputError:
        return cls(409, CONFLICT, f"Contact already exists. Existing ID: {existing_id}")

    @classmethod
    def unique_taken(cls, name: str, value: str, owner_id: str) -> InputError:
        # HubSpot's words for a unique value another record holds are not documented; the
        # 409 and the existing record's id are what a client can act on.
        return cls(
            409,
            CONFLICT,
            f"A CONTACT with {name} {value!r} already exists. Existing ID: {owner_id}",
            context={"propertyName": [name]},
        )

    @classmethod
    def conflict_in_batch(cls, name: str, value: str) -> InputError:
        return cls(
            409,
            CONFLICT,
            f"Two inputs of this batch set {name} to {value!r}: it must be unique",
            context={"propertyName": [name]},
        )

    def per_input(self, trace_id: str | None) -> dict[str, Any]:
        """One entry of a 207's ``errors``: a StandardError with every field the spec requires
        (``links`` and ``errors`` included, empty when there is nothing to say)."""
        context = dict(self.context)
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        out: dict[str, Any] = {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "links": {},
            "errors": list(self.details),
        }
        if self.sub_category is not None:
            out["subCategory"] = self.sub_category
        return out

    def whole(self) -> ApiError:
        extra: dict[str, Any] = {}
        if self.sub_category is not None:
            extra["subCategory"] = self.sub_category
        if self.details:
            extra["errors"] = self.details
        return ApiError(self.status, self.message, self.category, **extra)
