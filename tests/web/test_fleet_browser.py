"""The fleet pages in Debian's Chromium driven by Playwright, with the server's own job worker
running the jobs: the impact view started from the Fleet page, its job page reloading until
the result shows; a rollout's page following its waves to the end. Screens are saved under
the test's temporary folder (``shots/``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.support.charts import example_text
from tests.support.instances import DEV, GitLab, git_lab
from tests.support.registry import RegistryServer
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD
from tests.web.instance_sites import InstanceSite, instance_site
from tests.web.test_instances_browser import Camera, browser, open_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.registry,
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
]
__all__ = ["browser"]  # the module's Chromium fixture, shared

#: Bounds each wait on the page, so a job that never ends fails the test instead of hanging it.
BOUND_MS = 120_000


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, server_database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(tmp_path, server_database_url, lab, basic_registry) as running:
        running.create()
        running.create({**DEV, "instance": "eu-2"})
        text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
        added = running.api.post(
            "/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"}
        )
        assert added.status_code == 201, added.text
        assert running.api.post("/api/v1/templates/web-service/versions/1.3.0/publish").is_success
        yield running


def test_the_impact_view_and_a_rollout_with_its_progress(
    browser: Browser, site: InstanceSite, tmp_path: Path
) -> None:
    camera = Camera(tmp_path / "shots")
    page = open_page(browser, site, ADMIN_NAME, ADMIN_PASSWORD)
    page.get_by_role("link", name="Fleet", exact=True).click()
    page.get_by_role("textbox", name="Template version").fill("web-service@1.3.0")
    page.get_by_role("button", name="Show the impact").click()
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=BOUND_MS)
    expect(page.locator("#impact-summary")).to_contain_text("manifests: 2")
    expect(page.locator("#job-progress")).to_have_attribute("value", "2")
    page.get_by_text("Manifest diff").first.click()
    expect(page.locator("#job-items")).to_contain_text("containerPort: 8081")
    camera.shoot(page, "impact")

    plan = {
        "template": "web-service@1.3.0",
        "version": "3.5.0",
        "waves": [{"name": "dev", "filter": {"environment": "dev"}}],
    }
    started = site.api.post("/api/v1/fleet/rollouts", json=plan)
    assert started.status_code == 202, started.text
    page.goto(f"/fleet/rollouts/{started.json()['rollout']}")
    expect(page.locator("#rollout-state")).to_have_text("succeeded", timeout=BOUND_MS)
    expect(page.locator("#wave-progress-1")).to_have_attribute("value", "2")
    expect(page.get_by_role("button", name="Roll back")).to_be_visible()
    camera.shoot(page, "rollout")
