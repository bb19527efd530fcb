"""The admin as a person uses it, one step a method, so a browser test reads like their steps:

    pages.login("admin", PASSWORD)
    pages.open_contacts(sync_status__exact="failed")
    pages.run_action("sync_now", [contact])
    assert pages.messages() == ["1 contacts queued and a sync task enqueued."]

Selectors are the Django admin's own markup (``#result_list``, ``td.field-<name>``,
``ul.messagelist``), not crmsync's, so they hold while crmsync's pages change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from tests.browser.remote import Remote, expect, navigate

PASSWORD = "browser-pw"
_CONFIRM = re.compile(r"yes|confirm|i.m sure|proceed|continue", re.IGNORECASE)


class AdminPages:
    def __init__(self, page: Remote, *, shots: Path, name: str) -> None:
        self.page = page
        self.shots = shots
        self.name = name

    # -- screenshots ---------------------------------------------------------------------
    def shot(self, label: str | None = None) -> Path:
        """Save the whole page as ``<test>.png``, or ``<test>-<label>.png``."""
        path = self.shots / (f"{self.name}-{label}.png" if label else f"{self.name}.png")
        if not self.page.is_closed():
            self.page.screenshot(path=str(path), full_page=True)
        return path

    # -- going places --------------------------------------------------------------------
    def open(self, url_name: str, *args: Any, **query: Any) -> Any:
        """Go to the admin page named ``admin:<url_name>``; returns its response."""
        url = reverse(f"admin:{url_name}", args=args)
        return self.page.goto(url + (f"?{urlencode(query)}" if query else ""))

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Through the admin's own login form."""
        self.open("login")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        navigate(self.page, "click", "form#login-form [type=submit]")
        expect(self.page.locator("#user-tools")).to_contain_text(username)

    def open_index(self) -> Any:
        return self.open("index")

    def open_dashboard(self) -> Any:
        return self.open("crmsync_dashboard")

    def open_contacts(self, **filters: Any) -> Any:
        return self.open("crmsync_contact_changelist", **filters)

    def open_contact(self, contact: Any) -> Any:
        return self.open("crmsync_contact_change", contact.pk)

    def open_pipeline(self) -> Any:
        return self.open("crmsync_pipelinestate_changelist")

    # -- what the page shows -------------------------------------------------------------
    def text(self) -> str:
        return self.page.inner_text("body")

    def apps(self) -> dict[str, list[str]]:
        """The admin index's apps as shown: ``{"HubSpot sync": ["Contacts", ...]}``."""
        found = {}
        for module in self.page.locator("#content-main .module").all():
            caption = module.locator("caption").inner_text().strip()
            found[caption.title()] = module.locator("th[scope=row]").all_inner_texts()
        return found

    def messages(self) -> list[str]:
        """The admin's messages ("3 contacts queued..."), in order."""
        return [m.strip() for m in self.page.locator("ul.messagelist li").all_inner_texts()]

    def rows(self) -> list[dict[str, str]]:
        """A change list's rows as the user reads them: ``{list_display name: text}``."""
        found = []
        for row in self.page.locator("#result_list tbody tr").all():
            cells = row.locator("[class*='field-']")
            found.append(
                {
                    _field(cells.nth(i).get_attribute("class") or ""): cells.nth(i)
                    .inner_text()
                    .strip()
                    for i in range(cells.count())
                }
            )
        return found

    def row(self, **match: str) -> dict[str, str]:
        """The one row whose cells hold these texts, e.g. ``row(email="ada@example.com")``."""
        hits = [r for r in self.rows() if all(r.get(k) == v for k, v in match.items())]
        assert len(hits) == 1, f"{len(hits)} rows match {match}: {self.rows()}"
        return hits[0]

    def overflow(self, selector: str = "#result_list") -> int:
        """How many pixels of ``selector`` lie past the page's right edge (0: it fits the
        1400 px viewport; the issue wants lists that fit)."""
        return int(
            self.page.evaluate(
                "s => { const e = document.querySelector(s); if (!e) return 0;"
                " return Math.max(0, e.getBoundingClientRect().right - innerWidth); }",
                selector,
            )
        )

    def actions(self) -> list[str]:
        """The names of the actions offered in a change list's action menu."""
        options = self.page.locator("select[name=action] option").all()
        return [v for o in options if (v := o.get_attribute("value"))]

    # -- doing things --------------------------------------------------------------------
    def run_action(self, name: str, rows: list[Any]) -> None:
        """Tick ``rows`` (model instances or pks) in the list, choose the action ``name``
        (its function name), press Go."""
        for row in rows:
            pk = getattr(row, "pk", row)
            self.page.check(f"#result_list input[name=_selected_action][value='{pk}']")
        self.page.select_option("select[name=action]", value=name)
        navigate(self.page, "click", "#changelist-form button[name=index]")

    def confirm(self) -> None:
        """Say yes on a confirmation page (the one button saying yes, confirm, proceed...)."""
        buttons = self.page.locator("#content form [type=submit]")
        for i in range(buttons.count()):
            button = buttons.nth(i)
            label = button.get_attribute("value") or button.inner_text()
            if _CONFIRM.search(label):
                navigate(button, "click")
                return
        raise AssertionError(f"no confirming button on {self.page.url}: {self.text()[:500]}")

    def fill(self, field: str, value: str) -> None:
        """Type ``value`` into a change form's field, replacing what it held."""
        self.page.fill(f"#id_{field}", value)

    def save(self) -> None:
        """Press a change form's Save; see ``messages()`` or ``errors()`` for what it said."""
        navigate(self.page, "click", "input[name=_save]")

    def follow(self, selector: str) -> None:
        """Click the link at ``selector`` and wait for its page."""
        navigate(self.page, "click", selector)

    def errors(self) -> list[str]:
        """A change form's errors, as shown next to its fields and above them."""
        return self.page.locator(".errorlist li, p.errornote").all_inner_texts()


def _field(css_class: str) -> str:
    return next((c[6:] for c in css_class.split() if c.startswith("field-")), css_class)


def login(pages: AdminPages, user: Any, password: str = PASSWORD) -> AdminPages:
    """Log ``user`` in through the admin's own login form, as a person would."""
    pages.login(user.username, password)
    return pages
