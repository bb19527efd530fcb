"""Planning a claimed batch with everything the plan needs from outside: the write mode,
the host models' create-only properties and HubSpot's property schema (for the preflight).
``sync_batch`` sends what this plans; ``crmsync_plan`` and the admin's preview show it
(``dryrun``), so both always agree."""

from __future__ import annotations

from .. import db, schema
from ..client import HubSpotClient
from ..conf import CrmSyncSettings, get_settings
from ..registry import create_only_for
from ..runtime import get_client
from .batch import create_key
from .plan import Plan, plan_batch

#: A row naming a property the cached schema lacks reads the schema again first if it is
#: older than this (it may have been created since); at most once per this many seconds.
SCHEMA_RECHECK_SECONDS = 60.0


def plan_claimed(
    rows: list[db.ClaimedRow],
    token_tag: str,
    client: HubSpotClient | None = None,
    conf: CrmSyncSettings | None = None,
) -> Plan:
    """The plan of a claimed batch: what ``sync_batch`` sends, and what ``crmsync_plan``
    and the admin's preview show (``sync/dryrun``), so both always agree.

    With ``PREFLIGHT`` on, checked against HubSpot's property schema (``schema.current``,
    read with ``client``, default this process's); a row naming a property the schema
    lacks has the schema read again first, if it is not new."""
    conf = conf or get_settings()
    unique = conf.UNIQUE_PROPERTY if conf.WRITE_MODE == "upsert" else ""
    key = create_key(conf)
    if not conf.PREFLIGHT:
        return plan_batch(rows, token_tag, create_only_for, unique, create_key=key)
    client = client or get_client(conf)
    current = schema.current(client)
    plan = plan_batch(rows, token_tag, create_only_for, unique, current, key)
    if plan.unknown and current is not None:
        age = schema.age(client)
        if age is not None and age >= SCHEMA_RECHECK_SECONDS:
            newer = schema.refresh(client, older_than=SCHEMA_RECHECK_SECONDS)
            if newer is not None and newer is not current:
                plan = plan_batch(rows, token_tag, create_only_for, unique, newer, key)
    return plan
