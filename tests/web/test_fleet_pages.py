"""The fleet pages over a live server, a real Git remote and Debian's docker-registry: start a
verification and an impact view from /fleet, follow the job page (its progress bar, reloading
while it runs, then the result per instance), and a rollout's page with its waves and
controls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.services import jobs
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.jobs import JobResources
from helmforge.services.registries import secret_key_for
from helmforge.services.settings import Settings
from tests.support.charts import example_text
from tests.support.instances import DEV, GitLab, git_lab, path_of
from tests.support.registry import RegistryServer
from tests.web.conftest import csrf_of
from tests.web.instance_sites import InstanceSite, instance_site

pytestmark = [pytest.mark.registry, pytest.mark.xdist_group("registry")]

STAGE = {**DEV, "instance": "eu-2"}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(tmp_path, database_url, lab, basic_registry, jobs_worker=False) as running:
        running.create()
        running.create(STAGE)
        yield running


def run_job(site: InstanceSite, tmp_path: Path, database_url: str, job_id: str) -> None:
    """Run the job here, as the server's worker would (the site runs none)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    workspace = GitWorkspace.from_settings(settings, secret_key_for(settings))
    jobs.execute(site.sessions, job_id, resources=JobResources(workspace=workspace), owner="test")


def test_a_verification_started_from_the_fleet_page_shows_its_progress_and_result(
    site: InstanceSite, tmp_path: Path, database_url: str
) -> None:
    with site.signed_in() as client:
        page = client.get("/fleet")
        assert page.status_code == 200, page.text
        assert 'action="/fleet/verify"' in page.text
        started = client.post(
            "/fleet/verify", data={"csrf_token": csrf_of(page.text), "environment": "dev"}
        )
        assert started.status_code == 303, started.text
        location = started.headers["location"]
        queued = client.get(location)
        assert 'http-equiv="refresh"' in queued.text
        assert '<strong id="job-state">queued</strong>' in queued.text
        assert re.search(r'<progress id="job-progress" max="2" value="0">', queued.text)

        run_job(site, tmp_path, database_url, location.rsplit("/", 1)[1])
        done = client.get(location)
        assert '<strong id="job-state">succeeded</strong>' in done.text
        assert 'http-equiv="refresh"' not in done.text
        assert re.search(r'<progress id="job-progress" max="2" value="2">', done.text)
        assert "2 ok, 0 drifted" in done.text
        for instance in (path_of(), path_of(STAGE)):
            assert f'<a href="/instances/{instance}">{instance}</a>' in done.text


def test_the_impact_view_from_the_fleet_page_lists_each_change(
    site: InstanceSite, tmp_path: Path, database_url: str
) -> None:
    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    added = site.api.post(
        "/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert added.status_code == 201, added.text
    assert site.api.post("/api/v1/templates/web-service/versions/1.3.0/publish").is_success
    with site.signed_in() as client:
        page = client.get("/fleet")
        started = client.post(
            "/fleet/impact",
            data={"csrf_token": csrf_of(page.text), "template": "web-service@1.3.0"},
        )
        assert started.status_code == 303, started.text
        run_job(site, tmp_path, database_url, started.headers["location"].rsplit("/", 1)[1])
        done = client.get(started.headers["location"])
        assert "manifests: 2" in done.text
        assert "Manifest diff" in done.text
        assert "+          containerPort: 8081" in done.text
        missing = client.post(
            "/fleet/impact", data={"csrf_token": csrf_of(page.text), "template": "nope@1.0.0"}
        )
        assert missing.status_code == 404


def test_a_rollout_page_shows_its_waves_and_pauses_from_its_button(site: InstanceSite) -> None:
    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    site.api.post("/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"})
    site.api.post("/api/v1/templates/web-service/versions/1.3.0/publish")
    plan = {
        "template": "web-service@1.3.0",
        "version": "3.5.0",
        "waves": [{"name": "first", "filter": {"environment": "dev"}}, {"name": "rest"}],
    }
    started = site.api.post("/api/v1/fleet/rollouts", json=plan)
    assert started.status_code == 202, started.text
    rollout = started.json()["rollout"]
    with site.signed_in() as client:
        page = client.get(f"/fleet/rollouts/{rollout}")
        assert page.status_code == 200, page.text
        assert "Wave 1: first" in page.text
        assert "Wave 2: rest" in page.text
        assert f'formaction="/fleet/rollouts/{rollout}/pause"' in page.text
        paused = client.post(
            f"/fleet/rollouts/{rollout}/pause", data={"csrf_token": csrf_of(page.text)}
        )
        assert paused.status_code == 303, paused.text
        assert "(pause asked)" in client.get(f"/fleet/rollouts/{rollout}").text
        refused = client.post(
            f"/fleet/rollouts/{rollout}/resume", data={"csrf_token": csrf_of(page.text)}
        )
        assert refused.status_code == 409
