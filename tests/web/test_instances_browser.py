"""The instance flow in Debian's Chromium driven by Playwright, against a real Git remote over
smart HTTP and Debian's docker-registry: generate → deploy an instance → edit its values in the
form → see the diffs → save → history → rollback; then a prod deployment and a prod edit, each
a change request that a second person approves in the inbox.

Every step is saved at 1280 and 390 px wide under the test's temporary folder (``shots/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from helmforge.core.yaml_codec import load_single
from tests.support.accessibility import assert_accessible
from tests.support.fleets import edit_in_git
from tests.support.instances import PROD, GitLab, git_lab, path_of
from tests.support.registry import RegistryServer
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD
from tests.web.instance_sites import USER_PASSWORD, InstanceSite, instance_site
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, WIDTHS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.registry,
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
]

DEV_VALUES = f"clusters/eu/{path_of()}/values.yaml"
PROD_VALUES = f"clusters/eu/{path_of(PROD)}/values.yaml"


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
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, server_database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(
        tmp_path, server_database_url, lab, basic_registry, approvals={"prod": 1}
    ) as running:
        running.add_user("bob", "approver")
        yield running


class Camera:
    """Saves the page at every width (full height) into ``folder``, numbered in order, and
    checks it with axe-core at each (no serious or critical violation)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def shoot(self, page: Page, name: str) -> None:
        self.count += 1
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(
                path=str(self.folder / f"{self.count:02d}-{name}-{width}.png"), full_page=True
            )
            assert_accessible(page, f"instances-{self.count:02d}-{name}-{width}")
        page.set_viewport_size({"width": 1280, "height": 900})


def open_page(browser: Browser, site: InstanceSite, name: str, password: str) -> Page:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Instances", exact=True)).to_be_visible()
    return page


def accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_generate_deploy_edit_preview_save_history_rollback_and_four_eyes_in_prod(
    browser: Browser, site: InstanceSite, lab: GitLab, tmp_path: Path
) -> None:
    camera = Camera(tmp_path / "shots")
    alice = open_page(browser, site, ADMIN_NAME, ADMIN_PASSWORD)
    accept_dialogs(alice)

    # Generate a chart for dev.
    alice.get_by_role("link", name="Generate Helm Chart").click()
    alice.get_by_label("Template and version").select_option("web-service@1.2.0")
    alice.get_by_label("Product").fill("shop")
    alice.get_by_label("Customer").fill("acme")
    alice.get_by_label("Environment").select_option("dev")
    alice.get_by_label("Instance").fill("eu-1")
    alice.get_by_label("Application version").fill("3.4.0")
    alice.get_by_role("button", name="Show effective values").click()
    alice.locator("#f-v-replicaCount").fill("2")
    alice.get_by_role("button", name="Generate Helm Chart").click()
    expect(alice.get_by_role("heading", name="Chart shop-acme-dev-eu-1 3.4.0")).to_be_visible()
    camera.shoot(alice, "chart")

    # Deploy it as an instance: one commit with values.yaml and application.yaml.
    commits = lab.commits()
    alice.get_by_role("link", name="Deploy shop-acme-dev-eu-1…").click()
    expect(alice.get_by_label("Values (YAML overrides)")).to_have_value(
        re.compile(r"replicaCount: 2")
    )
    camera.shoot(alice, "deploy-form")
    alice.get_by_role("button", name="Deploy").click()
    expect(alice.locator("#done")).to_contain_text("Instance created")
    assert lab.commits() == commits + 1
    created = lab.head()
    expect(alice.locator("#revision")).to_have_text(created)
    expect(alice.locator("#effective-values tr", has_text="replicaCount")).to_contain_text(
        "override"
    )
    expect(alice.locator("#effective-values tr", has_text="service.port")).to_contain_text(
        "default"
    )
    camera.shoot(alice, "instance-created")

    # The list finds it by its filters.
    alice.get_by_role("link", name="Instances", exact=True).click()
    alice.get_by_label("Environment").select_option("dev")
    alice.get_by_role("button", name="Apply").click()
    expect(alice.locator("#instances tbody tr")).to_have_count(1)
    camera.shoot(alice, "instances-list")
    alice.get_by_role("link", name=path_of()).click()

    # Edit values in the form, preview the three diffs, save.
    alice.get_by_role("link", name="Edit values").click()
    expect(alice.locator("#f-v-replicaCount")).to_have_value("2")
    camera.shoot(alice, "editor")
    alice.locator("#f-v-replicaCount").fill("5")
    alice.locator("#f-v-logLevel").select_option("warn")
    alice.get_by_role("button", name="Preview the form").click()
    expect(alice.locator("#values-diff")).to_contain_text("+replicaCount: 5")
    expect(alice.locator("#values-diff")).to_contain_text("+logLevel: warn")
    expect(alice.locator("#effective-diff")).to_contain_text("-logLevel: debug")
    expect(alice.locator("#manifests-diff")).to_contain_text("+  replicas: 5")
    assert lab.commits() == commits + 1  # a preview commits nothing
    camera.shoot(alice, "preview")
    alice.get_by_label("Commit message (optional)").fill("five pods, quieter logs")
    alice.get_by_role("button", name="Save").click()
    expect(alice.locator("#done")).to_contain_text("Values saved")
    assert lab.commits() == commits + 2
    assert load_single(lab.show(DEV_VALUES), source="values").data == {
        "replicaCount": 5,
        "logLevel": "warn",
    }

    # History: who, when, message, diff; roll back to the first revision.
    entries = alice.locator("#history > li")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("five pods, quieter logs")
    expect(entries.first).to_contain_text(ADMIN_NAME)
    entries.first.locator("summary", has_text="Diff").click()
    expect(entries.first.locator(".dl-add", has_text="+replicaCount: 5")).to_be_visible()
    camera.shoot(alice, "history")
    for width in WIDTHS:  # each override to promote: its checkbox centred on its path
        alice.set_viewport_size({"width": width, "height": 900})
        option = alice.locator("label.check", has_text="logLevel")
        box = option.get_by_role("checkbox").bounding_box()
        words = option.locator("code").bounding_box()
        assert box is not None
        assert words is not None
        assert abs((box["y"] + box["height"] / 2) - (words["y"] + words["height"] / 2)) < 2
    alice.set_viewport_size({"width": 1280, "height": 900})
    alice.get_by_role("button", name=f"Roll back to this ({created[:10]})").click()
    expect(alice.locator("#done")).to_contain_text("Rolled back")
    expect(entries).to_have_count(3)
    assert lab.commits() == commits + 3
    assert load_single(lab.show(DEV_VALUES), source="values").data == {"replicaCount": 2}
    expect(alice.locator("#values-yaml")).to_contain_text("replicaCount: 2")
    camera.shoot(alice, "rolled-back")

    # A stale edit: someone else saves meanwhile; Save shows what changed and writes nothing.
    alice.get_by_role("link", name="Edit values").click()
    alice.get_by_label("Overrides (YAML)").fill("replicaCount: 8\n")
    alice.get_by_role("button", name="Preview the YAML").click()
    expect(alice.locator("#values-diff")).to_contain_text("+replicaCount: 8")
    site.put_values({"replicaCount": 2, "greeting": "Hi from ops"})
    theirs = lab.head()
    alice.get_by_role("button", name="Save").click()
    expect(alice.locator("#conflict")).to_contain_text("Not saved")
    expect(alice.locator("#conflict-diff")).to_contain_text("+greeting: Hi from ops")
    assert lab.head() == theirs
    camera.shoot(alice, "stale-edit")
    alice.get_by_role("button", name="Preview the YAML").click()
    expect(alice.locator("#values-diff")).to_contain_text("-greeting: Hi from ops")
    alice.get_by_role("button", name="Save").click()
    expect(alice.locator("#done")).to_contain_text("Values saved")
    assert load_single(lab.show(DEV_VALUES), source="values").data == {"replicaCount": 8}
    assert lab.commits() == commits + 5

    # Prod: deploying is a change request, applied only when Bob approves it.
    alice.goto("/charts")
    alice.get_by_role("link", name=re.compile("shop-acme-dev-eu-1")).first.click()
    alice.get_by_role("link", name="Deploy shop-acme-dev-eu-1…").click()
    expect(alice.locator("#deploy-approval")).to_contain_text("prod (1 approval)")
    alice.get_by_label("Environment").select_option("prod")
    alice.get_by_role("button", name="Deploy").click()
    expect(alice.locator("#change-request")).to_contain_text("needs approval")
    camera.shoot(alice, "prod-deploy-proposed")
    deploy_request = alice.locator("#change-request a").get_attribute("href")
    assert deploy_request
    assert lab.commits() == commits + 5

    bob = open_page(browser, site, "bob", USER_PASSWORD)
    accept_dialogs(bob)
    approve(bob, deploy_request, camera)
    assert lab.commits() == commits + 6

    # A prod edit from the YAML editor: Save proposes, Bob approves in the inbox.
    alice.goto(f"/instances/{path_of(PROD)}")
    alice.get_by_role("link", name="Edit values").click()
    expect(alice.locator("#approval-note")).to_contain_text("need 1 approval")
    alice.get_by_label("Overrides (YAML)").fill("replicaCount: 6\n")
    alice.get_by_role("button", name="Preview the YAML").click()
    expect(alice.locator("#values-diff")).to_contain_text("+replicaCount: 6")
    expect(alice.locator("#manifests-diff")).to_contain_text("+  replicas: 6")
    camera.shoot(alice, "prod-preview")
    alice.get_by_role("button", name="Propose change").click()
    expect(alice.locator("#change-request")).to_contain_text("nothing was committed yet")
    camera.shoot(alice, "prod-edit-proposed")
    edit_request = alice.locator("#change-request a").get_attribute("href")
    assert edit_request
    assert lab.commits() == commits + 6
    alice.goto(edit_request)
    expect(alice.locator("#own-request")).to_be_visible()
    expect(alice.locator("#approve-button")).to_have_count(0)

    # Bob sees what Argo CD will apply: Helm's objects before and after, from prod as Git
    # has it now, with nothing built or committed for it.
    approve(bob, edit_request, camera, manifests="+  replicas: 6")
    assert lab.commits() == commits + 7
    assert load_single(lab.show(PROD_VALUES), source="values").data == {"replicaCount": 6}
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in lab.log()
    alice.goto(f"/instances/{path_of(PROD)}")
    expect(alice.locator("#values-yaml")).to_contain_text("replicaCount: 6")
    expect(alice.locator("#history > li").first).to_contain_text("replicaCount")
    camera.shoot(alice, "prod-applied")
    alice.context.close()
    bob.context.close()


def approve(bob: Page, request_url: str, camera: Camera, *, manifests: str = "") -> None:
    """Bob finds the request in his inbox and approves it; with ``manifests``, after seeing
    that line in the diff of the rendered manifests (a creation's review is against nothing)."""
    bob.get_by_role("link", name="Change requests", exact=True).click()
    bob.locator(f'a[href="{request_url}"]').click()
    expect(bob.locator("#change-state")).to_have_text("pending")
    if manifests:
        expect(bob.locator("#review-manifests-diff")).to_contain_text(manifests)
        expect(bob.locator("#review-manifests-diff")).to_be_visible()
        expect(bob.locator("#review-moved")).to_have_count(0)
    else:
        # A creation: reviewed against nothing, every object Helm renders is new.
        expect(bob.locator("#review-hint")).to_contain_text("does not exist yet")
        expect(bob.locator("#review-manifests-diff")).to_contain_text("+kind: Deployment")
    camera.shoot(bob, "inbox-request-diffs" if manifests else "inbox-request")
    bob.get_by_role("button", name="Approve").click()
    expect(bob.locator("#change-state")).to_have_text("applied")


def test_a_comment_typed_in_the_yaml_pane_is_committed_with_the_values(
    browser: Browser, site: InstanceSite, lab: GitLab, tmp_path: Path
) -> None:
    camera = Camera(tmp_path / "shots")
    site.create()
    commits = lab.commits()
    alice = open_page(browser, site, ADMIN_NAME, ADMIN_PASSWORD)
    alice.goto(f"/instances/{path_of()}/edit")
    expect(alice.locator("#values-yaml-hint")).to_contain_text("comments and key order")
    pane = alice.get_by_label("Overrides (YAML)")

    # Text that is not values is refused at its line; nothing is committed.
    pane.fill("replicaCount: 3\nreplicaCount: 4\n")
    alice.get_by_role("button", name="Preview the YAML").click()
    expect(alice.locator("#values-yaml-error")).to_contain_text("values.yaml:2")
    expect(alice.locator("#values-yaml-error")).to_contain_text("duplicate key")
    camera.shoot(alice, "yaml-duplicate-key")

    typed = (
        "# Scaled out for the spring sale: OPS-1234\n"
        "replicaCount: 4  # back to 2 after the sale\n"
        "greeting: on\n"
    )
    pane.fill(typed)
    alice.get_by_role("button", name="Preview the YAML").click()
    expect(alice.locator("#values-diff")).to_contain_text("+replicaCount: 4")
    expect(alice.locator("#values-diff")).to_contain_text(
        "+# Scaled out for the spring sale: OPS-1234"
    )
    expect(alice.locator("#saved-as-text")).to_contain_text("comments and key order included")
    expect(alice.locator("#saved-as-text")).to_contain_text("on (line 3)")
    camera.shoot(alice, "yaml-preview")
    assert lab.commits() == commits
    alice.get_by_role("button", name="Save").click()
    expect(alice.locator("#done")).to_contain_text("Values saved")
    assert lab.commits() == commits + 1
    assert lab.show(DEV_VALUES) == typed.replace("greeting: on", 'greeting: "on"')
    expect(alice.locator("#values-yaml")).to_contain_text("# Scaled out for the spring sale")
    camera.shoot(alice, "yaml-saved")

    # Editing again starts from the file with the typed comment in it.
    alice.get_by_role("link", name="Edit values").click()
    expect(pane).to_have_value(re.compile(r"replicaCount: 4  # back to 2 after the sale"))
    alice.context.close()


def test_the_approver_sees_helms_message_and_when_the_instance_moved(
    browser: Browser, site: InstanceSite, lab: GitLab, tmp_path: Path
) -> None:
    camera = Camera(tmp_path / "shots")
    created = site.create(PROD)["change_request"]
    glass = {"break_glass": True, "comment": "set up the test"}
    applied = site.api.post(f"/api/v1/change-requests/{created}/approve", json=glass)
    assert applied.json()["state"] == "applied", applied.text
    bob = open_page(browser, site, "bob", USER_PASSWORD)

    # A rollback to values someone broke by hand in Git: Helm's own message at its line.
    broken = edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "image: x\n"}, "by hand")
    edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "replicaCount: 3\n"}, "fixed")
    rollback = site.api.post(
        f"/api/v1/instances/{path_of(PROD)}/rollback", json={"revision": broken}
    )
    assert rollback.status_code == 202, rollback.text
    bob.goto(f"/changes/{rollback.json()['change_request']}")
    expect(bob.locator("#review-manifests-error")).to_contain_text(
        "shop-acme-prod-eu-1/templates/deployment.yaml:21"
    )
    expect(bob.locator("#review-errors")).to_contain_text("image")
    expect(bob.locator("#review-values-diff")).to_contain_text("+image: x")
    camera.shoot(bob, "review-helm-error")

    # Two edits of one revision: once the first is applied, the second says it is stale.
    first = site.put_values({"replicaCount": 4}, PROD)["change_request"]
    second = site.put_values({"replicaCount": 5}, PROD)["change_request"]
    assert site.api.post(f"/api/v1/change-requests/{first}/approve", json=glass).is_success
    bob.goto(f"/changes/{second}")
    expect(bob.locator("#review-moved")).to_contain_text("the request is stale")
    expect(bob.locator("#review-manifests-diff")).to_contain_text("+  replicas: 5")
    camera.shoot(bob, "review-moved")
    bob.context.close()
