"""The change-request inbox in Debian's Chromium driven by Playwright (DESIGN §9): the requester
publishes into prod and gets a change request they cannot approve; an approver approves it in
the browser, confirming the dialog, and it is published. Pages are saved at 1280 and 390 px
into test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts, change_requests
from tests.support.apps import make_app
from tests.support.change_requests import (
    PASSWORD,
    PROD_CONTEXT,
    add_lab_registry,
    propose_prod_publish,
    user_token,
)
from tests.support.registry import RegistryServer
from tests.support.servers import serve
from tests.web.conftest import LiveServer
from tests.web.test_browser import CHROMIUM_ARGS, browser, shoot  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.registry,
    pytest.mark.xdist_group("browser"),
]


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[LiveServer]:
    app, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "data",
        with_web=True,
        approvals=ApprovalRules(by_environment={"prod": 1}),
    )
    with serve(app) as url:
        yield LiveServer(url, app, state_of(app).sessions)
    state_of(app).engine.dispose()


def _signed_in(browser: Browser, server: LiveServer, name: str) -> Page:  # noqa: F811
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="My access")).to_be_visible()
    return page


def test_requester_proposes_a_prod_publish_and_an_approver_approves_it_in_the_browser(
    browser: Browser,  # noqa: F811
    gated: LiveServer,
    basic_registry: RegistryServer,
) -> None:
    admin_token = accounts.create_token(gated.sessions, user="admin", actor=SYSTEM).token
    add_lab_registry(gated.url, admin_token, basic_registry)
    alice = user_token(gated.sessions, "alice", "template-user")
    user_token(gated.sessions, "bob", "approver")
    built = httpx.post(
        f"{gated.url}/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": PROD_CONTEXT, "values": {}},
        headers={"Authorization": f"Bearer {alice}"},
        timeout=120,
    )
    assert built.status_code == 201, built.text

    requester = _signed_in(browser, gated, "alice")
    requester.goto(f"/charts/{built.json()['id']}/publish")
    requester.get_by_role("button", name="Publish").click()
    waiting = requester.locator("#publish-change-request")
    expect(waiting).to_contain_text("Waiting for approval")
    shoot(requester, "access-01-publish-waits")
    waiting.get_by_role("link").click()
    expect(requester.locator("#own-request")).to_contain_text("someone else must approve it")
    expect(requester.locator("#approve-button")).to_have_count(0)
    expect(requester.locator("#break-glass-button")).to_have_count(0)
    shoot(requester, "access-02-own-request")
    [request] = change_requests.list_requests(gated.sessions, actor=SYSTEM, state="pending")

    approver = _signed_in(browser, gated, "bob")
    approver.get_by_role("link", name="Change requests").click()
    expect(approver.locator("#change-requests")).to_contain_text("ledger/acme/prod/a1")
    # What is asked for reads as words; the kind (a filter key) stays beside them, smaller.
    expect(approver.locator("#change-requests td[data-label='Change']")).to_have_text(
        "publish a chart chart.publish"
    )
    shoot(approver, "access-03-inbox")
    approver.get_by_role("link", name=f"#{request.id}").click()
    expect(approver.locator("#change-diff")).to_contain_text("publish chart ledger-acme-prod-a1")
    expect(approver.locator("#change-approvals")).to_have_text("0 of 1 needed")
    expect(approver.get_by_role("heading", level=1)).to_have_text(
        f"Change request #{request.id}: publish a chart ledger/acme/prod/a1"
    )
    expect(approver.locator("#change-kind")).to_have_text("chart.publish")
    shoot(approver, "access-04-request-detail")
    approver.get_by_label("Comment (optional)").fill("checked the diff")
    dialogs: list[str] = []

    def accept(dialog: object) -> None:
        dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept()  # type: ignore[attr-defined]

    approver.once("dialog", accept)
    approver.locator("#approve-button").click()
    expect(approver.locator("#change-state")).to_have_text("applied")
    expect(approver.locator("#change-approvals")).to_have_text("1 of 1 needed: bob")
    assert dialogs == [
        f"Approve change request #{request.id} (publish a chart ledger/acme/prod/a1)? "
        "It is applied at once."
    ]
    shoot(approver, "access-05-applied")
    requester.get_by_role("link", name="My access").click()
    expect(requester.locator("#my-permissions")).to_contain_text("chart.publish")
    shoot(requester, "access-06-my-access")
    requester.context.close()
    approver.context.close()

    accounts.create_user(gated.sessions, "root", role="admin", password=PASSWORD, actor=SYSTEM)
    administrator = _signed_in(browser, gated, "root")
    administrator.get_by_role("link", name="Access", exact=True).click()
    expect(administrator.locator("#bindings-user-alice")).to_contain_text("template-user")
    shoot(administrator, "access-07-access-admin")
    administrator.goto(f"/audit?object=change:{request.id}")
    expect(
        administrator.get_by_role("link", name=f"change request #{request.id}").first
    ).to_be_visible()
    shoot(administrator, "access-08-audit-of-the-request")
    administrator.context.close()


def test_the_registries_page_offers_controls_to_a_holder_of_registry_manage_in_the_browser(
    browser: Browser,  # noqa: F811
    gated: LiveServer,
) -> None:
    user_token(gated.sessions, "kim", "template-user")
    user_token(gated.sessions, "olga", "template-user")
    policy = access.export_policy(gated.sessions, actor=SYSTEM) + (
        "p, role:registry-keeper, registry, manage, *, allow\ng, user:kim, role:registry-keeper\n"
    )
    access.import_policy(gated.sessions, policy, actor=SYSTEM)
    keeper = _signed_in(browser, gated, "kim")
    keeper.get_by_role("link", name="Registries").click()
    form = keeper.get_by_role("region", name="Add a registry")
    form.get_by_label("Name", exact=True).fill("lab")
    form.get_by_label("URL", exact=True).fill("oci://127.0.0.1:9/charts")
    form.get_by_label("Plain HTTP (a lab registry only)").check()
    form.get_by_role("button", name="Add registry").click()
    expect(keeper.get_by_role("row", name="lab")).to_contain_text("oci://127.0.0.1:9/charts")
    expect(keeper.get_by_role("button", name="Delete lab")).to_be_visible()
    expect(keeper.get_by_role("link", name="Users")).to_have_count(0)
    shoot(keeper, "access-09-registries-keeper")
    keeper.context.close()

    reader = _signed_in(browser, gated, "olga")
    reader.get_by_role("link", name="Registries").click()
    expect(reader.get_by_role("row", name="lab")).to_be_visible()
    expect(reader.get_by_role("button", name="Delete lab")).to_have_count(0)
    expect(reader.get_by_role("button", name="Test connection of lab")).to_have_count(0)
    expect(reader.get_by_role("heading", name="Add a registry")).to_have_count(0)
    shoot(reader, "access-10-registries-reader")
    reader.context.close()


def test_the_requester_edits_a_pending_request_in_the_browser(
    browser: Browser,  # noqa: F811
    gated: LiveServer,
    basic_registry: RegistryServer,
) -> None:
    admin_token = accounts.create_token(gated.sessions, user="admin", actor=SYSTEM).token
    add_lab_registry(gated.url, admin_token, basic_registry)
    alice = user_token(gated.sessions, "alice", "template-user")
    request_id = propose_prod_publish(gated.url, alice)
    newer = httpx.post(
        f"{gated.url}/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": {**PROD_CONTEXT, "version": "3.4.1"},
              "values": {}},
        headers={"Authorization": f"Bearer {alice}"},
        timeout=120,
    )  # fmt: skip
    assert newer.status_code == 201, newer.text
    requester = _signed_in(browser, gated, "alice")
    requester.goto(f"/changes/{request_id}")
    editor = requester.get_by_label("Proposal (YAML)")
    expect(editor).to_contain_text("registry: lab")
    shoot(requester, "access-11-edit-form")
    editor.fill("- not a mapping\n")
    requester.get_by_role("button", name="Save the edited request").click()
    expect(requester.locator("#edit-problem")).to_contain_text("the proposal must be a mapping")
    shoot(requester, "access-12-edit-refused")
    requester.get_by_label("Proposal (YAML)").fill(f"build: {newer.json()['id']}\nregistry: lab\n")
    requester.get_by_role("button", name="Save the edited request").click()
    expect(requester.get_by_role("status")).to_contain_text("approvals start over")
    expect(requester.locator("#change-diff")).to_contain_text(
        "publish chart ledger-acme-prod-a1 3.4.1"
    )
    shoot(requester, "access-13-edited")
    requester.context.close()
