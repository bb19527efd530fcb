"""Hand-made mutations of the claim's and the write-back's SQL, on PostgreSQL.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.mutate_sql [-k NAME]

mutmut leaves the text of SQL strings alone (or only changes its case, which SQL ignores),
so the CASE branches of ``_SET_CLAUSE``, the fence and the claim's filters are mutated here:
each mutation below is a list of textual replacements in crmsync/db.py (each old text must
occur exactly once, so a stale entry fails loudly). For each one, a copy of the project in a
temporary folder gets the mutated db.py and runs tests/test_writeback.py there; a failing
run kills the mutation. ``make mutation`` runs this after mutmut's run of crmsync/db.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = ("tests/test_writeback.py",)
TIMEOUT_SECONDS = 300

Replacement = tuple[str, str]

# name -> replacements in crmsync/db.py. Every one changes what the database ends up holding.
MUTATIONS: dict[str, list[Replacement]] = {
    # --- the claim
    "claim: no lease (NULL)": [
        ("lease_expires_at = {later_sql(vendor, '%s')}, ", "lease_expires_at = NULL, "),
        ("token_param, float(lease_seconds)]", "token_param]"),
    ],
    "claim: status left pending": [
        ("params = [SyncStatus.IN_FLIGHT.value,", "params = [SyncStatus.PENDING.value,"),
    ],
    "claim: no claim token": [
        ('claim_token = %s, "', 'claim_token = NULL, "'),
        ("IN_FLIGHT.value, token_param, float", "IN_FLIGHT.value, float"),
    ],
    "claim: claimed_version not recorded": [("claimed_version = version, ", "")],
    "claim: updated_at not stamped": [
        ("updated_at = {now}, ", "updated_at = COALESCE(updated_at, {now}), "),
    ],
    "claim: email remembered as typed (no lower)": [
        ("|| lower(email) || ' '", "|| email || ' '"),
    ],
    "claim: email remembered without its separator": [
        ("|| lower(email) || ' ' END", "|| lower(email) END"),
    ],
    "claim: empty email remembered (= flipped)": [
        ("CASE WHEN email = '' THEN", "CASE WHEN email <> '' THEN"),
    ],
    "claim: any status claimed": [
        ("WHERE sync_status = %s AND next_attempt_at", "WHERE next_attempt_at"),
        ("params += [SyncStatus.PENDING.value, limit]", "params += [limit]"),
    ],
    # "<= to <" is no longer listed: with the database's clock in the statement, no row can
    # be due at exactly the claim's own now (each statement has its own), so it is equivalent.
    "claim: due in the future too (<= to >=)": [
        ("AND next_attempt_at <= {now}", "AND next_attempt_at >= {now}"),
    ],
    "claim: newest due first": [
        ("ORDER BY next_attempt_at, id", "ORDER BY next_attempt_at DESC, id")
    ],
    "claim: order by id only": [("ORDER BY next_attempt_at, id", "ORDER BY id")],
    "claim: no limit": [
        (" LIMIT %s{skip_locked}", "{skip_locked}"),
        ("params += [SyncStatus.PENDING.value, limit]", "params += [SyncStatus.PENDING.value]"),
    ],
    "claim: no row locks (SKIP LOCKED dropped)": [('" FOR UPDATE SKIP LOCKED" if', '"" if')],
    "claim: waits on locked rows (FOR UPDATE only)": [
        ('" FOR UPDATE SKIP LOCKED" if', '" FOR UPDATE" if'),
    ],
    # --- the write-back's SET clause
    "status: edited test flipped (<> to =)": [
        (
            "sync_status = CASE WHEN c.version <> c.claimed_version",
            "sync_status = CASE WHEN c.version = c.claimed_version",
        ),
    ],
    "status: held guard dropped": [
        (
            "sync_status = CASE WHEN c.version <> c.claimed_version AND v.status <> %(held)s",
            "sync_status = CASE WHEN c.version <> c.claimed_version",
        ),
    ],
    "status: held guard flipped (<> to =)": [
        (
            "sync_status = CASE WHEN c.version <> c.claimed_version AND v.status <> %(held)s",
            "sync_status = CASE WHEN c.version <> c.claimed_version AND v.status = %(held)s",
        ),
    ],
    "error: edited test flipped (<> to =)": [
        (
            "sync_error = CASE WHEN c.version <> c.claimed_version",
            "sync_error = CASE WHEN c.version = c.claimed_version",
        ),
    ],
    "error: held guard dropped": [
        (
            "sync_error = CASE WHEN c.version <> c.claimed_version AND v.status <> %(held)s",
            "sync_error = CASE WHEN c.version <> c.claimed_version",
        ),
    ],
    "error: an edited row keeps the error": [
        ("THEN '' ELSE v.error END", "THEN v.error ELSE v.error END")
    ],
    "hubspot_id: test flipped (<> to =)": [
        ("CASE WHEN v.hubspot_id <> '' THEN", "CASE WHEN v.hubspot_id = '' THEN"),
    ],
    "hubspot_id: a blank one overwrites": [
        (
            "CASE WHEN v.hubspot_id <> '' THEN v.hubspot_id ELSE c.hubspot_id END",
            "v.hubspot_id",
        ),
    ],
    "error_category: old one kept": [
        ("sync_error_category = v.error_category", "sync_error_category = c.sync_error_category"),
    ],
    "hubspot_status: test flipped (<> to =)": [
        ("CASE WHEN v.hubspot_status <> '' THEN", "CASE WHEN v.hubspot_status = '' THEN"),
    ],
    "hubspot_status: a blank one overwrites": [
        ("ELSE c.hubspot_status END", "ELSE v.hubspot_status END"),
    ],
    "created_at: COALESCE order swapped": [
        (
            "COALESCE(v.created_at, c.hubspot_created_at)",
            "COALESCE(c.hubspot_created_at, v.created_at)",
        ),
    ],
    "created_at: a missing one clears": [
        ("COALESCE(v.created_at, c.hubspot_created_at)", "v.created_at"),
    ],
    "updated_at (HubSpot's): COALESCE order swapped": [
        (
            "COALESCE(v.updated_at, c.hubspot_updated_at)",
            "COALESCE(c.hubspot_updated_at, v.updated_at)",
        ),
    ],
    "updated_at (HubSpot's): a missing one clears": [
        ("COALESCE(v.updated_at, c.hubspot_updated_at)", "v.updated_at"),
    ],
    "synced_at: test flipped (= to <>)": [
        (
            "synced_at = CASE WHEN v.status = %(synced)s",
            "synced_at = CASE WHEN v.status <> %(synced)s",
        ),
    ],
    "synced_at: never stamped": [
        ("THEN {now} ELSE c.synced_at END", "THEN c.synced_at ELSE c.synced_at END")
    ],
    "synced_version: version instead of claimed_version": [
        ("THEN c.claimed_version\n", "THEN c.version\n"),
    ],
    "synced_version: test flipped (= to <>)": [
        (
            "synced_version = CASE WHEN v.status = %(synced)s",
            "synced_version = CASE WHEN v.status <> %(synced)s",
        ),
    ],
    "attempts: not reset for an edited row": [
        ("THEN 0 ELSE v.attempts END", "THEN v.attempts ELSE v.attempts END")
    ],
    "attempts: test flipped (<> to =)": [
        (
            "sync_attempts = CASE WHEN c.version <> c.claimed_version",
            "sync_attempts = CASE WHEN c.version = c.claimed_version",
        ),
    ],
    "next_attempt_at: an edited row keeps the due time decided": [
        (
            "c.claimed_version THEN {now}\n",
            "c.claimed_version AND FALSE THEN {now}\n",
        ),
    ],
    "next_attempt_at: the decided backoff ignored": [
        (
            "WHEN v.retry_in IS NULL THEN c.next_attempt_at ELSE {retry} END",
            "ELSE c.next_attempt_at END",
        ),
    ],
    "next_attempt_at: a missing one clears": [
        ("WHEN v.retry_in IS NULL THEN c.next_attempt_at ELSE {retry} END", "ELSE {retry} END"),
    ],
    "next_attempt_at: the backoff from the worker's old due time": [
        ('retry=later_sql("postgresql", "v.retry_in")', 'retry="c.next_attempt_at"'),
    ],
    "needs_reconcile: old one kept": [
        ("needs_reconcile = v.needs_reconcile", "needs_reconcile = c.needs_reconcile"),
    ],
    "reconcile_emails: old ones kept": [
        ("reconcile_emails = v.reconcile_emails", "reconcile_emails = c.reconcile_emails"),
    ],
    "claim_token: not released": [("claim_token = NULL,", "claim_token = c.claim_token,")],
    "lease: not released": [("lease_expires_at = NULL,", "lease_expires_at = c.lease_expires_at,")],
    "updated_at: not stamped": [("    updated_at = {now}\n", "    updated_at = c.updated_at\n")],
    # --- the write-back's statement
    "fence: claim token not checked": [
        ('"WHERE c.id = v.id AND c.claim_token = %(token)s"', '"WHERE c.id = v.id"'),
    ],
    "join: every row gets the first value": [
        ('"WHERE c.id = v.id AND c.claim_token = %(token)s"', '"WHERE c.claim_token = %(token)s"'),
    ],
}


def apply(source: str, replacements: list[Replacement]) -> str:
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise SystemExit(f"stale mutation: {old!r} occurs {count} times in crmsync/db.py")
        source = source.replace(old, new)
    return source


def run_tests(root: Path, db_source: str) -> int:
    """Copy the project into a fresh folder with this db.py; run the tests; exit code."""
    with tempfile.TemporaryDirectory(prefix="crmsync-mutate-sql-") as tmp:
        copy = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in ("crmsync", "tests", "project"):
            shutil.copytree(root / folder, copy / folder, ignore=ignore)
        shutil.copy2(root / "pyproject.toml", copy / "pyproject.toml")
        (copy / "crmsync" / "db.py").write_text(db_source, encoding="utf-8")
        # `python -m pytest` puts the folder it runs in first on sys.path: the copy's
        # crmsync is imported, not the installed (editable) one.
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        command += ["--reuse-db", *TESTS]
        try:
            done = subprocess.run(
                command,
                cwd=copy,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return -1
        if os.environ.get("MUTATE_SQL_DEBUG"):
            print(done.stdout.decode(errors="replace")[-3000:])
        return done.returncode


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", help="only the mutations whose name contains this")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench.mutate_sql runs on PostgreSQL: set DATABASE_URL=postgres://...")
    root = Path(__file__).resolve().parent.parent
    source = (root / "crmsync" / "db.py").read_text(encoding="utf-8")
    chosen = {n: r for n, r in MUTATIONS.items() if not args.k or args.k in n}
    mutated = {name: apply(source, replacements) for name, replacements in chosen.items()}
    if run_tests(root, source) != 0:
        raise SystemExit("the tests fail on the unmutated copy: fix that first")
    survived = []
    for name, text in mutated.items():
        code = run_tests(root, text)
        verdict = "survived" if code == 0 else ("timeout" if code == -1 else "killed")
        print(f"  {verdict:8}  {name}", flush=True)
        if code == 0:
            survived.append(name)
    killed = len(mutated) - len(survived)
    percent = 100.0 * killed / len(mutated) if mutated else 0.0
    line = f"crmsync/db.py SQL (hand-made): {killed} killed / {len(mutated)} = {percent:.1f} %"
    print(line, flush=True)
    return line


if __name__ == "__main__":
    main(sys.argv[1:])
