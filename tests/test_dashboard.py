"""The admin's dashboard: access, content, the banner on crmsync's pages, Pause and Resume."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from crmsync import health, services
from crmsync.admin import dashboard
from crmsync.models import BulkJob, Contact, PipelineState, SyncAttempt, SyncBatch, SyncStatus
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "admin:crmsync_dashboard"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: False)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Sync tasks the dashboard enqueued (none reaches a broker)."""
    from crmsync.admin import dashboard

    sent: list[int] = []
    monkeypatch.setattr(dashboard, "enqueue_sync", lambda: sent.append(1) is None)
    return sent


def staff_user(*codenames: str, username: str = "operator") -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def viewer(client):
    client.force_login(staff_user("view_contact"))
    return client


@pytest.fixture
def manager(client):
    client.force_login(staff_user("view_contact", "manage_pipeline", "sync_contact"))
    return client


def page(client) -> str:
    response = client.get(reverse(URL))
    assert response.status_code == 200
    return response.content.decode()


def test_the_url_name_and_the_admin_index_entry(admin_client, crmsync_settings):
    assert reverse(URL) == "/admin/crmsync/dashboard/"
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse(URL)}"' in index and "Dashboard" in index


def test_a_viewer_sees_counts_chart_and_errors(viewer, crmsync_settings):
    ContactFactory.create_batch(3)
    failed = ContactFactory(email="x@example.com")
    Contact.objects.filter(pk=failed.pk).update(
        sync_status=SyncStatus.FAILED,
        sync_error_category="VALIDATION_ERROR",
        sync_error="Email x is invalid",
    )
    ok = SyncBatch.objects.create(endpoint="create", http_status=201, success_count=3)
    html = page(viewer)
    assert '<span class="n">3</span><span class="label">Pending</span>' in html
    assert '<span class="n">1</span><span class="label">Failed</span>' in html
    assert reverse("admin:crmsync_contact_changelist") + "?sync_status=failed" in html
    assert "<svg" in html and "Contacts synced per minute" in html and "<title>" in html
    assert reverse("admin:crmsync_syncbatch_change", args=[ok.pk]) in html
    assert "Email x is invalid" in html and "VALIDATION_ERROR" in html
    assert "sync_error_category=VALIDATION_ERROR" in html
    assert "Working." in html
    # a viewer without the permissions sees no buttons
    assert 'value="Pause"' not in html and "Queue these again" not in html


def test_the_error_link_filters_the_contact_list(admin_client, crmsync_settings):
    a, b = ContactFactory.create_batch(2)
    Contact.objects.filter(pk=a.pk).update(
        sync_status=SyncStatus.FAILED, sync_error_category="X_CAT", sync_error="msg a"
    )
    Contact.objects.filter(pk=b.pk).update(
        sync_status=SyncStatus.FAILED, sync_error_category="X_CAT", sync_error="msg b"
    )
    from crmsync.admin.dashboard import _error_url

    url = _error_url(health.ErrorGroup("X_CAT", "msg a", 1))
    response = admin_client.get(url)
    assert response.status_code == 200
    listed = [c.pk for c in response.context["cl"].result_list]
    assert listed == [a.pk]


def test_staff_without_the_view_permission_is_refused(client, crmsync_settings):
    client.force_login(staff_user("view_syncbatch"))
    assert client.get(reverse(URL)).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse(URL) not in index


def test_anonymous_goes_to_the_login_page(client):
    response = client.get(reverse(URL))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_banner_shows_on_crmsync_pages_when_paused(viewer, crmsync_settings):
    changelist = reverse("admin:crmsync_contact_changelist")
    assert "crmsync-banner" not in viewer.get(changelist).content.decode()
    services.pause_pipeline(PipelineState.Reason.AUTH, "HubSpot refused the token")
    for url in (
        changelist,
        reverse("admin:crmsync_contact_change", args=[ContactFactory().pk]),
        reverse("admin:app_list", args=["crmsync"]),
    ):
        html = viewer.get(url).content.decode()
        assert "crmsync-banner" in html, url
        assert "HubSpot refused the token" in html and reverse(URL) in html
    assert "Needs attention" in page(viewer)


def test_the_banner_shows_when_no_worker_is_alive(viewer, crmsync_settings, monkeypatch):
    monkeypatch.setattr(health, "broker_configured", lambda: True)
    html = viewer.get(reverse("admin:crmsync_contact_changelist")).content.decode()
    assert "crmsync-banner" in html and "No Celery worker is alive" in html


def test_the_pipeline_page_shows_running_before_the_first_pause(admin_client, crmsync_settings):
    PipelineState.objects.all().delete()
    html = admin_client.get(reverse("admin:crmsync_pipelinestate_changelist")).content.decode()
    assert "running" in html and PipelineState.objects.filter(pk=1).exists()


def test_pause_and_resume_with_csrf(crmsync_settings, enqueued):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user("view_contact", "manage_pipeline"))
    html = page(client)
    assert 'value="Pause"' in html
    token = client.cookies["csrftoken"].value
    pause = reverse("admin:crmsync_dashboard_pause")
    assert client.post(pause, {"message": "deploy"}).status_code == 403  # no CSRF token
    assert not services.pipeline_state().paused
    response = client.post(pause, {"message": "deploy", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    state = services.pipeline_state()
    assert state.paused and state.reason == "manual" and state.message == "deploy (operator)"
    html = client.get(reverse(URL)).content.decode()
    assert 'value="Resume"' in html and "deploy (operator)" in html
    response = client.post(
        reverse("admin:crmsync_dashboard_resume"), {"csrfmiddlewaretoken": token}, follow=True
    )
    assert not services.pipeline_state().paused
    assert "Sending resumed." in response.content.decode()
    assert "A sync task is enqueued." in response.content.decode() and enqueued == [1]


def test_pause_needs_a_reason_and_get_changes_nothing(manager, crmsync_settings):
    pause = reverse("admin:crmsync_dashboard_pause")
    assert manager.get(pause).status_code == 405
    manager.post(pause, {"message": "  "})
    assert not services.pipeline_state().paused
    manager.post(pause, {"message": "a\x00b" + "x" * 900})  # a NUL is no 500
    state = services.pipeline_state()
    assert state.paused and "\x00" not in state.message and len(state.message) < 600


def test_pause_and_resume_need_manage_pipeline(viewer, crmsync_settings):
    assert (
        viewer.post(reverse("admin:crmsync_dashboard_pause"), {"message": "x"}).status_code == 403
    )
    services.pause_pipeline(PipelineState.Reason.MANUAL, "x")
    assert viewer.post(reverse("admin:crmsync_dashboard_resume")).status_code == 403
    assert services.pipeline_state().paused


def test_resume_refuses_a_daily_pause_before_its_reset(manager, crmsync_settings):
    until = timezone.now() + dt.timedelta(hours=3)
    services.pause_pipeline(PipelineState.Reason.DAILY_LIMIT, "daily limit", until=until)
    response = manager.post(reverse("admin:crmsync_dashboard_resume"), follow=True)
    assert services.pipeline_state().paused
    assert "Not resumed: HubSpot&#x27;s daily limit resets at" in response.content.decode()
    PipelineState.objects.update(paused_until=timezone.now() - dt.timedelta(minutes=1))
    response = manager.post(reverse("admin:crmsync_dashboard_resume"), follow=True)
    assert not services.pipeline_state().paused
    assert "daily limit has reset" in response.content.decode()


def test_resume_after_an_auth_pause_probes_the_token(manager, crmsync_settings, hubspot_sandbox):
    services.pause_pipeline(PipelineState.Reason.AUTH, "HubSpot refused the token")
    with override_settings(CRMSYNC={**crmsync_settings, "ACCESS_TOKEN": "wrong-token"}):
        response = manager.post(reverse("admin:crmsync_dashboard_resume"), follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "Not resumed: HubSpot still refuses the token" in html
    assert "wrong-token" not in html
    assert services.pipeline_state().paused
    response = manager.post(reverse("admin:crmsync_dashboard_resume"), follow=True)
    assert "HubSpot accepts the token again" in response.content.decode()
    assert not services.pipeline_state().paused


def test_resume_with_hubspot_unreachable_is_a_message_not_a_500(manager, crmsync_settings):
    services.pause_pipeline(PipelineState.Reason.AUTH, "refused")
    with override_settings(CRMSYNC={**crmsync_settings, "API_BASE_URL": "http://127.0.0.1:9"}):
        response = manager.post(reverse("admin:crmsync_dashboard_resume"), follow=True)
    assert response.status_code == 200
    assert "could not be checked" in response.content.decode()


def test_queue_these_again(manager, crmsync_settings, enqueued):
    rows = ContactFactory.create_batch(2)
    Contact.objects.filter(pk__in=[r.pk for r in rows]).update(
        sync_status=SyncStatus.FAILED, sync_error_category="CAT", sync_error="boom"
    )
    html = page(manager)
    assert "Queue these again" in html
    response = manager.post(
        reverse("admin:crmsync_dashboard_queue"),
        {"category": "CAT", "message": "boom"},
        follow=True,
    )
    assert "2 contacts queued again" in response.content.decode()
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 2
    assert enqueued == [1]


def test_queue_these_again_leaves_a_note_on_each_row(manager, crmsync_settings, enqueued):
    row = ContactFactory()
    Contact.objects.filter(pk=row.pk).update(sync_status=SyncStatus.FAILED, sync_error_category="C")
    manager.post(reverse("admin:crmsync_dashboard_queue"), {"category": "C"})
    (note,) = SyncAttempt.objects.filter(contact=row, outcome=SyncAttempt.Outcome.OPERATOR)
    assert "queued again" in note.error_message and "(by " in note.error_message


def test_queue_these_again_over_many_rows_is_a_bulk_job(
    manager, crmsync_settings, enqueued, monkeypatch
):
    """More rows than ADMIN_INLINE_MAX_ROWS: the request records a bulk job for a task (here
    its broker is a list) and changes nothing itself."""
    published = []
    monkeypatch.setattr(
        dashboard, "start_bulk_job", lambda job_id: published.append(job_id) or True
    )
    rows = ContactFactory.create_batch(3)
    Contact.objects.filter(pk__in=[r.pk for r in rows]).update(
        sync_status=SyncStatus.FAILED, sync_error_category="CAT"
    )
    with override_settings(CRMSYNC={**crmsync_settings, "ADMIN_INLINE_MAX_ROWS": 2}):
        response = manager.post(
            reverse("admin:crmsync_dashboard_queue"), {"category": "CAT"}, follow=True
        )
    (job,) = BulkJob.objects.all()
    assert published == [job.pk] and job.action == "queue_for_sync"
    assert f"Bulk job #{job.pk}" in response.content.decode()
    assert Contact.objects.filter(sync_status=SyncStatus.FAILED).count() == 3
    services.run_bulk_job(job.pk)  # what the worker does
    assert Contact.objects.filter(sync_status=SyncStatus.PENDING).count() == 3


def test_queue_again_needs_sync_contact(viewer, crmsync_settings):
    row = ContactFactory()
    Contact.objects.filter(pk=row.pk).update(sync_status=SyncStatus.FAILED, sync_error_category="C")
    response = viewer.post(reverse("admin:crmsync_dashboard_queue"), {"category": "C"})
    assert response.status_code == 403
    assert Contact.objects.get(pk=row.pk).sync_status == SyncStatus.FAILED


def test_an_error_groups_link_lists_exactly_its_contacts(admin_client, crmsync_settings):
    import html as htmllib
    import re

    rows = ContactFactory.create_batch(3)
    for row, message in zip(
        rows, ['"a@x" is an invalid email', '"b@y" is an invalid email', "gone"], strict=True
    ):
        Contact.objects.filter(pk=row.pk).update(
            sync_status=SyncStatus.FAILED, sync_error_category="V", sync_error=message
        )
    links = re.findall(r'href="([^"]*error_like=[^"]*)"', page(admin_client))
    (link,) = [u for u in links if "invalid" in u]
    listed = admin_client.get(htmllib.unescape(link)).content.decode()
    assert rows[0].email in listed and rows[1].email in listed
    assert rows[2].email not in listed
