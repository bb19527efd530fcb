"""``{% crmsync_health_banner %}``: the banner crmsync's admin pages show when the sync is
not working (paused, no live worker, backlog too old), linking to the dashboard."""

from __future__ import annotations

import logging
from typing import Any

from django import template
from django.db import DatabaseError
from django.urls import reverse

from .. import health

logger = logging.getLogger(__name__)
register = template.Library()


@register.inclusion_tag("admin/crmsync/health_banner.html", takes_context=True)
def crmsync_health_banner(context: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("crmsync.view_contact"):
        return {"problems": ()}
    try:
        problems = health.checks().problems
    except DatabaseError:  # a page must still render while the database misbehaves
        logger.warning("crmsync: the health banner could not be computed", exc_info=True)
        return {"problems": ()}
    return {"problems": problems, "dashboard_url": reverse("admin:crmsync_dashboard")}
