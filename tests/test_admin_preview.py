"""The contacts' "Preview" action: the dry run's plan on an admin page, for a user with the
view permission only; no row changed, no request to HubSpot."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from crmsync.models import Contact, SyncStatus
from crmsync.testing import sync_now
from tests.factories import ContactFactory
from tests.test_dry_run import sent_requests

pytestmark = pytest.mark.django_db
LIST = "admin:crmsync_contact_changelist"


def viewer() -> Client:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client = Client()
    client.force_login(user)
    return client


def preview(client: Client, contacts):
    data = {"action": "preview", "_selected_action": [c.pk for c in contacts]}
    return client.post(reverse(LIST), data)


def test_a_viewer_is_offered_the_preview_and_sees_the_plan(crmsync_sandbox):
    known = ContactFactory(email="known@example.com", firstname="Ada")
    sync_now()
    known.refresh_from_db()
    known.firstname = "Adah"
    known.save()
    new = ContactFactory(email="new@example.com")
    bad = ContactFactory(email="bad@example.com", properties={"notes": {"x": 1}})
    client = viewer()
    listing = client.get(reverse(LIST))
    assert b'value="preview"' in listing.content
    assert b'value="skip"' not in listing.content  # the other actions need their permission
    before = list(Contact.objects.order_by("pk").values())
    requests_before = sent_requests(crmsync_sandbox)
    response = preview(client, [known, new, bad])
    assert response.status_code == 200
    text = response.content.decode()
    assert "Preview: what the sync would send" in text
    assert "/crm/v3/objects/contacts/batch/update" in text
    assert "/crm/v3/objects/contacts/batch/create" in text
    assert '<code>firstname</code>: "Ada" &rarr; "Adah"' in text
    assert "new@example.com" in text
    assert "MAPPING_ERROR" in text and "notes: cannot send a value of type dict" in text
    assert "2 input(s) in 2 request(s) would be sent" in text
    assert list(Contact.objects.order_by("pk").values()) == before
    assert sent_requests(crmsync_sandbox) == requests_before


def test_nothing_to_send_says_so(crmsync_sandbox):
    row = ContactFactory(email="a@example.com")
    sync_now()
    response = preview(viewer(), [row])
    assert "nothing would be sent" in response.content.decode()
    assert Contact.objects.get(pk=row.pk).sync_status == SyncStatus.SYNCED


def test_without_the_view_permission_there_is_no_preview(crmsync_sandbox):
    user = User.objects.create_user("nobody", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    row = ContactFactory(email="a@example.com")
    assert preview(client, [row]).status_code == 403
