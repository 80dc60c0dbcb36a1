"""The fleet pages in Debian's Chromium driven by Playwright, against a real Git remote over
smart HTTP and Debian's docker-registry (DESIGN §10, "in Chromium: the impact view and a
rollout with its progress").

The first test runs the jobs itself (the server has no job worker), so each page is seen
queued before its job runs and is seen to follow it, without a reload by the test, to its end:
the impact view started from the Fleet page, its progress bar reaching the total and the result
grouped by kind of change; a verification that finds the tag moved behind helmforge's back; a
rollout started from the Fleet page, paused, resumed, stopping at the instance that cannot take
the version, and its wave rolled back. The second runs with the server's own job worker.

Every step is saved at 1280 and 390 px wide under the test's temporary folder (``shots/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.charts import example_text
from tests.support.fleets import push_over_tag, registry_url, segments
from tests.support.instances import DEV, GitLab, git_lab
from tests.support.registry import RegistryServer
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD
from tests.web.instance_sites import InstanceSite, instance_site
from tests.web.test_fleet_pages import KINDS, OVERRIDES, ids, mixed_version, publish
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
#: Two instances in uat, the first wave of the rollout.
UAT = [segments(number, environment="uat") for number in range(2)]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def fleet_site(
    tmp_path: Path, server_database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    """Four dev instances (one of each kind of change against ``mixed_version``) and two in
    uat; no job worker: the test runs each job."""
    with instance_site(
        tmp_path, server_database_url, lab, basic_registry, jobs_worker=False
    ) as running:
        for number, values in enumerate(OVERRIDES):
            running.create(segments(number), values=values)
        for chosen in UAT:
            running.create(chosen)
        publish(running, mixed_version(), "1.3.0")
        yield running


def job_id_of(page: Page) -> str:
    return page.url.rstrip("/").rsplit("/", 1)[1]


def to_fleet(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet").click()


def run_behind_the_page(site: InstanceSite, job_id: str) -> None:
    """Run the job here while the page, in Chromium's own process, follows it (its script
    polls the job's progress)."""
    site.run_job(job_id)


def test_impact_verification_and_a_rollout_followed_on_their_pages(
    browser: Browser, fleet_site: InstanceSite, lab: GitLab, tmp_path: Path
) -> None:
    site = fleet_site
    camera = Camera(tmp_path / "shots")
    page = open_page(browser, site, ADMIN_NAME, ADMIN_PASSWORD)
    page.on("dialog", lambda dialog: dialog.accept())

    # The impact view: picked on the Fleet page, queued, followed to its end by the page.
    to_fleet(page)
    expect(page.get_by_role("heading", name="Impact of a template version")).to_be_visible()
    page.get_by_label("Template version", exact=True).select_option("web-service@1.3.0")
    page.locator("#impact-environment").select_option("dev")
    camera.shoot(page, "fleet")
    page.get_by_role("button", name="Show the impact").click()
    expect(page.locator("#job-state")).to_have_text("queued")
    expect(page.locator("#job-progress")).to_have_attribute("max", "4")
    expect(page.locator("#job-progress")).to_have_attribute("value", "0")
    expect(page.locator("#job-count")).to_have_text("0 / 4 instances")
    camera.shoot(page, "impact-queued")
    commits = lab.commits()
    run_behind_the_page(site, job_id_of(page))
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=BOUND_MS)
    expect(page.locator("#job-progress")).to_have_attribute("value", "4")
    expect(page.locator("#job-count")).to_have_text("4 / 4 instances")
    expect(page.locator("#change-counts")).to_contain_text("Breaking (blocked): 1")
    for instance, kind in zip(ids(), KINDS, strict=True):
        expect(page.locator(f"#change-{kind} summary")).to_have_text(
            f"{instance} now on web-service@1.2.0"
        )
    # Few instances of a kind are shown open: the blocked reason, the diffs.
    expect(page.locator("#change-breaking")).to_contain_text(
        "greeting: 'hi' has no reading as boolean"
    )
    manifests = page.locator("#change-manifests")
    expect(manifests.locator(".dl-del", has_text="containerPort: 8080")).to_be_visible()
    expect(manifests.locator(".dl-add", has_text="containerPort: 8081")).to_be_visible()
    expect(manifests.locator("table.values-diff")).to_contain_text("containerPort")
    expect(page.locator("#change-values table.values-diff")).to_contain_text(
        "autoscaling.maxReplicas"
    )
    expect(page.locator("#change-identical")).to_contain_text("No difference.")
    assert lab.commits() == commits
    camera.shoot(page, "impact-result")

    # A verification after someone pushed another archive over one instance's tag.
    # (the instance the rollout below cannot move: a rollback would refuse its moved tag)
    moved = site.api.get(f"/api/v1/instances/{ids()[3]}").json()
    push_over_tag(registry_url(site.api), moved["chart"], moved["chart_version"])  # type: ignore[arg-type]
    to_fleet(page)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#job-state")).to_have_text("queued")
    expect(page.locator("#job-count")).to_have_text("0 / 6 instances")
    run_behind_the_page(site, job_id_of(page))
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=BOUND_MS)
    drifted = page.locator("#drifted tbody tr")
    expect(drifted).to_have_count(1)
    expect(drifted.first).to_contain_text(ids()[3])
    expect(drifted.first).to_contain_text("tag_moved")
    expect(page.get_by_role("heading", name="Verified ok: 5")).to_be_visible()
    camera.shoot(page, "verify-drift")

    # A rollout from the Fleet page: uat first, then dev; paused before it starts, resumed.
    to_fleet(page)
    page.get_by_label("Template version to roll out").select_option("web-service@1.3.0")
    page.get_by_label("App version").fill("3.5.0")
    page.get_by_label("Wave 1 name").fill("uat")
    page.get_by_label("Wave 1 environment").select_option("uat")
    page.get_by_label("Wave 2 name").fill("dev")
    page.get_by_label("Wave 2 environment").select_option("dev")
    page.get_by_label("Wave 3 name").fill("")
    page.get_by_label("Wave 4 name").fill("")
    camera.shoot(page, "rollout-form")
    page.get_by_role("button", name="Start the rollout").click()
    expect(page.locator("#rollout-state")).to_have_text("running")
    expect(page.locator("#wave-1-progress")).to_have_attribute("max", "2")
    expect(page.locator("#wave-2-progress")).to_have_attribute("max", "4")
    expect(page.locator("#rollout-count")).to_have_text("0 / 6 instances")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#rollout-requested")).to_contain_text("pause asked")
    first_job = page.locator("#job-link").inner_text()
    job_href = page.locator("#job-link").get_attribute("href")
    assert job_href
    run_behind_the_page(site, job_href.rsplit("/", 1)[1])
    expect(page.locator("#rollout-state")).to_have_text("paused", timeout=BOUND_MS)
    expect(page.locator("#wave-1 h2 .badge")).to_have_text("paused")
    expect(page.locator("#wave-2 h2 .badge")).to_have_text("pending")
    camera.shoot(page, "rollout-paused")

    commits = lab.commits()
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#rollout-state")).to_have_text("running")
    expect(page.locator("#job-link")).not_to_have_text(first_job)
    job_href = page.locator("#job-link").get_attribute("href")
    assert job_href
    run_behind_the_page(site, job_href.rsplit("/", 1)[1])
    expect(page.locator("#rollout-state")).to_have_text("failed", timeout=BOUND_MS)
    expect(page.locator("#wave-1 .wave-done")).to_have_text("done")
    expect(page.locator("#wave-1-progress")).to_have_attribute("value", "2")
    expect(page.locator("#wave-2 .wave-failed")).to_have_text("failed")
    expect(page.locator("#wave-2-progress")).to_have_attribute("value", "4")
    expect(page.locator("#rollout-count")).to_have_text("6 / 6 instances")
    expect(page.locator("#wave-2 .outcome-upgraded")).to_have_count(3)
    broken = page.locator("#wave-2 tr", has=page.locator(".outcome-failed"))
    expect(broken).to_contain_text(ids()[3])
    expect(broken.locator("+ tr.error-row")).to_contain_text(
        "greeting: 'hi' has no reading as boolean"
    )
    stopped = page.locator("#rollout-stopped")
    expect(stopped).to_contain_text(f"Stopped in wave 2 (dev) at {ids()[3]}")
    expect(stopped).to_contain_text("greeting: 'hi' has no reading as boolean")
    assert lab.commits() == commits + 5
    camera.shoot(page, "rollout-failed")

    page.get_by_role("button", name="Roll back dev").click()
    expect(page.locator("#rollout-state")).to_have_text("rolling back")
    job_href = page.locator("#job-link").get_attribute("href")
    assert job_href
    run_behind_the_page(site, job_href.rsplit("/", 1)[1])
    expect(page.locator("#rollout-state")).to_have_text("rolled back", timeout=BOUND_MS)
    expect(page.locator("#wave-2 .outcome-rolled-back")).to_have_count(3)
    expect(page.locator("#wave-1 .outcome-rolled-back")).to_have_count(0)
    assert lab.commits() == commits + 8
    camera.shoot(page, "rollout-rolled-back")


@pytest.fixture
def site(
    tmp_path: Path, server_database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    """Two dev instances and version 1.3.0 (a new containerPort default); the server runs its
    own job worker."""
    with instance_site(tmp_path, server_database_url, lab, basic_registry) as running:
        running.create()
        running.create({**DEV, "instance": "eu-2"})
        text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
        publish(running, text, "1.3.0")
        yield running


def test_the_impact_view_and_a_rollout_with_the_servers_own_worker(
    browser: Browser, site: InstanceSite, tmp_path: Path
) -> None:
    camera = Camera(tmp_path / "shots")
    page = open_page(browser, site, ADMIN_NAME, ADMIN_PASSWORD)
    page.on("dialog", lambda dialog: dialog.accept())
    to_fleet(page)
    page.get_by_label("Template version", exact=True).select_option("web-service@1.3.0")
    page.get_by_role("button", name="Show the impact").click()
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=BOUND_MS)
    expect(page.locator("#change-counts")).to_contain_text("Manifests change: 2")
    expect(page.locator("#job-progress")).to_have_attribute("value", "2")
    expect(page.locator("#change-manifests .dl-add", has_text="containerPort: 8081")).to_have_count(
        2
    )
    camera.shoot(page, "impact")

    to_fleet(page)
    page.get_by_label("Template version to roll out").select_option("web-service@1.3.0")
    page.get_by_label("App version").fill("3.5.0")
    for row in (2, 3, 4):
        page.get_by_label(f"Wave {row} name").fill("")
    page.get_by_role("button", name="Start the rollout").click()
    expect(page.locator("#rollout-state")).to_have_text("succeeded", timeout=BOUND_MS)
    expect(page.locator("#wave-1-progress")).to_have_attribute("value", "2")
    expect(page.locator("#wave-1 .outcome-upgraded")).to_have_count(2)
    expect(page.get_by_role("button", name="Roll back every wave")).to_be_visible()
    camera.shoot(page, "rollout")
