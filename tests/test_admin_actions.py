"""The operator's actions on contacts: permissions, CSRF, confirmations, skip, settle, and
large selections done by a task (crmsync.admin.actions, crmsync.operations)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse

import crmsync
from crmsync import registry, services, tasks
from crmsync.models import BulkJob, Contact, SyncAttempt, SyncBatch, SyncStatus
from crmsync.operations import rows
from tests.factories import ContactFactory
from tests.hostapp.models import Customer

pytestmark = pytest.mark.django_db

LIST = "admin:crmsync_contact_changelist"
BASE_PERMS = ("view_contact", "change_contact", "view_bulkjob")


def make_staff(*codenames: str, name: str = "operator") -> User:
    user = User.objects.create_user(name, password="pw", is_staff=True)
    for codename in (*BASE_PERMS, *codenames):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def logged_in(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def status(contact: Contact) -> str:
    contact.refresh_from_db()
    return contact.sync_status


def set_state(contact: Contact, **values) -> Contact:
    Contact.objects.filter(pk=contact.pk).update(**values)
    contact.refresh_from_db()
    return contact


def act(client: Client, action: str, contacts, **extra):
    data = {"action": action, "_selected_action": [c.pk for c in contacts], **extra}
    return client.post(reverse(LIST), data)


# (action, permission, the row's state before, its status after)
CASES = [
    ("queue_for_sync", "sync_contact", {"sync_status": SyncStatus.FAILED}, SyncStatus.PENDING),
    ("sync_now", "sync_contact", {"sync_status": SyncStatus.FAILED}, SyncStatus.PENDING),
    ("skip", "skip_contact", {"sync_status": SyncStatus.FAILED}, SyncStatus.SKIPPED),
    ("unskip", "skip_contact", {"sync_status": SyncStatus.SKIPPED}, SyncStatus.PENDING),
    (
        "release_held",
        "settle_contact",
        {"sync_status": SyncStatus.HELD, "needs_reconcile": True},
        SyncStatus.PENDING,
    ),
    (
        "forget_hubspot_id",
        "settle_contact",
        {"sync_status": SyncStatus.FAILED, "hubspot_id": "512"},
        SyncStatus.PENDING,
    ),
]


@pytest.mark.parametrize(("action", "permission", "before", "after"), CASES)
def test_an_action_needs_its_permission(nudges, action, permission, before, after):
    row = set_state(ContactFactory(), **before)
    refused = logged_in(make_staff(name="nobody"))
    assert f'value="{action}"' not in refused.get(reverse(LIST)).content.decode()
    assert act(refused, action, [row], confirm="yes").status_code == 403
    assert status(row) == before["sync_status"]
    assert not SyncAttempt.objects.filter(contact=row).exists()

    allowed = logged_in(make_staff(permission))
    assert f'value="{action}"' in allowed.get(reverse(LIST)).content.decode()
    response = act(allowed, action, [row], confirm="yes")
    assert response.status_code == 302
    assert status(row) == after
    note = SyncAttempt.objects.get(contact=row)
    assert note.outcome == SyncAttempt.Outcome.OPERATOR and "(by operator)" in note.error_message


def test_the_settle_page_needs_its_permission():
    row = set_state(ContactFactory(email=""), sync_status=SyncStatus.HELD)
    url = reverse("admin:crmsync_contact_settle", args=[row.pk])
    refused = logged_in(make_staff("sync_contact", name="nobody"))
    assert refused.get(url).status_code == 403
    assert refused.post(url, {"step": "link", "hubspot_id": "512"}).status_code == 403
    assert act(refused, "settle_held", [row]).status_code == 403
    assert status(row) == SyncStatus.HELD and not Contact.objects.get(pk=row.pk).hubspot_id


def test_actions_need_the_csrf_token():
    row = set_state(ContactFactory(), sync_status=SyncStatus.FAILED)
    client = logged_in(make_staff("sync_contact", "skip_contact"), enforce_csrf_checks=True)
    assert act(client, "skip", [row], confirm="yes").status_code == 403
    assert status(row) == SyncStatus.FAILED
    held = set_state(ContactFactory(email=""), sync_status=SyncStatus.HELD)
    url = reverse("admin:crmsync_contact_settle", args=[held.pk])
    assert client.post(url, {"step": "release", "confirm": "yes"}).status_code == 403
    assert status(held) == SyncStatus.HELD


@pytest.mark.parametrize("action", ["release_held", "forget_hubspot_id"])
def test_what_can_duplicate_is_confirmed_first_and_changes_nothing_until_then(action):
    rows_ = [
        set_state(ContactFactory(email=f"p{i}@example.com"), sync_status=SyncStatus.HELD)
        for i in range(3)
    ]
    for row in rows_:
        set_state(row, hubspot_id=f"90{row.pk}", synced_properties={"email": row.email})
    client = logged_in(make_staff("settle_contact"))
    page = act(client, action, rows_)
    text = page.content.decode()
    assert page.status_code == 200 and "This can create duplicates in HubSpot" in text
    assert all(row.email in text for row in rows_)  # the rows are listed
    assert all(status(row) == SyncStatus.HELD for row in rows_)
    assert not SyncAttempt.objects.exists()
    assert act(client, action, rows_, confirm="yes").status_code == 302
    for row in rows_:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.PENDING and not row.needs_reconcile
    if action == "forget_hubspot_id":
        row = rows_[0]
        assert row.hubspot_id == "" and row.synced_properties is None
        assert row.synced_associations is None
        note = SyncAttempt.objects.filter(contact=row).get()
        assert note.hubspot_id == f"90{row.pk}"  # the note keeps the id forgotten


def test_a_large_selection_is_confirmed_even_for_queue_again(nudges):
    Contact.objects.bulk_create(
        [Contact(email=f"r{i}@example.com", sync_status=SyncStatus.FAILED) for i in range(101)]
    )
    client = logged_in(make_staff("sync_contact"))
    page = act(client, "queue_for_sync", Contact.objects.all())
    assert page.status_code == 200 and "are you sure?" in page.content.decode()
    assert not Contact.objects.exclude(sync_status=SyncStatus.FAILED).exists()
    act(client, "queue_for_sync", Contact.objects.all(), confirm="yes")
    assert not Contact.objects.exclude(sync_status=SyncStatus.PENDING).exists()


def test_a_small_queue_again_is_not_confirmed(nudges):
    row = set_state(ContactFactory(), sync_status=SyncStatus.FAILED)
    assert act(logged_in(make_staff("sync_contact")), "queue_for_sync", [row]).status_code == 302
    assert status(row) == SyncStatus.PENDING


def test_sync_now_enqueues_a_sync_and_never_calls_hubspot(crmsync_settings, monkeypatch):
    row = set_state(ContactFactory(), sync_status=SyncStatus.FAILED)
    before = crmsync_settings and SyncBatch.objects.count()
    enqueued: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_sync", lambda: enqueued.append(1) or True)
    act(logged_in(make_staff("sync_contact")), "sync_now", [row])
    assert status(row) == SyncStatus.PENDING and enqueued == [1]
    assert SyncBatch.objects.count() == before


def test_sync_now_without_a_broker_says_to_run_the_command(no_broker):
    row = set_state(ContactFactory(), sync_status=SyncStatus.FAILED)
    page = logged_in(make_staff("sync_contact")).post(
        reverse(LIST), {"action": "sync_now", "_selected_action": [row.pk]}, follow=True
    )
    assert "manage.py crmsync_sync" in page.content.decode()


# -- skip ---------------------------------------------------------------------------------


def test_skip_survives_a_save_and_queue_again_undoes_it(nudges):
    row = ContactFactory(email="skip@example.com")
    client = logged_in(make_staff("skip_contact", "sync_contact"))
    act(client, "skip", [row])
    row = Contact.objects.get(pk=row.pk)
    row.firstname = "Changed"
    row.save()
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.SKIPPED and row.version == 2
    assert "Skipped by an operator" in row.sync_error
    act(client, "queue_for_sync", [row])
    assert status(row) == SyncStatus.PENDING


@pytest.fixture
def customers(crmsync_settings):
    crmsync.register(Customer, properties={"email": "email", "firstname": "first_name"})
    try:
        yield
    finally:
        registry.unregister(Customer)


def test_skip_survives_a_save_of_the_host_row(customers, nudges):
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    mirror = Contact.objects.get(source="hostapp.customer")
    act(logged_in(make_staff("skip_contact")), "skip", [mirror])
    customer.first_name = "Augusta"
    customer.save()
    mirror.refresh_from_db()
    assert mirror.firstname == "Augusta"  # the data is mirrored ...
    assert mirror.sync_status == SyncStatus.SKIPPED  # ... but it stays skipped
    assert "Skipped by an operator" in mirror.sync_error


def test_a_skipped_row_is_never_claimed(crmsync_sandbox, nudges):
    skipped = ContactFactory(email="never@example.com")
    sent = ContactFactory(email="sent@example.com")
    act(logged_in(make_staff("skip_contact")), "skip", [skipped])
    services.sync_pending()
    assert status(sent) == SyncStatus.SYNCED
    assert status(skipped) == SyncStatus.SKIPPED
    assert crmsync_sandbox.contact_by_email("never@example.com") is None
    assert crmsync_sandbox.contact_by_email("sent@example.com") is not None


# -- settle -------------------------------------------------------------------------------


@pytest.fixture
def held(crmsync_sandbox):
    row = ContactFactory(email="", firstname="Grace", lastname="Hopper", phone="+1 555 0100")
    return set_state(row, sync_status=SyncStatus.HELD, needs_reconcile=True)


def settle_url(row: Contact) -> str:
    return reverse("admin:crmsync_contact_settle", args=[row.pk])


def test_settle_by_id_then_a_sync_updates_that_id(held, crmsync_sandbox):
    remote_id = crmsync_sandbox.add_contact({"firstname": "Grace", "lastname": "H."})
    client = logged_in(make_staff("settle_contact"))
    page = client.get(settle_url(held)).content.decode()
    assert "What was sent" in page and "Hopper" in page
    bad = client.post(settle_url(held), {"step": "link", "hubspot_id": "12 OR 1=1"}, follow=True)
    assert bad.status_code == 200 and "digits only" in bad.content.decode()
    assert status(held) == SyncStatus.HELD
    response = client.post(settle_url(held), {"step": "link", "hubspot_id": remote_id})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.hubspot_id == remote_id and held.sync_status == SyncStatus.PENDING
    assert held.synced_properties is None and not held.needs_reconcile
    services.sync_pending()
    held.refresh_from_db()
    assert held.sync_status == SyncStatus.SYNCED and held.hubspot_id == remote_id
    [update] = SyncBatch.objects.filter(endpoint="update")
    [sent] = json.loads(update.request_body)["inputs"]
    assert sent["id"] == remote_id and sent["properties"]["lastname"] == "Hopper"
    assert not SyncBatch.objects.filter(endpoint="create").exists()
    remote = next(c for c in crmsync_sandbox.contacts() if c["id"] == remote_id)
    assert remote["properties"]["lastname"] == "Hopper"
    note = SyncAttempt.objects.get(contact=held, outcome=SyncAttempt.Outcome.OPERATOR)
    assert remote_id in note.error_message and "operator" in note.error_message


def test_the_lookup_finds_the_contact_in_hubspot(held, crmsync_sandbox):
    remote_id = crmsync_sandbox.add_contact(
        {"firstname": "Grace", "lastname": "Hopper", "phone": "+1 555 0100"}
    )
    crmsync_sandbox.add_contact({"firstname": "Grace", "lastname": "Kelly"})
    client = logged_in(make_staff("settle_contact"))
    page = client.post(settle_url(held), {"step": "lookup"})
    text = page.content.decode()
    assert page.status_code == 200 and "This is the one" in text
    assert f'name="hubspot_id" value="{remote_id}"' in text and "Kelly" not in text
    assert status(held) == SyncStatus.HELD  # a lookup changes nothing


def test_the_lookup_says_when_hubspot_has_none(held):
    client = logged_in(make_staff("settle_contact"))
    text = client.post(settle_url(held), {"step": "lookup"}).content.decode()
    assert "HubSpot holds no contact with these values" in text
    assert "Not found: release to create again" in text


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"fault_5xx_rate": 1.0, "fault_endpoints": ("search",)}, "search failed"),
        ({"latency_ms": 2500.0}, "no answer before the timeout"),
    ],
)
def test_a_failed_lookup_is_a_message_not_an_error_page(held, crmsync_sandbox, options, shown):
    crmsync_sandbox.configure(**options)
    client = logged_in(make_staff("settle_contact"))
    page = client.post(settle_url(held), {"step": "lookup"})
    assert page.status_code == 200
    text = page.content.decode()
    assert shown in text and crmsync_sandbox.token not in text
    assert status(held) == SyncStatus.HELD


def test_release_from_the_settle_page_is_confirmed(held):
    client = logged_in(make_staff("settle_contact"))
    page = client.post(settle_url(held), {"step": "release"})
    assert b"This can create a duplicate" in page.content
    assert status(held) == SyncStatus.HELD
    client.post(settle_url(held), {"step": "release", "confirm": "yes"})
    assert status(held) == SyncStatus.PENDING


def test_the_settle_action_opens_the_page_for_one_held_contact(held):
    response = act(logged_in(make_staff("settle_contact")), "settle_held", [held])
    assert response.status_code == 302 and response.url == settle_url(held)


def test_a_held_contacts_page_links_to_its_settle_page_for_who_may_settle(held):
    change = reverse("admin:crmsync_contact_change", args=[held.pk])
    settler = logged_in(make_staff("view_contact", "settle_contact"))
    assert settle_url(held) in settler.get(change).content.decode()
    viewer = logged_in(make_staff("view_contact", name="viewer"))
    assert settle_url(held) not in viewer.get(change).content.decode()


# -- large selections: a task ---------------------------------------------------------------


@pytest.fixture
def many(monkeypatch, crmsync_settings):
    """25 failed rows; chunks of 4 rows; at most 5 rows inline."""
    monkeypatch.setattr(rows, "CHUNK_ROWS", 4)
    Contact.objects.bulk_create(
        [Contact(email=f"m{i}@example.com", sync_status=SyncStatus.FAILED) for i in range(25)]
    )
    with override_settings(CRMSYNC={**crmsync_settings, "ADMIN_INLINE_MAX_ROWS": 5}):
        yield list(Contact.objects.order_by("pk"))


@pytest.fixture
def broker(monkeypatch):
    """A broker that records what would be published (nothing reaches Redis)."""
    from celery import current_app

    published: list[tuple] = []
    eager, url = current_app.conf.task_always_eager, current_app.conf.broker_url
    current_app.conf.task_always_eager = False
    current_app.conf.broker_url = "redis://broker.invalid:6379/0"
    monkeypatch.setattr(tasks, "_publish", lambda task, *args: published.append((task, args)))
    yield published
    current_app.conf.task_always_eager, current_app.conf.broker_url = eager, url


@pytest.fixture
def no_broker():
    """As in the SQLite demo: CELERY_TASK_ALWAYS_EAGER."""
    from celery import current_app

    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = eager


def test_select_all_enqueues_one_task_that_carries_only_the_job_id(many, broker):
    client = logged_in(make_staff("skip_contact"))
    data = {"select_across": "1", "index": "0"}
    page = act(client, "skip", many[:3], **data)  # the page's selection, and "select all"
    assert page.status_code == 200 and b"every contact matching" in page.content
    assert not broker and not BulkJob.objects.exists()
    response = act(client, "skip", many[:3], select_across="1", confirm="yes")
    assert response.status_code == 302
    [(task, args)] = broker
    job = BulkJob.objects.get()
    assert task is tasks.run_bulk_job and args == (job.pk,)
    assert job.requested_by == "operator" and job.status == BulkJob.Status.QUEUED
    assert Contact.objects.filter(sync_status=SyncStatus.FAILED).count() == 25  # not yet
    tasks.run_bulk_job(*args)  # what the worker does
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DONE and job.finished_at is not None
    assert (job.rows_done, job.rows_changed, job.last_pk) == (25, 25, many[-1].pk)
    assert Contact.objects.filter(sync_status=SyncStatus.SKIPPED).count() == 25
    assert SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.OPERATOR).count() == 25
    page = client.get(reverse("admin:crmsync_bulkjob_change", args=[job.pk])).content.decode()
    assert "Done" in page and "25" in page


def test_the_job_keeps_the_lists_filters(many, broker):
    Contact.objects.filter(pk__in=[r.pk for r in many[:10]]).update(sync_status=SyncStatus.HELD)
    client = logged_in(make_staff("settle_contact"))
    url = reverse(LIST) + "?sync_status__exact=held"
    data = {"action": "release_held", "_selected_action": [many[0].pk], "select_across": "1"}
    client.post(url, {**data, "confirm": "yes"})
    [(_, args)] = broker
    tasks.run_bulk_job(*args)
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 10
    assert Contact.objects.filter(sync_status=SyncStatus.FAILED).count() == 15
    job = BulkJob.objects.get()
    assert (job.rows_done, job.rows_changed) == (10, 10)


def test_a_redelivered_job_does_not_redo_finished_chunks(many):
    queryset = Contact.objects.all()
    job = services.record_bulk_job("skip", queryset, "operator")
    # A first delivery that died after two chunks: their rows and progress were committed.
    from crmsync.operations import bulk

    calls = {"n": 0}
    real = bulk._next_chunk

    def dies_after_two(job_id, qs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise SystemExit("worker killed")
        return real(job_id, qs)

    bulk._next_chunk = dies_after_two
    try:
        with pytest.raises(SystemExit):
            services.run_bulk_job(job.pk)
    finally:
        bulk._next_chunk = real
    job.refresh_from_db()
    assert (job.rows_done, job.status) == (8, BulkJob.Status.RUNNING)
    services.run_bulk_job(job.pk)  # redelivered
    services.run_bulk_job(job.pk)  # and once more after it finished
    job.refresh_from_db()
    assert (job.rows_done, job.rows_changed, job.status) == (25, 25, BulkJob.Status.DONE)
    assert SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.OPERATOR).count() == 25


def test_without_a_broker_the_job_runs_here(many, no_broker):
    client = logged_in(make_staff("sync_contact"))
    selected = many[:6]  # more than ADMIN_INLINE_MAX_ROWS (5)
    page = act(client, "queue_for_sync", selected, confirm="yes")
    assert page.status_code == 302
    job = BulkJob.objects.get()
    assert job.status == BulkJob.Status.DONE and job.rows_changed == 6
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 6


def test_a_small_selection_is_done_in_the_request(many, broker):
    act(logged_in(make_staff("sync_contact")), "queue_for_sync", many[:5])
    assert not broker and not BulkJob.objects.exists()
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 5


def test_bulk_jobs_are_read_only_in_the_admin(many):
    job = services.record_bulk_job("skip", Contact.objects.all(), "operator")
    client = logged_in(make_staff())
    url = reverse("admin:crmsync_bulkjob_change", args=[job.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"status": "done"}).status_code == 403
    assert client.get(reverse("admin:crmsync_bulkjob_add")).status_code == 403
