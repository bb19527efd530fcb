"""manage.py crmsync_backfill: existing host rows queued in chunks, resumable, flat memory."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

import crmsync
from crmsync import registry
from crmsync.models import Contact
from tests.hostapp.models import Company, Customer

pytestmark = pytest.mark.django_db

LABEL = "hostapp.customer"


@pytest.fixture
def registered():
    crmsync.register(
        Customer,
        properties={"email": "email", "firstname": "first_name", "company": "company.name"},
        when=lambda c: c.is_active,
        on_delete="archive",
    )
    yield
    registry.unregister(Customer)


def make_customers(count: int) -> None:
    acme = Company.objects.create(name="Acme")
    Customer.objects.bulk_create(  # no signals: as rows that existed before registering
        Customer(email=f"c{i}@example.com", first_name=f"C{i}", company=acme) for i in range(count)
    )


def backfill(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("crmsync_backfill", "hostapp.Customer", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_of_10000_rows_is_resumable_and_cheap_to_rerun(registered, nudges):
    make_customers(10_000)
    assert not Contact.objects.filter(source=LABEL).exists()
    tracemalloc.start()
    out, err = backfill("--batch-size", "1000")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    last = Customer.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert "10,000 rows read, 10,000 queued for HubSpot" in out
    assert f"last pk done: {last}" in out
    assert "10,000/10,000 rows (100%)" in err
    assert Contact.objects.filter(source=LABEL).count() == 10_000
    assert peak < 40_000_000, f"peak {peak:,} bytes"  # chunks of 1000, not 10,000 rows
    # Again: nothing changed, nothing written.
    out, _ = backfill("--batch-size", "1000", "--no-progress")
    assert "10,000 rows read, 0 queued" in out
    assert Contact.objects.filter(source=LABEL, version=1).count() == 10_000


def test_backfill_resumes_after_a_pk(registered):
    make_customers(30)
    pks = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    out, _ = backfill("--start-after", str(pks[19]), "--batch-size", "4")
    assert "10 rows read, 10 queued for HubSpot (the others had not changed); " in out
    queued = set(Contact.objects.filter(source=LABEL).values_list("source_pk", flat=True))
    assert queued == {str(pk) for pk in pks[20:]}


def test_backfill_marks_rows_that_no_longer_qualify_for_archive(registered):
    make_customers(3)
    backfill()
    Contact.objects.filter(source=LABEL).update(hubspot_id="901", sync_status="synced")
    Customer.objects.filter(email="c1@example.com").update(is_active=False)
    out, _ = backfill()
    assert "3 rows read, 1 queued" in out
    assert list(Contact.objects.filter(action="archive").values_list("email", flat=True)) == [
        "c1@example.com"
    ]


def test_backfill_refuses_when_disabled(registered):
    make_customers(2)
    with override_settings(CRMSYNC={"ENABLED": False}), pytest.raises(CommandError) as caught:
        backfill()
    assert "ENABLED" in str(caught.value)
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("label", "message"),
    [("hostapp.Nope", "no model"), ("nolabel", "no model"), ("hostapp.Company", "not registered")],
)
def test_backfill_names_a_model_it_cannot_queue(label, message):
    with pytest.raises(CommandError, match=message):
        call_command("crmsync_backfill", label, stdout=io.StringIO())
