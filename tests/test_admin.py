"""The operator's admin: lists, history, actions and permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from crmsync import services
from crmsync.models import Contact, PipelineState, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory

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


def test_release_held_action(admin_client):
    (row,) = Contact.objects.bulk_create([Contact(email="", firstname="Held")])
    Contact.objects.filter(pk=row.pk).update(sync_status=SyncStatus.HELD, needs_reconcile=True)
    admin_client.post(
        reverse("admin:crmsync_contact_changelist"),
        {"action": "release_held", "_selected_action": [row.pk]},
    )
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
