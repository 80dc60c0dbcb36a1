"""Single sign-on in Debian's Chromium: the sign-in page's button, the provider's page
(oidc-provider-mock), and back signed in with the groups claim's rights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from oidc_provider_mock import User
from playwright.sync_api import Browser, expect, sync_playwright

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access
from helmforge.services.settings import OidcSettings
from tests.support.accessibility import assert_accessible
from tests.support.apps import make_app
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, mock_provider
from tests.support.servers import serve
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

FRANK = User(sub="frank-1", claims={"preferred_username": "frank", "groups": ["platform-sre"]})


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"Debian's Chromium is missing at {CHROMIUM}: apt-get install chromium"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def test_sign_in_through_the_provider_page_in_chromium(chromium: Browser, tmp_path: Path) -> None:
    with mock_provider([FRANK]) as issuer:
        settings = OidcSettings(issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        app, _ = make_app(
            f"sqlite:///{tmp_path / 'helmforge.db'}",
            tmp_path,
            with_web=True,
            seed_examples=False,
            oidc=settings,
        )
        sessions = state_of(app).sessions
        access.add_binding(
            sessions, subject="group:platform-sre", role="admin", scope="*/*/*/*", actor=SYSTEM
        )
        try:
            with serve(app) as url:
                context = chromium.new_context(
                    base_url=url, viewport={"width": 1280, "height": 900}
                )
                page = context.new_page()
                page.goto("/templates")
                expect(page).to_have_url("/login?next=/templates")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "sso-login.png"), full_page=True)
                assert_accessible(page, "sso-login")
                page.get_by_role("link", name="Sign in with single sign-on").click()
                expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
                page.get_by_role("button", name="Authorize as frank-1").click()
                expect(page.get_by_role("heading", name="Templates")).to_be_visible()
                assert page.url == f"{url}/templates"
                # The group binding makes frank@sso an admin: the users page opens.
                page.goto("/users")
                expect(page.get_by_text("frank@sso").first).to_be_visible()
                page.screenshot(path=str(SCREENSHOTS / "sso-signed-in.png"), full_page=True)
                assert_accessible(page, "sso-signed-in")
                # An SSO user has no password here: the Account page offers no form for one.
                page.goto("/account")
                expect(page.get_by_text("You have no password in helmforge")).to_be_visible()
                expect(page.get_by_role("heading", name="Change password")).to_have_count(0)
                expect(page.locator("input[type=password]")).to_have_count(0)
                page.screenshot(path=str(SCREENSHOTS / "sso-account.png"), full_page=True)
                assert_accessible(page, "sso-account")
                context.close()
        finally:
            sessions.kw["bind"].dispose()
