"""Do the properties crmsync sends exist in HubSpot? (``client.get_properties()``.)"""

from __future__ import annotations

from ..exceptions import HubSpotError
from ..propertymap import mapped_names
from ..unique_property import inspect
from .base import FAIL, OK, Check, Context


def check_mapped_properties(ctx: Context) -> Check:
    name = "properties"
    if not ctx.hubspot_ok:
        return Check(name, FAIL, "not checked: HubSpot did not accept the token", "See above.")
    try:
        definitions = ctx.client.get_properties()
    except HubSpotError as exc:
        return Check(
            name,
            FAIL,
            f"cannot read HubSpot's contact properties: {exc.message}",
            "The token needs crm.schemas.contacts.read (or crm.objects.contacts.read).",
        )
    known = {d.get("name") for d in definitions if isinstance(d, dict)}
    wanted = mapped_names()
    missing = [p for p in wanted if p not in known]
    if missing:
        return Check(
            name,
            FAIL,
            f"{len(missing)} mapped propert{'y' if len(missing) == 1 else 'ies'} missing in "
            f"HubSpot: {', '.join(missing)}",
            "Create them in HubSpot (manage.py crmsync_properties --create) or fix the "
            "mapping (crmsync.register(properties=...)).",
        )
    return Check(name, OK, f"all {len(wanted)} mapped properties exist in HubSpot")


def check_unique_property(ctx: Context) -> Check:
    """``UNIQUE_PROPERTY``, when set, must exist in HubSpot and hold unique values: upsert
    mode writes by it, and create mode puts each row's key in it (README, "Write modes")."""
    name = "key property"
    key = ctx.conf.UNIQUE_PROPERTY
    mode = ctx.conf.WRITE_MODE
    if not key:
        return Check(name, OK, f"none set ({mode} mode without a key)")
    if not ctx.hubspot_ok:
        return Check(name, FAIL, "not checked: HubSpot did not accept the token", "See above.")
    fix = f"manage.py crmsync_unique_property {key} --create"
    try:
        found = inspect(ctx.client, key)
    except HubSpotError as exc:
        return Check(name, FAIL, f"cannot read HubSpot's contact properties: {exc.message}")
    if not found.exists:
        return Check(name, FAIL, f"{key} does not exist in HubSpot: every {mode} would fail", fix)
    if not found.unique:
        return Check(
            name,
            FAIL,
            f"{key} exists in HubSpot but does not hold unique values",
            f"Use another name for UNIQUE_PROPERTY, or {fix} under a new name.",
        )
    return Check(name, OK, f"{key} is a unique property in HubSpot ({mode} mode)")
