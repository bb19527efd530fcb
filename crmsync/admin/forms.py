"""The contact's admin form: it refuses at the form what the sync would refuse for sure.

The checks are the sync's own (``mapping.property_problems`` is what ``build_properties``
raises, ``build_associations`` is what the plan calls), so the form and the sync never
disagree; only the email rule is HubSpot's, which the sync leaves to HubSpot to apply.
Every problem is a form error: nothing here raises, and nothing reaches the database that
PostgreSQL would refuse (a U+0000 anywhere in the JSON).
"""

from __future__ import annotations

from typing import Any

from django import forms

from .. import mapping
from ..models import PROPERTY_COLUMNS, SYNCED_FIELDS, Contact

EMPTY = "A contact needs an email, a name or at least one property: HubSpot would hold nothing."


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = SYNCED_FIELDS

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "")
        problem = mapping.email_problem(email)
        if problem:
            raise forms.ValidationError(f"{problem}: HubSpot would refuse it.")
        return email.strip()

    def clean_properties(self) -> Any:
        value = self.cleaned_data.get("properties")
        return {} if value is None else _no_nul(value, "properties")

    def clean_associations(self) -> Any:
        value = self.cleaned_data.get("associations")
        value = [] if value is None else _no_nul(value, "associations")
        try:
            mapping.build_associations(value)
        except mapping.MappingError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self) -> dict[str, Any] | None:
        data = super().clean()
        if "properties" in self.errors or not self.fields:
            return data  # a mirror's data is read-only here: its host row is checked
        fields = {name: self._value(name) for name in PROPERTY_COLUMNS}
        extra = self._value("properties")
        problems = mapping.property_problems(fields, extra)
        for where, message in problems:
            self._add(where, message)
        if not self.errors and not _has_content(fields, extra):
            self.add_error(None, EMPTY)
        return data

    def _value(self, name: str) -> Any:
        """What the row will hold: the form's value, else (a read-only field) the row's."""
        if name in self.fields:
            return self.cleaned_data.get(name, "")
        return getattr(self.instance, name)

    def _add(self, where: str, message: str) -> None:
        field = where if where in self.fields and where not in self.errors else None
        self.add_error(field, message)


def _no_nul(value: Any, where: str) -> Any:
    path = mapping.nul_path(value, where)
    if path:
        raise forms.ValidationError(
            f"{path} contains a NUL character (U+0000): neither HubSpot nor PostgreSQL "
            "can store one."
        )
    return value


def _has_content(fields: dict[str, Any], extra: Any) -> bool:
    names = ("email", "firstname", "lastname", "phone", "company")
    return any(str(fields.get(n) or "").strip() for n in names) or any(
        v not in (None, "") for v in (extra or {}).values()
    )
