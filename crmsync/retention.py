"""How long sync history is kept, and a contact's personal data taken out of it.

``prune_history`` deletes history older than ``CRMSYNC["HISTORY_RETENTION_DAYS"]`` in
chunks: each ``DELETE`` names at most ``chunk_size`` ids and is its own short transaction, so
millions of rows never hold one long lock and workers keep writing history meanwhile (they
insert at the top of the id range; the prune works at the bottom).

It keeps the newest attempt of every contact that is still failed, held or retrying (with
the request it belongs to), however old: that attempt is the operator's answer to "why".

``forget_contact_history`` blanks the email of a contact's attempts and replaces its inputs
in stored request bodies with a note (``redaction.forget_inputs``). The request bodies are
found through the attempts' batches, and through the other requests of the same claim (a
``batch/read`` by email that found nothing records no attempt for the row).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.db import connections, router, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Replace
from django.utils import timezone

from .conf import validate
from .exceptions import ConfigurationError
from .models import Contact, SyncAttempt, SyncBatch, SyncStatus
from .redaction import forget_inputs

#: Ids one DELETE names: about 20-50 ms of work on PostgreSQL (README, "Retention").
CHUNK_SIZE = 10_000
#: Requests of one claim are inserted together; their ids lie within this of each other.
_CLAIM_ID_WINDOW = 1_000
_FORGOTTEN_EMAIL = "[forgotten]"


@dataclass
class PruneResult:
    """What one prune deleted (or, with ``dry_run``, would delete)."""

    attempts: int = 0
    batches: int = 0
    days: int = 0
    cutoff: dt.datetime | None = None
    dry_run: bool = False
    deletes: int = 0
    longest_delete_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        return data


def retention_days() -> int:
    """``CRMSYNC["HISTORY_RETENTION_DAYS"]``, checked (ConfigurationError, crmsync.E035)."""
    raw = getattr(django_settings, "CRMSYNC", None) or {}
    problems = [p for p in validate(raw) if p.key == "HISTORY_RETENTION_DAYS" and p.is_error]
    if problems:
        raise ConfigurationError(problems[0].message, problems=tuple(problems))
    return int(raw.get("HISTORY_RETENTION_DAYS", 90)) if isinstance(raw, dict) else 90


def forget_on_delete() -> bool:
    """``CRMSYNC["HISTORY_FORGET_ON_DELETE"]``, read on every contact delete: only ``False``
    turns it off (any other value is a check error, crmsync.E037, and forgets)."""
    raw = getattr(django_settings, "CRMSYNC", None)
    return not (isinstance(raw, dict) and raw.get("HISTORY_FORGET_ON_DELETE", True) is False)


def prune_history(
    days: int | None = None,
    *,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    now: dt.datetime | None = None,
) -> PruneResult:
    """Delete history older than ``days`` (default: the setting; 0 keeps everything)."""
    days = retention_days() if days is None else days
    if days < 0:
        raise ValueError(f"days must be 0 (keep for ever) or more, got {days}")
    result = PruneResult(days=days, dry_run=dry_run)
    if days == 0:
        return result
    result.cutoff = cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    last_batch = (
        SyncBatch.objects.filter(created_at__lt=cutoff)
        .order_by("-created_at", "-id")  # of requests written in the same instant, the last
        .values_list("id", flat=True)
        .first()
    )
    if last_batch is None:
        return result
    cut = _attempt_cut(last_batch)
    kept = _kept_attempts(cut)
    old = SyncAttempt.objects.filter(id__lte=cut, created_at__lt=cutoff)
    result.attempts = _in_chunks(SyncAttempt, old, set(kept), chunk_size, dry_run, result)
    # A request goes once none of its attempts is left; a dry run deleted none, so it asks
    # whether any would be left.
    left = SyncAttempt.objects.filter(batch_id=OuterRef("pk"))
    kept_requests = set()
    if dry_run:
        left = left.filter(Q(id__gt=cut) | Q(created_at__gte=cutoff))
        kept_requests = {b for b in kept.values() if b is not None}
    old_batches = SyncBatch.objects.filter(id__lte=last_batch, created_at__lt=cutoff).exclude(
        Exists(left)
    )
    result.batches = _in_chunks(SyncBatch, old_batches, kept_requests, chunk_size, dry_run, result)
    return result


def _attempt_cut(last_batch: int) -> int:
    """The highest attempt id to look at: that of the newest old request's attempts.
    Attempts are inserted with their requests, so ids below it are (about) as old; each
    row's own created_at decides."""
    near = (
        SyncAttempt.objects.filter(batch_id__lte=last_batch)
        .order_by("-batch_id")
        .values_list("batch_id", flat=True)
        .first()
    )
    if near is None:
        return 0
    top = SyncAttempt.objects.filter(batch_id=near).aggregate(top=Max("id"))["top"]
    return int(top or 0)


def _kept_attempts(cut: int) -> dict[int, int | None]:
    """The newest attempt (id -> its request) of every contact still failed, held or
    retrying, if it is old enough to be pruned: found once, not per chunk (one pass over
    the contacts, an index probe for each unsettled one)."""
    newest = SyncAttempt.objects.filter(contact_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    unsettled = (
        Contact.objects.filter(
            Q(sync_status__in=[SyncStatus.FAILED, SyncStatus.HELD]) | ~Q(sync_error="")
        )
        .annotate(newest=Subquery(newest))
        .filter(newest__lte=cut)
        .values_list("newest", flat=True)
    )
    ids = list(unsettled.iterator(chunk_size=10_000))
    kept: dict[int, int | None] = {}
    for start in range(0, len(ids), 10_000):
        part = ids[start : start + 10_000]
        kept.update(SyncAttempt.objects.filter(id__in=part).values_list("id", "batch_id"))
    return kept


def _in_chunks(
    model: type[SyncAttempt] | type[SyncBatch],
    rows: QuerySet[Any],
    keep: set[int],
    chunk_size: int,
    dry_run: bool,
    result: PruneResult,
) -> int:
    """Walk ``rows`` by id, ``chunk_size`` at a time (a primary-key range scan each), and
    delete each chunk but ``keep`` in one statement."""
    done, last = 0, 0
    while True:
        ids = list(
            rows.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:chunk_size]
        )
        if not ids:
            return done
        doomed = [i for i in ids if i not in keep] if keep else ids
        if doomed and not dry_run:
            started = time.perf_counter()
            _delete(model, doomed)
            took = (time.perf_counter() - started) * 1000
            result.deletes += 1
            result.longest_delete_ms = max(result.longest_delete_ms, took)
        done += len(doomed)
        last = ids[-1]
        if len(ids) < chunk_size:
            return done


def _delete(model: type[SyncAttempt] | type[SyncBatch], ids: list[int]) -> None:
    # One plain DELETE by primary key: QuerySet.delete() of batches would load every row
    # (request bodies included) to cascade; none of these has attempts left.
    using = router.db_for_write(model)
    connection = connections[using]
    table = connection.ops.quote_name(model._meta.db_table)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one array parameter, not 10,000
            cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])
        else:
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks})", ids)


# -- forgetting a contact ---------------------------------------------------------------------


@dataclass
class ForgetResult:
    attempts: int = 0
    batches: int = 0


def forget_contact_history(contact_ids: Iterable[int], using: str | None = None) -> ForgetResult:
    """Take these contacts' personal data out of history (their attempts' emails, their
    inputs in stored request bodies). The attempts stay, with their outcomes."""
    ids = list(contact_ids)
    if not ids:
        return ForgetResult()
    return _forget(SyncAttempt.objects.using(using).filter(contact_id__in=ids), using)


def forget_email_history(email: str, using: str | None = None) -> ForgetResult:
    """A data subject's request: every attempt made under ``email`` (of any contact, also
    one deleted long ago), or of a contact that has it now. Scans the attempts: rare."""
    email = email.strip()
    if not email:
        return ForgetResult()
    contacts = Contact.objects.using(using).filter(email__iexact=email).values("pk")
    attempts = SyncAttempt.objects.using(using).filter(
        Q(email__iexact=email) | Q(contact_id__in=contacts)
    )
    return _forget(attempts, using, extra_emails={email})


def _forget(
    attempts: QuerySet[SyncAttempt], using: str | None, extra_emails: set[str] | None = None
) -> ForgetResult:
    rows = list(attempts.values_list("batch_id", "trace_id", "email"))
    emails = {e for _, _, e in rows if e} | (extra_emails or set())
    traces = {t for _, t, _ in rows if t}
    batch_ids = {b for b, _, _ in rows if b is not None}
    with transaction.atomic(using=using):
        result = ForgetResult(attempts=len(rows))
        for email in emails:  # a message may quote the address ("... already exists")
            attempts.filter(error_message__contains=email).update(
                error_message=Replace(F("error_message"), Value(email), Value(_FORGOTTEN_EMAIL))
            )
        attempts.exclude(email="").update(email="")
        changed = []
        for batch in _requests_of(batch_ids, using):
            body = forget_inputs(batch.request_body, traces, emails)
            message = batch.error_message
            for email in emails:
                message = message.replace(email, _FORGOTTEN_EMAIL)
            if body is not None or message != batch.error_message:
                batch.request_body = body if body is not None else batch.request_body
                batch.error_message = message
                changed.append(batch)
        SyncBatch.objects.using(using).bulk_update(
            changed, ["request_body", "error_message"], batch_size=200
        )
        result.batches = len(changed)
    return result


def _requests_of(batch_ids: set[int], using: str | None) -> list[SyncBatch]:
    """The attempts' requests, and the other requests of the same claims (a batch/read by
    email records no attempt for a row it did not find)."""
    if not batch_ids:
        return []
    manager = SyncBatch.objects.using(using).only("id", "request_body", "error_message")
    known = list(
        SyncBatch.objects.using(using).filter(id__in=batch_ids).values("id", "claim_token")
    )
    found: dict[int, SyncBatch] = {}
    for start in range(0, len(known), 200):
        near = Q(id__in=[row["id"] for row in known[start : start + 200]])
        for row in known[start : start + 200]:
            if row["claim_token"] is not None:
                near |= Q(
                    claim_token=row["claim_token"],
                    id__gte=row["id"] - _CLAIM_ID_WINDOW,
                    id__lte=row["id"] + _CLAIM_ID_WINDOW,
                )
        found.update((batch.pk, batch) for batch in manager.filter(near))
    return list(found.values())
