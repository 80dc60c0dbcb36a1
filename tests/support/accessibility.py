"""Accessibility checks of pages in Chromium with axe-core (Deque's engine, as shipped by the
``axe-playwright-python`` package: its ``axe.min.js`` comes from the package registry at
install time, never from this repository).

``assert_accessible(page, name)`` runs axe on the page as it is now and fails on any violation
of impact serious or critical, naming the rule, its help and the elements; every violation (of
any impact) is also written to ``test-artifacts/accessibility/NAME.txt`` for a look.
"""

from __future__ import annotations

__all__ = ["BLOCKING", "assert_accessible", "scriptless", "violations"]

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Route

from tests.support.charts import REPO

BLOCKING = frozenset({"serious", "critical"})
REPORTS = REPO / "test-artifacts" / "accessibility"
_AXE = Axe()
#: axe's default rules plus label-content-name-mismatch (WCAG 2.5.3, still marked experimental
#: by axe): a control's visible words are part of its accessible name, so "Reset password" is
#: spoken and clicked by voice as "Reset password…", not hidden behind another aria-label.
_OPTIONS: dict[str, Any] = {
    "resultTypes": ["violations"],
    "rules": {"label-content-name-mismatch": {"enabled": True}},
}
#: Pages of contexts with JavaScript off, where axe cannot run (``scriptless``).
_SCRIPTLESS: weakref.WeakSet[Page] = weakref.WeakSet()


def scriptless(page: Page) -> Page:
    """Mark ``page`` as one of a context with JavaScript off: its pages are checked as a copy
    of their HTML served at the same address to a page with JavaScript (styles and all)."""
    _SCRIPTLESS.add(page)
    return page


@contextmanager
def _scripted_copy(page: Page) -> Iterator[Page]:
    browser = page.context.browser
    assert browser is not None
    html, url = page.content(), page.url
    context = browser.new_context(viewport=page.viewport_size)

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    try:
        context.route(lambda address: address == url, serve)
        copy = context.new_page()
        copy.goto(url)
        yield copy
    finally:
        context.close()


def violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on ``page`` now (WCAG 2.x A/AA, best practices and the visible
    label inside the accessible name)."""
    found: list[dict[str, Any]] = _AXE.run(page, options=_OPTIONS).response["violations"]
    return found


def _described(violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
    return (
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        f"{len(targets)} element(s): {'; '.join(targets[:6])}"
    )


def assert_accessible(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on ``page`` (saved as ``name``)."""
    if page in _SCRIPTLESS:
        with _scripted_copy(page) as copy:
            found = violations(copy)
    else:
        found = violations(page)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{name}.txt").write_text(
        f"{page.url}\n" + "".join(_described(v) + "\n" for v in found), encoding="utf-8"
    )
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, f"{name} ({page.url}): " + " | ".join(map(_described, blocking))
