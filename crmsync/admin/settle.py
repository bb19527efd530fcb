"""The page that settles one held contact: what was sent, a HubSpot lookup, or its id.

The lookup is the one place the admin calls HubSpot inside a request: a single search,
bounded (``operations.settle.LOOKUP_TIMEOUT_SECONDS``, the shared rate limiter), every
failure a message on this page. Every change is a POST with CSRF and needs
``crmsync.settle_contact``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import services
from ..models import Contact, SyncStatus

_TEMPLATE = "admin/crmsync/contact/settle.html"


def settle_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    if not request.user.has_perm("crmsync.settle_contact"):
        raise PermissionDenied
    contact = model_admin.get_object(request, unquote(object_id))
    if contact is None:
        raise Http404("No such contact.")
    change_url = reverse("admin:crmsync_contact_change", args=[contact.pk])
    sent = services.sent_properties(contact)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": Contact._meta,
        "title": f"Settle {contact}",
        "contact": contact,
        "held": contact.sync_status == SyncStatus.HELD,
        "sent": sorted(sent.items()),
        "change_url": change_url,
        "hubspot_id": "",
    }
    if request.method == "POST" and context["held"]:
        done = _post(request, contact, sent, context)
        if done:
            return HttpResponseRedirect(change_url)
    return TemplateResponse(request, _TEMPLATE, context)


def _post(request: HttpRequest, contact: Contact, sent: dict[str, str], context: dict) -> bool:
    """Handle one button of the page; True when the contact is settled."""
    username = request.user.get_username()
    step = request.POST.get("step", "")
    if step == "link":
        value = request.POST.get("hubspot_id", "")
        ok, text = services.settle_with_id(contact.pk, value, username)
        messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, text)
        context["hubspot_id"] = "" if ok else value[:40]
        return ok
    if step == "lookup":
        result = services.look_up_in_hubspot(sent)
        if result.error:
            messages.error(request, result.error)
        context["lookup"] = result
        return False
    if step == "release":
        if request.POST.get("confirm") != "yes":
            context["confirm_release"] = True
            return False
        queryset = Contact.objects.filter(pk=contact.pk)
        count = services.apply_operation("release_held", queryset, username)
        messages.add_message(
            request,
            messages.SUCCESS if count else messages.WARNING,
            "Released: it will be created again in HubSpot."
            if count
            else "It was no longer held: nothing was changed.",
        )
        return bool(count)
    messages.error(request, "Unknown step: nothing was changed.")
    return False
