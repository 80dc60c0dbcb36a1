"""The UI in Debian's Chromium driven by Playwright: the whole template-to-chart workflow.

Every page visited is saved at 1280 and 390 px wide into test-artifacts/screenshots/ and
checked there with axe-core (tests/support/accessibility.py): no serious or critical violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.accessibility import assert_accessible, scriptless
from tests.support.charts import EXAMPLE, REPO
from tests.support.helm import assert_helm_lints
from tests.support.layout import line_count
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"Debian's Chromium is missing at {CHROMIUM}: apt-get install chromium"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    opened = context.new_page()
    yield opened
    context.close()


def shoot(page: Page, name: str) -> None:
    """Save the page at every width (full height) and check it with axe-core at each (no
    serious or critical violation), then return to the desktop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        assert_accessible(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def sign_in(page: Page) -> None:
    page.goto("/templates")
    expect(page).to_have_url("/login?next=/templates")
    shoot(page, "01-login")
    page.get_by_label("User name").fill(ADMIN_NAME)
    page.get_by_label("Password").fill("wrong password, twice")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid user name or password")
    shoot(page, "02-login-failed")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Templates")).to_be_visible()


def test_template_to_chart_workflow(page: Page, tmp_path: Path) -> None:
    sign_in(page)
    shoot(page, "03-templates-empty")

    page.get_by_role("link", name="New template").click()
    page.get_by_label("Template YAML").fill(EXAMPLE.read_text())
    shoot(page, "04-template-new")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft 1.2.0 created")
    shoot(page, "05-template-edit")

    editor = page.get_by_label("Template YAML")
    original = editor.input_value()
    editor.fill(
        original.replace("replicas: ${values.replicaCount}", "replicas: ${values.replicaCont}")
    )
    page.get_by_role("button", name="Save draft").click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("replicaCont")
    broken_line = next(
        number
        for number, text in enumerate(original.splitlines(), 1)
        if "replicas: ${values" in text
    )
    expect(problems.locator(f'a.goto-line[data-line="{broken_line}"]')).to_be_visible()
    expect(page.get_by_text(f"!{broken_line}", exact=True)).to_have_count(1)
    shoot(page, "06-template-validation-error")
    page.set_viewport_size({"width": 390, "height": 900})
    for path in problems.locator("li code").all_inner_texts():
        for key in re.split(r"[.\[]", path):  # a value path wraps between its keys only
            assert line_count(problems.locator("li code", has_text=path), key) == 1, (path, key)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Template YAML").fill(
        original.replace("Pods to run when", "Pods that run when")
    )
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: revision 2")

    page.get_by_role("link", name="Back to versions").click()
    shoot(page, "07-template-versions")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Publish 1.2.0").click()
    expect(page.get_by_role("status")).to_contain_text("1.2.0 published")
    shoot(page, "08-template-published")

    page.get_by_role("link", name="Generate chart").click()
    expect(page.get_by_role("heading", name="Generate Helm Chart")).to_be_visible()
    page.get_by_label("Product").fill("shop")
    page.get_by_label("Customer").fill("acme")
    page.get_by_label("Environment").select_option("prod")
    page.get_by_label("Instance").fill("a1")
    page.get_by_label("Application version").fill("3.4.0")
    shoot(page, "09-generate-context")
    page.get_by_role("button", name="Show effective values").click()
    values_table = page.locator("table.values")
    expect(values_table.locator("tr", has_text="replicaCount")).to_contain_text(
        "layer: environment = prod"
    )
    expect(values_table.locator("tr", has_text="containerPort")).to_contain_text("default")
    shoot(page, "10-generate-values")

    page.locator("#f-v-replicaCount").fill("three")
    page.get_by_role("button", name="Generate Helm Chart").click()
    expect(page.locator("#f-v-replicaCount-error")).to_contain_text("not a whole number")
    shoot(page, "11-generate-invalid-value")

    page.locator("#f-v-replicaCount").fill("4")
    page.locator("#f-v-service-type").select_option("NodePort")
    page.get_by_role("button", name="Generate Helm Chart").click()
    expect(page.get_by_role("heading", name="Chart shop-acme-prod-a1 3.4.0")).to_be_visible()
    expect(page.locator("details.file summary", has_text="values.schema.json")).to_be_visible()
    expect(page.locator("details.file", has_text="values.yaml").first).to_contain_text(
        "replicaCount: 4"
    )
    shoot(page, "12-chart-preview")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download shop-acme-prod-a1-3.4.0.tgz").click()
    archive = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(archive)
    assert archive.name == "shop-acme-prod-a1-3.4.0.tgz"
    # Playwright's sync API keeps an event loop running in this thread; Helm's runs its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(assert_helm_lints, archive).result()

    page.get_by_role("link", name="API tokens", exact=True).click()
    page.get_by_label("Name").fill("ci-pipeline")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("shown only once")
    assert page.get_by_label("Token", exact=True).input_value().startswith("hf_")
    shoot(page, "14-token-created")
    page.get_by_role("button", name="Revoke ci-pipeline").click()
    expect(page.locator("table")).to_contain_text("revoked")

    for name, link in (
        ("13-builds", "Builds"),
        ("14-tokens", "API tokens"),
        ("15-users", "Users"),
        ("16-audit", "Audit log"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        shoot(page, name)
    expect(page.locator("table.audit")).to_contain_text("chart.build")

    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("User name").fill("erin")
    page.get_by_label("Password for the first sign-in").fill("erins initial password")
    page.get_by_role("button", name="Create user").click()
    erin = page.locator("tr", has_text="erin")
    for width in WIDTHS:  # the button, then its option: a checkbox centred on its words
        page.set_viewport_size({"width": width, "height": 900})
        button = erin.get_by_role("button", name="Reset password of erin").bounding_box()
        box = erin.get_by_role("checkbox").bounding_box()
        words = erin.get_by_text("and revoke their API tokens").bounding_box()
        assert button is not None
        assert box is not None
        assert words is not None
        assert button["y"] + button["height"] <= box["y"] or button["x"] < box["x"]
        assert abs((box["y"] + box["height"] / 2) - (words["y"] + words["height"] / 2)) < 2
    page.set_viewport_size({"width": 1280, "height": 900})
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Reset password of erin").click()
    expect(page.locator("#new-password-notice")).to_have_count(0)  # dismissed: nothing sent
    assert asked == ["Reset the password of erin? Their web sessions end at once."]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset password of erin").click()
    expect(page.locator("#new-password-notice")).to_contain_text("shown only once")
    assert len(page.get_by_label("One-time password").input_value()) >= 20
    shoot(page, "15-users-password-reset")


def test_compare_versions_and_stale_edit_in_the_browser(
    page: Page, live_server: LiveServer
) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import template_store

    text = EXAMPLE.read_text()
    template_store.create_version(live_server.sessions, text, actor=SYSTEM)
    template_store.publish_version(live_server.sessions, "web-service", "1.2.0", actor=SYSTEM)
    newer = text.replace("version: 1.2.0", "version: 1.3.0").replace(
        "default: nginx", "default: traefik"
    )
    template_store.create_version(live_server.sessions, newer, actor=SYSTEM)
    sign_in(page)
    page.goto("/templates/web-service")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("tr.diff-add", has_text="default: traefik")).to_have_count(1)
    expect(page.locator("tr.diff-del", has_text="version: 1.2.0")).to_have_count(1)
    shoot(page, "17-template-diff")

    page.goto("/templates/web-service/1.3.0/edit")
    template_store.update_draft(
        live_server.sessions,
        "web-service",
        "1.3.0",
        newer.replace("default: traefik", "default: haproxy"),
        expected_revision=1,
        actor=SYSTEM,
    )
    page.get_by_label("Template YAML").fill(newer.replace("default: traefik", "default: envoy"))
    page.get_by_role("button", name="Save draft").click()
    conflict = page.locator("#conflict")
    expect(conflict).to_contain_text("409")
    expect(conflict).to_contain_text("haproxy")
    expect(page.get_by_label("Template YAML")).to_have_value(
        newer.replace("default: traefik", "default: envoy")
    )
    shoot(page, "18-template-conflict")


def test_session_cookie_flags_and_csrf_refusal_in_the_browser(page: Page) -> None:
    sign_in(page)
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["helmforge_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain HTTP on loopback; Secure is set under TLS
    assert "helmforge_session" not in page.evaluate("document.cookie")
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({content: "x"});
            const response = await fetch("/templates/new", {method: "POST", body});
            return [response.status, await response.text()];
        }"""
    )
    assert status[0] == 403
    assert "CSRF token is missing or wrong" in status[1]
    page.goto("/templates")
    expect(page.get_by_text("No templates yet.")).to_be_visible()


def test_required_value_is_asked_for_in_the_browser(page: Page, live_server: LiveServer) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import template_store

    template_store.create_version(live_server.sessions, EXAMPLE.read_text(), actor=SYSTEM)
    template_store.publish_version(live_server.sessions, "web-service", "1.2.0", actor=SYSTEM)
    sign_in(page)
    shoot(page, "19-templates-list")
    page.get_by_role("link", name="1.2.0: generate a chart").click()
    page.get_by_label("Product").fill("shop")
    page.get_by_label("Customer").fill("globex")
    page.get_by_label("Environment").select_option("sit")  # no layer sets ingress.host for sit
    page.get_by_label("Instance").fill("01")
    page.get_by_label("Application version").fill("1.0.0")
    page.get_by_role("button", name="Show effective values").click()
    expect(page.locator("table.values tr", has_text="ingress.host")).to_contain_text("required")
    page.get_by_role("button", name="Generate Helm Chart").click()
    expect(page.locator("#f-v-ingress-host-error")).to_have_text("a value is required")
    expect(page.locator("#f-v-ingress-host")).to_have_attribute("aria-invalid", "true")
    shoot(page, "20-generate-required-value")
    page.locator("#f-v-ingress-host").fill("shop.globex.example.com")
    page.get_by_role("button", name="Generate Helm Chart").click()
    expect(page.get_by_role("heading", name="Chart shop-globex-sit-01 1.0.0")).to_be_visible()


def _template_with_a_list_of_strings() -> str:
    text = EXAMPLE.read_text()
    text = text.replace(
        "      description: Extra environment variables of the container\n",
        "      description: Extra environment variables of the container\n"
        "    args:\n"
        "      default: [--verbose]\n"
        "      description: Arguments of the container\n",
    )
    return text.replace(
        "                  envFrom:\n",
        "                  args: ${values.args}\n                  envFrom:\n",
    )


def test_list_items_are_added_in_the_browser(page: Page, live_server: LiveServer) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import template_store

    template_store.create_version(
        live_server.sessions, _template_with_a_list_of_strings(), actor=SYSTEM
    )
    template_store.publish_version(live_server.sessions, "web-service", "1.2.0", actor=SYSTEM)
    sign_in(page)
    page.goto("/generate?template=web-service&version=1.2.0")
    page.get_by_label("Product").fill("shop")
    page.get_by_label("Customer").fill("acme")
    page.get_by_label("Instance").fill("a1")
    page.get_by_label("Application version").fill("2.0.0")
    page.get_by_role("button", name="Show effective values").click()
    expect(page.locator("#f-v-args-0")).to_have_value("--verbose")
    expect(page.locator("#f-v-args-1")).to_have_value("")
    page.locator("#f-v-args-1").fill("--port=9000")
    page.locator("#f-v-args").get_by_role("button", name="Add item").click()
    expect(page.locator("#f-v-args-2")).to_be_focused()
    expect(page.get_by_label("args item 3")).to_be_focused()
    page.locator("#f-v-args-2").fill("--color")
    shoot(page, "21-generate-list-items")
    page.get_by_role("button", name="Generate Helm Chart").click()
    values = page.locator("details.file", has_text="values.yaml").first
    expect(values).to_contain_text('- "--port=9000"')
    expect(values).to_contain_text('- "--color"')


def test_account_page_holds_a_must_change_user_in_the_browser(
    page: Page, live_server: LiveServer
) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    accounts.set_password(
        live_server.sessions, ADMIN_NAME, password="set by an admin 123", actor=SYSTEM
    )
    page.goto("/templates")
    page.get_by_label("User name").fill(ADMIN_NAME)
    page.get_by_label("Password").fill("set by an admin 123")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url("/account")
    expect(page.get_by_text("Choose your own password")).to_be_visible()
    shoot(page, "30-account-must-change")
    page.get_by_label("Current password").fill("set by an admin 123")
    page.get_by_label("New password", exact=True).fill(ADMIN_PASSWORD + " 2")
    page.get_by_label("New password again").fill(ADMIN_PASSWORD + " 3")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The two new passwords differ")).to_be_visible()
    shoot(page, "31-account-error")
    page.get_by_label("Current password").fill("set by an admin 123")
    page.get_by_label("New password", exact=True).fill(ADMIN_PASSWORD + " 2")
    page.get_by_label("New password again").fill(ADMIN_PASSWORD + " 2")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")
    shoot(page, "32-account-changed")
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="Templates")).to_be_visible()


def test_publish_and_delete_draft_are_confirmed_in_the_browser(
    page: Page, live_server: LiveServer
) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import template_store

    text = EXAMPLE.read_text()
    template_store.create_version(live_server.sessions, text, actor=SYSTEM)
    sign_in(page)
    page.goto("/templates/web-service")
    shoot(page, "40-template-draft-actions")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Publish 1.2.0").click()
    assert asked == ["Publish web-service 1.2.0? A published version never changes again."]
    expect(page.locator("td .status-draft")).to_have_count(1)  # dismissed: nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete draft 1.2.0").click()
    expect(page).to_have_url("/templates")
    expect(page.get_by_text("No templates yet.")).to_be_visible()

    template_store.create_version(live_server.sessions, text, actor=SYSTEM)
    browser = page.context.browser
    assert browser is not None
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    plain = scriptless(context.new_page())
    sign_in(plain)
    plain.goto("/templates/web-service")
    plain.get_by_role("button", name="Publish 1.2.0").click()
    expect(plain.get_by_role("heading", level=1)).to_have_text("Publish web-service 1.2.0?")
    shoot(plain, "41-template-publish-confirm")
    plain.get_by_role("button", name="Publish 1.2.0").click()
    expect(plain.get_by_role("status")).to_contain_text("1.2.0 published")
    context.close()


def test_lists_pager_404_page_and_audit_in_the_browser(page: Page, live_server: LiveServer) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import audit, chart_builds, template_store

    template_store.create_version(live_server.sessions, EXAMPLE.read_text(), actor=SYSTEM)
    template_store.publish_version(live_server.sessions, "web-service", "1.2.0", actor=SYSTEM)
    context = {"product": "shop", "customer": "acme", "environment": "prod", "version": "3.4.0"}
    for number in range(52):
        chart_builds.build_chart(
            live_server.sessions,
            template="web-service@1.2.0",
            context={**context, "instance": f"i{number}"},
            actor=SYSTEM,
        )
    with live_server.sessions.begin() as session:
        audit.record(
            session,
            SYSTEM,
            "registry.update",
            "registry:lab",
            before={"url": "a"},
            after={"url": "b"},
        )
    sign_in(page)
    page.goto("/charts")
    expect(page.locator(".pager-summary")).to_have_text("Builds 1\u201350 of 52 \u00b7 page 1 of 2")
    shoot(page, "42-builds-paged")
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("table tbody tr")).to_have_count(2)
    page.get_by_label("Search builds").fill("i7")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url("/charts?q=i7")
    expect(page.locator("table tbody tr")).to_have_count(1)
    shoot(page, "43-builds-searched")
    page.goto("/audit")
    expect(page.locator("table.audit")).to_contain_text("chart build shop-acme-prod-i51 3.4.0")
    changed = page.locator("table.audit tr", has_text="registry lab")
    changed.locator("summary").click()
    expect(changed.locator("dl.changes")).to_contain_text("a \u2192 b")
    shoot(page, "44-audit-readable")
    page.goto("/no/such/page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page).to_have_title("Not found \u00b7 helmforge")
    shoot(page, "45-not-found")


def test_registry_name_pattern_compiles_and_plain_http_sits_by_its_label(page: Page) -> None:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    sign_in(page)
    problems.clear()  # sign_in fails once on purpose (a 401)
    page.goto("/registries")
    name = page.get_by_label("Name", exact=True)
    name.fill("Bad_Name")
    assert name.evaluate("field => field.validity.patternMismatch") is True
    name.fill("harbor-prod")
    assert name.evaluate("field => field.validity.valid") is True
    assert problems == []  # the pattern compiles under the browser's v flag
    box = page.get_by_label("Plain HTTP (a lab registry only)").bounding_box()
    label = page.get_by_text("Plain HTTP (a lab registry only)").bounding_box()
    assert box is not None
    assert label is not None
    assert box["width"] < 30
    assert 0 <= label["x"] - (box["x"] + box["width"]) < 20
    assert abs((label["y"] + label["height"] / 2) - (box["y"] + box["height"] / 2)) < 8
    shoot(page, "46-registries-form")


def test_template_editor_offers_a_starter_and_tab_indents_instead_of_leaving(
    page: Page,
) -> None:
    sign_in(page)
    page.goto("/templates/new")
    page.get_by_role("link", name="Start from a starter template").click()
    editor = page.get_by_label("Template YAML")
    expect(editor).to_have_value(re.compile(r"^# A starter template"))
    shoot(page, "47-template-starter")
    editor.fill("a:\nb: 1")
    editor.evaluate("area => area.setSelectionRange(3, 3)")  # the start of "b: 1"
    editor.press("Tab")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("a:\n  b: 1")
    editor.press("Shift+Tab")
    expect(editor).to_have_value("a:\nb: 1")
    editor.press("Escape")
    editor.press("Tab")
    expect(editor).not_to_be_focused()
    expect(editor).to_have_value("a:\nb: 1")
    page.goto("/templates/new?starter=1")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft 0.1.0 created")


def test_the_accessibility_check_fails_on_a_page_with_violations(page: Page) -> None:
    # Every shot page passes axe-core; this shows the check can fail: an image without a text
    # alternative and a field without a label are critical violations, a button whose visible
    # words are not in its accessible name a serious one.
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>'
        '<h1>Bad</h1><img src="/static/none.png"><input type="text" name="q">'
        '<button type="button" aria-label="Delete build 7">Remove</button></main></body></html>'
    )
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "self-test-violations")
    assert "image-alt (critical)" in str(failure.value)
    assert "label (critical)" in str(failure.value)
    assert "label-content-name-mismatch (serious)" in str(failure.value)


def test_build_record_and_value_paths_read_whole_at_390_px(
    page: Page, live_server: LiveServer
) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import chart_builds, template_store

    template_store.create_version(live_server.sessions, EXAMPLE.read_text(), actor=SYSTEM)
    template_store.publish_version(live_server.sessions, "web-service", "1.2.0", actor=SYSTEM)
    context = {"product": "shop", "customer": "acme", "environment": "prod", "instance": "a1"}
    build = chart_builds.build_chart(
        live_server.sessions,
        template="web-service@1.2.0",
        context={**context, "version": "3.4.0"},
        values={"replicaCount": 4, "service": {"type": "NodePort"}},
        actor=SYSTEM,
    )
    sign_in(page)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"/charts/{build.id}")
    record = page.locator("dl.facts")
    # Each fact takes the card's width under its name: the template never breaks inside.
    assert line_count(record.locator("dd", has_text="web-service@"), "web-service@1.2.0") == 1
    overrides = page.get_by_label("Overrides of this build")
    expect(overrides).to_contain_text("NodePort")
    assert overrides.evaluate("pre => pre.scrollWidth <= pre.clientWidth")  # nothing cut off

    page.goto("/generate?template=web-service&version=1.2.0")
    for label, value in (("Product", "shop"), ("Customer", "acme"), ("Instance", "a1")):
        page.get_by_label(label).fill(value)
    page.get_by_label("Application version").fill("3.4.0")
    page.get_by_role("button", name="Show effective values").click()
    path = page.locator("table.values th", has_text="targetCPUUtilizationPercentage")
    expect(path).to_be_visible()
    assert line_count(path, "targetCPUUtilizationPercentage") == 1  # wraps after the dot
