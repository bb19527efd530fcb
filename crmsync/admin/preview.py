"""The contacts' "Preview" action: what the sync would send for the selected rows, on a page
of its own, from the same dry run as ``crmsync_plan`` (``crmsync.sync.dryrun``). It sends
nothing, changes no row and needs only the view permission."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from ..models import Contact
from ..sync import dryrun

#: The page plans at most this many of the selected rows (the first by id).
PREVIEW_MAX_ROWS = 500


@admin.action(description="Preview what the sync would send (dry run)", permissions=["view"])
def preview(model_admin: Any, request: HttpRequest, queryset: QuerySet[Contact]) -> Any:
    rows = dryrun.rows_of(queryset.order_by("pk"), PREVIEW_MAX_ROWS + 1)
    capped = len(rows) > PREVIEW_MAX_ROWS
    result = dryrun.preview(rows[:PREVIEW_MAX_ROWS])
    requests = [
        {
            "request": r,
            "inputs": [
                {"item": i, "body": json.dumps(i.body, indent=1, sort_keys=True)} for i in r.inputs
            ],
        }
        for r in result.requests
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Preview: what the sync would send",
        "result": result,
        "requests": requests,
        "capped": capped,
        "max_rows": PREVIEW_MAX_ROWS,
    }
    return TemplateResponse(request, "admin/crmsync/contact/preview.html", context)
