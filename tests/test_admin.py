"""The operator's admin: lists, history, actions and permissions."""

from __future__ import annotations

import importlib

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import clear_url_caches, reverse

import crmsync
from crmsync import registry, services
from crmsync.models import Contact, PipelineState, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory
from tests.hostapp.models import Customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(crmsync_settings, hubspot_sandbox):
    good = ContactFactory(email="good@example.com")
    bad = ContactFactory(email="bad-address")
    services.sync_pending()
    good.refresh_from_db()
    bad.refresh_from_db()
    return good, bad


@pytest.fixture
def staff(client):
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    for codename in (
        "view_contact",
        "change_contact",
        "view_syncbatch",
        "view_syncattempt",
        "view_pipelinestate",
        "change_pipelinestate",
    ):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def grant(user, codename):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return User.objects.get(pk=user.pk)


def test_contact_list_shows_status_id_and_error(admin_client, synced):
    good, bad = synced
    page = admin_client.get(reverse("admin:crmsync_contact_changelist")).content.decode()
    assert good.hubspot_id in page
    assert bad.sync_error[:60] in page
    assert "bad-address" in page and "Email address bad-address is invalid" in page
    failed = admin_client.get(
        reverse("admin:crmsync_contact_changelist"), {"sync_status__exact": "failed"}
    ).content.decode()
    assert "bad-address" in failed and "good@example.com" not in failed
    found = admin_client.get(
        reverse("admin:crmsync_contact_changelist"), {"q": good.hubspot_id}
    ).content.decode()
    assert "good@example.com" in found and "bad-address" not in found


def test_contact_page_shows_its_attempts(admin_client, synced):
    _, bad = synced
    page = admin_client.get(reverse("admin:crmsync_contact_change", args=[bad.pk])).content
    assert b"Sync attempts" in page and b"is invalid" in page and b"Failed" in page


def test_history_is_read_only_and_shows_per_contact_outcomes(
    admin_client, synced, crmsync_settings
):
    batch = SyncBatch.objects.get()
    page = admin_client.get(reverse("admin:crmsync_syncbatch_change", args=[batch.pk]))
    text = page.content.decode()
    assert batch.correlation_id in text and "Per-contact outcomes" in text
    assert "good@example.com" in text and "bad-address" in text
    assert crmsync_settings["ACCESS_TOKEN"] not in text
    assert 'name="_save"' not in text  # view only: no save button
    assert admin_client.get(reverse("admin:crmsync_syncbatch_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:crmsync_syncbatch_delete", args=[batch.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    attempt = SyncAttempt.objects.first()
    assert (
        admin_client.post(
            reverse("admin:crmsync_syncattempt_change", args=[attempt.pk]), {"outcome": "created"}
        ).status_code
        == 403
    )


def test_queue_action_needs_the_custom_permission(client, staff, synced):
    good, _ = synced
    url = reverse("admin:crmsync_contact_changelist")
    data = {"action": "queue_for_sync", "_selected_action": [good.pk]}
    page = client.get(url).content.decode()
    assert "queue_for_sync" not in page  # not offered without crmsync.sync_contact
    client.post(url, data)
    good.refresh_from_db()
    assert good.sync_status == SyncStatus.SYNCED
    grant(staff, "sync_contact")
    assert "queue_for_sync" in client.get(url).content.decode()
    client.post(url, data)
    good.refresh_from_db()
    assert good.sync_status == SyncStatus.PENDING


def test_sync_now_queues_without_calling_hubspot(admin_client, synced, hubspot_sandbox):
    good, _ = synced
    before = hubspot_sandbox.stats()["requests_total"]
    response = admin_client.post(
        reverse("admin:crmsync_contact_changelist"),
        {"action": "sync_now", "_selected_action": [good.pk]},
        follow=True,
    )
    assert response.status_code == 200
    good.refresh_from_db()
    assert good.sync_status == SyncStatus.PENDING
    assert hubspot_sandbox.stats()["requests_total"] == before


def test_resume_action(client, staff):
    services.pause_pipeline(PipelineState.Reason.AUTH, "HTTP 401 INVALID_AUTHENTICATION")
    url = reverse("admin:crmsync_pipelinestate_changelist")
    page = client.get(url).content.decode()
    assert "INVALID_AUTHENTICATION" in page
    client.post(url, {"action": "resume", "_selected_action": [1]})
    assert PipelineState.objects.get().paused  # no crmsync.manage_pipeline yet
    grant(staff, "manage_pipeline")
    client.post(url, {"action": "resume", "_selected_action": [1]})
    assert not PipelineState.objects.get().paused


def test_the_resume_action_refuses_while_the_cause_persists(admin_client):
    import datetime as dt

    from django.utils import timezone

    until = timezone.now() + dt.timedelta(hours=2)
    services.pause_pipeline(PipelineState.Reason.DAILY_LIMIT, "daily limit", until=until)
    url = reverse("admin:crmsync_pipelinestate_changelist")
    page = admin_client.post(url, {"action": "resume", "_selected_action": [1]}, follow=True)
    assert "Not resumed" in page.content.decode()
    assert PipelineState.objects.get().paused


def test_release_held_action(admin_client):
    (row,) = Contact.objects.bulk_create([Contact(email="", firstname="Held")])
    Contact.objects.filter(pk=row.pk).update(sync_status=SyncStatus.HELD, needs_reconcile=True)
    data = {"action": "release_held", "_selected_action": [row.pk]}
    page = admin_client.post(reverse("admin:crmsync_contact_changelist"), data)
    assert b"can create duplicates" in page.content  # confirmed first (tests/test_admin_actions)
    admin_client.post(reverse("admin:crmsync_contact_changelist"), {**data, "confirm": "yes"})
    row.refresh_from_db()
    assert row.sync_status == SyncStatus.PENDING and not row.needs_reconcile


def test_editing_a_contact_in_the_admin_requeues_it(admin_client, synced):
    good, _ = synced
    url = reverse("admin:crmsync_contact_change", args=[good.pk])
    response = admin_client.post(
        url,
        {
            "email": good.email,
            "firstname": "Renamed",
            "lastname": good.lastname,
            "phone": "",
            "company": "",
            "lifecyclestage": "lead",
            "properties": "{}",
            "associations": "[]",
            "sync_attempts_log-TOTAL_FORMS": "0",
            "sync_attempts_log-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    good.refresh_from_db()
    assert good.firstname == "Renamed"
    assert good.sync_status == SyncStatus.PENDING and good.hubspot_id


@pytest.fixture
def mirrored(crmsync_settings):
    """A registered host row (tests.hostapp's Customer) and its mirror."""
    crmsync.register(
        Customer,
        properties={"email": "email", "firstname": "first_name", "lastname": "last_name"},
    )
    try:
        customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
        own = ContactFactory(email="own@example.com")
        yield customer, Contact.objects.get(source="hostapp.customer"), own
    finally:
        registry.unregister(Customer)


@pytest.fixture
def customer_admin():
    """The host model with an admin of its own, as a host project's would have (the URLs
    are read again: admin.site.urls is evaluated when the urlconf is imported)."""
    import project.urls

    admin.site.register(Customer)
    try:
        importlib.reload(project.urls)
        clear_url_caches()
        yield
    finally:
        admin.site.unregister(Customer)
        importlib.reload(project.urls)
        clear_url_caches()


def test_a_mirror_is_read_only_and_names_its_source(admin_client, mirrored):
    customer, mirror, _ = mirrored
    url = reverse("admin:crmsync_contact_change", args=[mirror.pk])
    page = admin_client.get(url).content.decode()
    assert f"hostapp.customer #{customer.pk}" in page
    assert "edit that row" in page
    assert 'name="firstname"' not in page and 'name="email"' not in page
    assert f">hostapp.customer #{customer.pk}</a>" not in page  # no admin for it: no link
    data = {"firstname": "Changed", "email": "other@example.com", "lastname": "X"}
    data.update({"sync_attempts_log-TOTAL_FORMS": "0", "sync_attempts_log-INITIAL_FORMS": "0"})
    admin_client.post(url, data)
    mirror.refresh_from_db()
    assert (mirror.firstname, mirror.email, mirror.lastname) == ("Ada", "ada@example.com", "")


def test_a_mirror_links_to_its_host_row_when_the_admin_has_its_model(
    admin_client, mirrored, customer_admin
):
    customer, mirror, _ = mirrored
    link = reverse("admin:hostapp_customer_change", args=[customer.pk])
    expected = f'<a href="{link}">hostapp.customer #{customer.pk}</a>'
    page = admin_client.get(reverse("admin:crmsync_contact_change", args=[mirror.pk]))
    assert expected in page.content.decode()
    listing = admin_client.get(reverse("admin:crmsync_contact_changelist"))
    assert expected in listing.content.decode()


def test_the_list_shows_and_filters_by_source(admin_client, mirrored):
    customer, _, _ = mirrored
    url = reverse("admin:crmsync_contact_changelist")
    page = admin_client.get(url).content.decode()
    assert f"hostapp.customer #{customer.pk}" in page and "own@example.com" in page
    assert "crmsync&#x27;s own contacts" in page  # the filter's choices
    mirrors = admin_client.get(url, {"source": "hostapp.customer"}).content.decode()
    assert "ada@example.com" in mirrors and "own@example.com" not in mirrors
    own = admin_client.get(url, {"source": "-"}).content.decode()
    assert "own@example.com" in own and "ada@example.com" not in own


def test_an_own_contact_stays_editable(admin_client, mirrored):
    _, _, own = mirrored
    page = admin_client.get(reverse("admin:crmsync_contact_change", args=[own.pk]))
    text = page.content.decode()
    assert 'name="firstname"' in text and 'name="email"' in text
    assert "edit that row" not in text
