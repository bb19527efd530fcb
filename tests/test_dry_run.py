"""crmsync_plan: the sync's own planning over due rows or a model's rows, against the
sandbox; nothing sent (the sandbox saw no request) and no row changed (the table compared)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from crmsync.models import Contact, SyncBatch, SyncStatus
from crmsync.sync import dryrun
from crmsync.testing import sync_now
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def table() -> list[dict]:
    return list(Contact.objects.order_by("pk").values())


def sent_requests(sandbox) -> int:
    """Requests that reached the sandbox, schema reads aside (preflight may read the schema)."""
    by_endpoint = sandbox.stats()["requests_by_endpoint"]
    return sum(sum(c.values()) for e, c in by_endpoint.items() if not e.startswith("properties"))


def plan(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("crmsync_plan", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue()


@pytest.fixture
def mixed(crmsync_sandbox):
    """One row to update (a name changed since HubSpot accepted it), one to create, one that
    cannot be mapped, one held (unanswered create, no email)."""
    known = ContactFactory(email="known@example.com", firstname="Ada", lastname="L")
    sync_now()
    known.refresh_from_db()
    known.firstname = "Adah"
    known.save()
    new = ContactFactory(email="new@example.com", firstname="Bob")
    bad = ContactFactory(email="bad@example.com", properties={"notes": {"x": 1}})
    held = ContactFactory(email="", needs_reconcile=True)
    return {"known": known, "new": new, "bad": bad, "held": held}


def test_plan_prints_requests_changes_and_decided_rows_and_sends_nothing(crmsync_sandbox, mixed):
    before, requests_before = table(), sent_requests(crmsync_sandbox)
    code, out = plan()
    assert code == 0
    assert "POST /crm/v3/objects/contacts/batch/update: 1 input" in out
    assert "POST /crm/v3/objects/contacts/batch/create: 1 input" in out
    assert 'firstname: "Ada" -> "Adah"' in out
    assert '"email": "new@example.com"' in out
    assert f"contact #{mixed['bad'].pk} bad@example.com: failed (MAPPING_ERROR)" in out
    assert "notes: cannot send a value of type dict" in out
    assert f"contact #{mixed['held'].pk} (no email): held" in out
    assert table() == before
    assert sent_requests(crmsync_sandbox) == requests_before


def test_plan_json_matches_what_the_sync_then_sends(crmsync_sandbox, mixed):
    code, out = plan("--json")
    assert code == 0
    data = json.loads(out)
    assert data["would_send"] is True
    planned = {
        r["endpoint"]: [
            {k: v for k, v in i["body"].items() if k != "objectWriteTraceId"} for i in r["inputs"]
        ]
        for r in data["requests"]
    }
    update = [i for r in data["requests"] if r["endpoint"] == "update" for i in r["inputs"]]
    assert update[0]["changes"] == [{"name": "firstname", "old": "Ada", "new": "Adah"}]
    first_new_batch = SyncBatch.objects.order_by("-pk").first().pk
    sync_now()
    sent = {}
    for batch in SyncBatch.objects.filter(pk__gt=first_new_batch).order_by("pk"):
        inputs = json.loads(batch.request_body)["inputs"]
        sent[batch.endpoint] = [
            {k: v for k, v in i.items() if k != "objectWriteTraceId"} for i in inputs
        ]
    assert sent == planned
    decided = {d["contact_id"]: d["outcome"] for d in data["decided"]}
    assert Contact.objects.get(pk=mixed["bad"].pk).sync_status == decided[mixed["bad"].pk]
    assert Contact.objects.get(pk=mixed["held"].pk).sync_status == decided[mixed["held"].pk]


def test_nothing_to_send_exits_2(crmsync_sandbox):
    ContactFactory(email="a@example.com")
    sync_now()
    assert plan() == (2, plan()[1])
    assert "nothing would be sent" in plan()[1]


def test_a_model_and_pks_are_planned_even_when_not_due(crmsync_sandbox):
    a = ContactFactory(email="a@example.com")
    b = ContactFactory(email="b@example.com")
    sync_now()
    Contact.objects.filter(pk=a.pk).update(firstname="Changed", sync_status=SyncStatus.SYNCED)
    before = table()
    code, out = plan("crmsync.Contact", "--pk", str(a.pk), str(b.pk))
    assert code == 0
    assert f"contact #{a.pk} a@example.com" in out and '-> "Changed"' in out
    assert f"contact #{b.pk} b@example.com: unchanged" in out
    assert table() == before


def test_an_unknown_model_is_one_line_and_status_1(crmsync_sandbox):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as info:
        call_command("crmsync_plan", "auth.Nope", stdout=io.StringIO())
    assert info.value.returncode == 1


def test_due_rows_are_read_in_claim_order_and_limited(crmsync_sandbox):
    rows = [ContactFactory(email=f"p{i}@example.com") for i in range(3)]
    got = dryrun.due_rows(limit=2)
    assert [r.id for r in got] == [rows[0].pk, rows[1].pk]
    assert all(r.reconcile_emails.strip() == r.email for r in got)
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 3


@pytest.mark.django_db(transaction=True)
def test_batches_follow_batch_size(crmsync_sandbox, settings):
    settings.CRMSYNC = {**settings.CRMSYNC, "BATCH_SIZE": 2}
    for i in range(5):
        ContactFactory(email=f"p{i}@example.com")
    result = dryrun.preview(dryrun.due_rows())
    assert [len(r.inputs) for r in result.requests] == [2, 2, 1]


def test_a_create_whose_answer_was_lost_is_looked_up_first_as_the_sync_would(crmsync_sandbox):
    row = ContactFactory(email="lost@example.com", needs_reconcile=True)
    result = dryrun.preview(dryrun.due_rows())
    assert [r.endpoint for r in result.requests] == ["read", "create"]
    (lookup,) = result.requests[0].inputs
    assert lookup.contact_ids == [row.pk]
    assert lookup.body["inputs"] == [{"id": "lost@example.com"}]
    assert lookup.body["idProperty"] == "email"


def test_plan_runs_no_writing_statement(crmsync_sandbox, mixed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert plan()[0] == 0
    verbs = {q["sql"].split()[0].upper() for q in queries}
    assert not verbs & {"UPDATE", "INSERT", "DELETE"}, verbs
