"""Merges made in HubSpot during a chaos run (``--merges N``): once a third of the rows are
synced, N rows' HubSpot records are each merged into a fresh contact (the survivor), as a
HubSpot user would, and the rows are edited through ``Contact.save()`` so an update goes out
to the merged-away id. The verdict: every merged row ends synced to its survivor, holding
its values; nothing lost or duplicated (the rest of bench.chaos's checks).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from psycopg import sql

from bench import common
from bench.common import BenchError, Sandbox

#: Rows that own their HubSpot record (rows sharing an email, or linked to a contact HubSpot
#: already had, share a record: merging it would move several rows at once).
MERGEABLE_KINDS = ("valid", "no_email")


def kinds(sandbox_options: Mapping[str, Any]) -> tuple[str, ...]:
    """The kinds of rows to merge. When reads of a merged-away id give nothing
    (``merged_read=none``), a row without email cannot be found again (crmsync fails it
    with a note rather than risk a duplicate): merge only rows with an email then."""
    return ("valid",) if sandbox_options.get("merged_read") == "none" else MERGEABLE_KINDS


#: Merge once this share of the rows is synced.
START_SHARE = 1 / 3


class Merger:
    """Merges ``count`` synced rows' records once, when enough rows are synced."""

    def __init__(
        self,
        count: int,
        keys: Sequence[str],
        seed: int,
        table: str,
        env: Mapping[str, str],
        work: Path,
    ) -> None:
        self.count = count
        self.keys = set(keys)
        self.rng = random.Random(f"{seed}:merges")
        self.table = table
        self.env = env
        self.work = work
        #: chaos_row_id -> (merged-away id, survivor id)
        self.merged: dict[str, tuple[str, str]] = {}
        self.done = count <= 0

    def due(self, synced: int, rows: int) -> bool:
        return not self.done and synced >= rows * START_SHARE

    def run(self, conn: Any, sandbox: Sandbox) -> None:
        """Pick rows synced now, merge their records into new contacts, edit the rows."""
        self.done = True
        query = sql.SQL(
            "SELECT id, hubspot_id, properties->>'chaos_row_id' FROM {} "
            "WHERE sync_status = 'synced' AND hubspot_id <> '' ORDER BY id"
        ).format(sql.Identifier(self.table))
        synced = [(pk, hid, key) for pk, hid, key in conn.execute(query) if key in self.keys]
        picked = self.rng.sample(synced, min(self.count, len(synced)))
        touched: list[int] = []
        for n, (pk, hubspot_id, key) in enumerate(picked):
            seeded = sandbox.post(
                "contacts", {"contacts": [{"email": f"survivor{n}.{pk}@merges.example.com"}]}
            )
            survivor = str(seeded["ids"][0])
            try:
                sandbox.post("merge", {"primary": survivor, "merged": hubspot_id})
            except BenchError:
                continue  # its id moved meanwhile (it was being created again): skip it
            self.merged[key] = (hubspot_id, survivor)
            touched.append(pk)
        path = self.work / "merged_rows.json"
        path.write_text(json.dumps(touched), encoding="utf-8")
        common.run_python(["-m", "bench._chaos_child", "touch", str(path)], self.env, 120)


def check(merged: Mapping[str, tuple[str, str]], contacts: Sequence[Mapping[str, Any]]) -> list:
    """(key, db id, status, hubspot id, detail) of each merged row not relinked to its
    survivor."""
    by_key = {str((c.get("properties") or {}).get("chaos_row_id") or ""): c for c in contacts}
    problems = []
    for key, (old_id, survivor) in sorted(merged.items()):
        contact = by_key.get(key)
        if contact is None:
            problems.append((key, None, "missing", "", "the row vanished"))
        elif str(contact.get("hubspot_id")) != survivor:
            detail = f"merged from {old_id} into {survivor}: {contact.get('sync_error', '')}"
            problems.append(
                (key, contact["id"], contact["sync_status"], contact["hubspot_id"], detail[:300])
            )
    return problems
