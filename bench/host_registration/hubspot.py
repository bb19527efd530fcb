"""``tests.hostapp.Customer`` registered as a host project would: columns, a dotted path
through a ForeignKey, a callable, a date, and a create-only property. Found by crmsync's
``autodiscover_modules("hubspot")`` in every process that uses ``bench.host_settings``."""

from __future__ import annotations

from typing import Any

import crmsync
from tests.hostapp.models import Customer


def _plan(customer: Any) -> str:
    return str(customer.plan).upper()


PROPERTIES: dict[str, Any] = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "company": "company.name",
    "jobtitle": _plan,  # the property part 3 of the bench changes
    "date_of_birth": "signed_up",
    "lifecyclestage": lambda customer: "lead",
}

crmsync.register(Customer, properties=PROPERTIES, create_only=["lifecyclestage"])
