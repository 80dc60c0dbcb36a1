"""The fleet pages over a live server, a real Git remote over smart HTTP and Debian's
docker-registry, on SQLite and PostgreSQL: the impact view started from the Fleet page and
its result grouped by kind of change (values diff, manifest diff, why blocked); a verification
that finds the tag moved behind helmforge's back; a rollout paused, resumed and rolled back
from its page; and what each visitor may see and do. The server runs no job worker: each test
runs the jobs itself, as a worker would, so every page is seen before and after."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts, jobs
from helmforge.services.jobs import JobResources
from tests.support.charts import example_text
from tests.support.fleets import push_over_tag, registry_url, segments
from tests.support.instances import GitLab, git_lab
from tests.support.registry import RegistryServer
from tests.web.conftest import csrf_of
from tests.web.instance_sites import USER_PASSWORD, InstanceSite, instance_site

pytestmark = [pytest.mark.registry]

YAML = {"Content-Type": "application/yaml"}
#: One instance of each kind of change against ``mixed_version``, in this order.
OVERRIDES: list[dict[str, Any]] = [
    {"replicaCount": 2},  # manifests: containerPort's new default reaches the Deployment
    {"containerPort": 8080, "autoscaling": {"maxReplicas": 5}},  # identical: overrides both
    {"containerPort": 8080},  # values: maxReplicas (an HPA only uat and prod have)
    {"greeting": "hi"},  # breaking: the migration cannot retype 'hi' to a boolean
]
KINDS = ["manifests", "identical", "values", "breaking"]


def mixed_version(version: str = "1.3.0") -> str:
    """The example with containerPort 8081 and maxReplicas 6 by default, and a migration
    retyping greeting to boolean."""
    retype = '  migrations:\n    - from: "<1.3.0"\n      retype: {greeting: boolean}\n'
    return (
        example_text(version=version)
        .replace("default: 8080", "default: 8081", 1)
        .replace(
            "        default: 5\n        description: Most pods",
            "        default: 6\n        description: Most pods",
            1,
        )
        .replace('  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + retype, 1)
    )


def ids() -> list[str]:
    return ["/".join(segments(number).values()) for number in range(len(OVERRIDES))]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(tmp_path, database_url, lab, basic_registry, jobs_worker=False) as running:
        for number, values in enumerate(OVERRIDES):
            running.create(segments(number), values=values)
        yield running


def publish(site: InstanceSite, text: str, version: str) -> None:
    added = site.api.post("/api/v1/templates", content=text, headers=YAML)
    assert added.status_code == 201, added.text
    published = site.api.post(f"/api/v1/templates/web-service/versions/{version}/publish")
    assert published.status_code == 200, published.text


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Post ``data`` to ``action`` with the CSRF token of ``page``, as its form does."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data})


def job_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/jobs/"), location
    return location.removeprefix("/jobs/")


def group_of(page: str, kind: str) -> str:
    """The HTML of the result's section for ``kind``."""
    match = re.search(rf'<section [^>]*id="change-{kind}">(.*?)</section>', page, re.S)
    assert match, f"no {kind} section"
    return match.group(1)


def instances_in(section: str) -> list[str]:
    return re.findall(r"<summary><code>([^<]+)</code>", section)


def test_the_impact_view_from_the_fleet_page_grouped_by_kind_of_change(
    site: InstanceSite, lab: GitLab
) -> None:
    publish(site, mixed_version(), "1.3.0")
    commits = lab.commits()
    with site.signed_in() as client:
        fleet = client.get("/fleet")
        assert fleet.status_code == 200, fleet.text
        assert "<option selected>web-service@1.3.0</option>" not in fleet.text
        assert "<option >web-service@1.3.0</option>" in fleet.text
        assert fleet.text.index("web-service@1.3.0") < fleet.text.index("web-service@1.2.0")
        job = job_of(
            post_form(client, "/fleet", "/fleet/impact", {"template": "web-service@1.3.0"})
        )

        queued = client.get(f"/jobs/{job}")
        assert queued.status_code == 200, queued.text
        assert 'data-job-poll="/jobs/' in queued.text
        assert '<progress id="job-progress" max="4" value="0">' in queued.text
        assert '<meta http-equiv="refresh" content="3">' in queued.text  # without scripts
        assert 'id="cancel-button"' in queued.text
        assert "change-counts" not in queued.text
        assert client.get(f"/jobs/{job}/progress").json() == {
            "state": "queued",
            "done": 0,
            "total": 4,
        }

        site.run_job(job)
        assert client.get(f"/jobs/{job}/progress").json() == {
            "state": "succeeded",
            "done": 4,
            "total": 4,
        }
        done = client.get(f"/jobs/{job}")
        page = done.text
        assert '<progress id="job-progress" max="4" value="4">' in page
        assert "http-equiv" not in page
        assert 'id="cancel-button"' not in page
        assert "Impact view of <code>web-service@1.3.0</code>" in page
        for instance, kind in zip(ids(), KINDS, strict=True):
            assert instances_in(group_of(page, kind)) == [instance], kind
        counts = re.findall(r'class="badge change-(\w+)">[^<]+: <strong>(\d+)</strong>', page)
        assert counts == [
            ("breaking", "1"),
            ("manifests", "1"),
            ("values", "1"),
            ("identical", "1"),
        ]

        manifests = html.unescape(group_of(page, "manifests"))
        assert "-          containerPort: 8080" in manifests
        assert "+          containerPort: 8081" in manifests
        assert '<span class="dl dl-add">+          containerPort: 8081' in group_of(
            page, "manifests"
        )
        assert re.search(
            r"<code>containerPort</code></th><td data-label=\"Change\">changed</td>\s*"
            r'<td data-label="Now"><code class="wrap diff-del-sample">8080</code></td>\s*'
            r'<td data-label="After"><code class="wrap diff-add-sample">8081</code>',
            manifests,
        )
        values = group_of(page, "values")
        assert "<code>autoscaling.maxReplicas</code>" in values
        assert "dl-add" not in values  # no manifest diff: the HPA is not in dev
        breaking = html.unescape(group_of(page, "breaking"))
        assert "Why it is blocked" in breaking
        assert "greeting: 'hi' has no reading as boolean" in breaking
        assert "No difference." in group_of(page, "identical")

        only = client.get(f"/jobs/{job}?change=breaking").text
        assert re.findall(r'<section [^>]*id="change-(\w+)">', only) == ["breaking"]
        assert "Every kind of change" in only
        assert lab.commits() == commits  # the impact view commits nothing

        listed = client.get("/fleet").text
        assert f'href="/jobs/{job}">Impact view</a>' in listed

        refused = post_form(client, "/fleet", "/fleet/impact", {"template": "web-service@9.9.9"})
        assert refused.status_code == 404
        assert 'id="problem"' in refused.text
        assert "9.9.9" in refused.text
        bad = post_form(
            client,
            "/fleet",
            "/fleet/impact",
            {"template": "web-service@1.3.0", "customer": "Not A Label"},
        )
        assert bad.status_code in (400, 422), bad.text
        assert "filter.customer" in bad.text
        assert 'value="Not A Label"' in bad.text  # what was typed is shown again
        assert client.get("/jobs/0123abcd").status_code == 404


def test_a_split_impact_view_shows_on_its_page_what_its_ended_chunks_found(
    site: InstanceSite,
) -> None:
    publish(site, mixed_version(), "1.3.0")
    with site.signed_in() as client:
        job = job_of(
            post_form(client, "/fleet", "/fleet/impact", {"template": "web-service@1.3.0"})
        )
        with site.sessions.begin() as session:  # two instances a chunk: two chunks
            row = session.get(JobRow, job)
            assert row is not None
            row.params = {**row.params, "chunk": 2}
        assert site.app is not None
        resources = JobResources(workspace=state_of(site.app).git_workspace)
        jobs.execute(site.sessions, job, resources=resources, owner="w1")
        with site.sessions() as session:
            first = session.get(JobRow, job).result["chunks"][0]  # type: ignore[union-attr]
        jobs.execute(site.sessions, first, resources=resources, owner="w1")

        page = client.get(f"/jobs/{job}").text
        assert '<progress id="job-progress" max="4" value="2">' in page
        assert "what it found so far (1 of 2 parts done)" in page
        assert instances_in(group_of(page, "manifests")) == [ids()[0]]
        assert instances_in(group_of(page, "identical")) == [ids()[1]]
        assert instances_in(group_of(page, "breaking")) == []
        assert 'id="cancel-button"' in page


def test_a_verification_finds_the_tag_moved_behind_helmforges_back(site: InstanceSite) -> None:
    with site.signed_in() as client:
        clean = job_of(post_form(client, "/fleet", "/fleet/verify", {}))
        site.run_job(clean)
        page = client.get(f"/jobs/{clean}").text
        assert 'id="no-drift"' in page
        assert "Verified ok: 4" in page

        moved = site.api.get(f"/api/v1/instances/{ids()[2]}").json()
        served = push_over_tag(registry_url(site.api), moved["chart"], moved["chart_version"])  # type: ignore[arg-type]
        again = job_of(post_form(client, "/fleet", "/fleet/verify", {"verify-environment": "dev"}))
        site.run_job(again)
        page = client.get(f"/jobs/{again}").text
        assert "Instances</dt><dd>environment = dev</dd>" in page
        rows = re.findall(
            r'<tr><th scope="row"><a href="[^"]+">([^<]+)</a></th>\s*'
            r'<td data-label="Drift">(.*?)</td>',
            page,
            re.S,
        )
        assert [instance for instance, _ in rows] == [ids()[2]]
        assert "tag_moved" in rows[0][1]
        assert served in rows[0][1]
        assert "Verified ok: 3" in page


def test_a_chart_another_helmforge_packed_otherwise_is_a_notice_on_the_page_not_drift(
    site: InstanceSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helmforge import __version__
    from helmforge.adapters import archives
    from helmforge.services import chart_builds

    monkeypatch.setattr(chart_builds, "__version__", "99.0.0")
    monkeypatch.setattr(archives, "COMPRESS_LEVEL", 9)
    with site.signed_in() as client:
        job = job_of(post_form(client, "/fleet", "/fleet/verify", {}))
        site.run_job(job)
        page = html.unescape(client.get(f"/jobs/{job}").text)
    assert 'id="no-drift"' in page
    assert "Not proven by re-derivation: 4" in page
    notices = re.search(r'<table [^>]*id="notices">(.*?)</table>', page, re.S)
    assert notices
    assert re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', notices.group(1)) == ids()
    assert (
        f"built by helmforge {__version__}, this is helmforge 99.0.0: re-derivation may differ"
        in notices.group(1)
    )


def test_a_rollout_paused_resumed_and_rolled_back_from_its_page(
    site: InstanceSite, lab: GitLab
) -> None:
    publish(site, example_text(version="1.2.1"), "1.2.1")
    with site.signed_in() as client:
        started = post_form(
            client,
            "/fleet",
            "/fleet/rollouts",
            {
                "template": "web-service@1.2.1",
                "version": "3.5.0",
                "stop_on": "failure",
                "wave-0-name": "first",
                "wave-0-environment": "dev",
                "wave-0-customer": "c0",
                "wave-1-name": "",
                "wave-1-environment": "sit",
            },
        )
        assert started.status_code == 303, started.text
        url = started.headers["location"]
        page = client.get(url).text
        assert "Wave 1: first" in page
        assert "Wave 2" not in page
        assert 'id="pause-button"' in page
        assert 'id="abort-button"' in page
        assert 'id="resume-button"' not in page
        assert '<progress id="wave-1-progress" max="4" value="0">' in page
        assert "data-reload-on-progress" in page
        first_job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', page)
        assert first_job

        paused = post_form(client, url, url + "/pause", {})
        assert paused.status_code == 303
        assert "pause asked" in client.get(url).text
        site.run_job(first_job.group(1))
        page = client.get(url).text
        assert 'id="rollout-state">paused' in page
        assert 'id="resume-button"' in page
        assert 'id="pause-button"' not in page

        commits = lab.commits()
        assert post_form(client, url, url + "/resume", {}).status_code == 303
        page = client.get(url).text
        second_job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', page)
        assert second_job
        assert second_job.group(1) != first_job.group(1)
        site.run_job(second_job.group(1))
        page = client.get(url).text
        assert 'id="rollout-state">succeeded' in page
        assert '<progress id="wave-1-progress" max="4" value="4">' in page
        assert page.count('class="badge outcome-upgraded"') == 4
        assert lab.commits() == commits + 4
        assert 'id="rollback-1"' in page
        assert 'id="abort-button"' not in page

        assert post_form(client, url, url + "/rollback", {"wave": "first"}).status_code == 303
        page = client.get(url).text
        rollback_job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', page)
        assert rollback_job
        job_page = client.get(f"/jobs/{rollback_job.group(1)}").text
        link = f'<a href="{url}" id="rollout-link">its waves</a>'
        assert f"{link} (a rollback of wave first)" in job_page
        assert "every instance" not in job_page
        site.run_job(rollback_job.group(1))
        page = client.get(url).text
        assert 'id="rollout-state">rolled back' in page
        assert page.count('class="badge outcome-rolled-back"') == 4
        assert lab.commits() == commits + 8
        assert 'id="rollback-1"' not in page

        wrong = post_form(client, url, url + "/resume", {})
        assert wrong.status_code == 409
        assert "resume applies to a paused or awaiting rollout" in wrong.text
        nameless = post_form(
            client,
            "/fleet",
            "/fleet/rollouts",
            {"template": "web-service@1.2.1", "wave-0-name": "", "wave-0-customer": "c0"},
        )
        assert nameless.status_code == 422
        assert "wave 1 has a filter but no name" in nameless.text


def test_a_wave_of_the_rollout_form_upgrades_as_many_at_once_as_it_says(
    site: InstanceSite, lab: GitLab
) -> None:
    publish(site, example_text(version="1.2.1"), "1.2.1")
    with site.signed_in() as client:
        form = {"template": "web-service@1.2.1", "version": "3.5.0", "wave-0-name": "all"}
        refused = post_form(
            client, "/fleet", "/fleet/rollouts", {**form, "wave-0-max_parallel": "0"}
        )
        assert refused.status_code == 422
        assert "waves[0].max_parallel 0 is not an integer from 1 to 20" in html.unescape(
            refused.text
        )
        assert 'name="wave-0-max_parallel" type="number" min="1" max="20"' in refused.text
        commits = lab.commits()
        started = post_form(
            client, "/fleet", "/fleet/rollouts", {**form, "wave-0-max_parallel": "4"}
        )
        assert started.status_code == 303, started.text
        url = started.headers["location"]
        page = client.get(url).text
        assert "4 at once" in page
        job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', page)
        assert job
        site.run_job(job.group(1))
        page = client.get(url).text
    assert 'id="rollout-state">succeeded' in page
    assert page.count('class="badge outcome-upgraded"') == len(ids())
    assert lab.commits() == commits + len(ids())


def test_a_failed_rollout_says_on_its_page_which_wave_which_instance_and_why(
    site: InstanceSite,
) -> None:
    publish(site, mixed_version(), "1.3.0")
    broken = ids()[3]  # greeting: 'hi', which the migration cannot retype to a boolean
    with site.signed_in() as client:
        started = post_form(
            client,
            "/fleet",
            "/fleet/rollouts",
            {
                "template": "web-service@1.3.0",
                "version": "3.5.0",
                "wave-0-name": "first",
                "wave-1-name": "second",
            },
        )
        url = started.headers["location"]
        assert 'id="rollout-stopped"' not in client.get(url).text
        job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', client.get(url).text)
        assert job
        site.run_job(job.group(1))
        page = client.get(url).text
    assert 'id="rollout-state">failed' in page
    stopped = re.search(r'<div [^>]*id="rollout-stopped">(.*?)</div>', page, re.S)
    assert stopped, "a failed rollout says where it stopped"
    summary = html.unescape(re.sub(r"<[^>]+>", "", stopped.group(1)))
    summary = " ".join(summary.split())
    assert "Stopped in wave 1 (first) at " + broken in summary
    assert 'href="#wave-1"' in stopped.group(1)
    assert f'href="/instances/{broken}"' in stopped.group(1)
    assert "greeting" in summary  # the reason: the migration that failed
    assert "second" not in summary


def test_each_visitor_sees_the_controls_they_may_use_and_no_one_elses_work(
    site: InstanceSite,
) -> None:
    site.add_user("tina", "template-creator")
    site.add_user("abe", "approver")
    site.add_user("otto", "operator")
    site.add_user("aude", "auditor")
    with site.signed_in() as alice:
        job = job_of(post_form(alice, "/fleet", "/fleet/impact", {"template": "web-service@1.2.0"}))
        started = post_form(
            alice,
            "/fleet",
            "/fleet/rollouts",
            {"template": "web-service@1.2.0", "wave-0-name": "all"},
        )
        rollout = started.headers["location"]
    with site.signed_in("tina", USER_PASSWORD) as tina:
        page = tina.get("/fleet").text
        assert 'id="impact-button"' in page
        assert 'id="verify-button"' not in page
        assert 'id="rollout-button"' not in page
        assert tina.get(f"/jobs/{job}").status_code == 404  # alice's job
        assert tina.get(f"/jobs/{job}/progress").status_code == 404
        assert tina.get(rollout).status_code == 404
        mine = job_of(post_form(tina, "/fleet", "/fleet/impact", {"template": "web-service@1.2.0"}))
        site.run_job(mine)
        shown = tina.get(f"/jobs/{mine}").text
        assert '<span id="job-done">0</span> / <span id="job-total">0</span>' in shown
        assert 'id="verify-these"' not in shown  # may not read instances
    with site.signed_in("abe", USER_PASSWORD) as abe:
        page = abe.get("/fleet").text
        assert 'id="verify-button"' in page
        assert 'id="impact-button"' not in page
        assert 'id="rollout-button"' not in page
        refused = post_form(abe, "/fleet", "/fleet/impact", {"template": "web-service@1.2.0"})
        assert refused.status_code in (403, 404)
    with site.signed_in("otto", USER_PASSWORD) as otto:
        page = otto.get("/fleet").text
        for control in ("impact-button", "verify-button", "rollout-button"):
            assert f'id="{control}"' in page
        assert otto.get(rollout).status_code == 404
        forged = post_form(otto, "/fleet", rollout + "/abort", {})
        assert forged.status_code == 404
    with site.signed_in("aude", USER_PASSWORD) as aude:
        assert aude.get(f"/jobs/{job}/progress").json() == {
            "state": "queued",
            "done": 0,
            "total": 4,
        }
        seen = aude.get(f"/jobs/{job}").text
        assert 'id="cancel-button"' not in seen  # reads it, may not cancel it
        shown = aude.get(rollout).text
        assert "Wave 1: all" in shown
        assert not any(f'id="{c}-button"' in shown for c in ("pause", "abort", "resume"))
        refused = post_form(aude, rollout, rollout + "/pause", {})
        assert refused.status_code == 403


@pytest.fixture
def four_eyes_site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    """One dev instance and one in uat, where changes need one approval (carol gave it)."""
    with instance_site(
        tmp_path, database_url, lab, basic_registry, approvals={"uat": 1}, jobs_worker=False
    ) as running:
        running.add_user("carol", "approver")
        running.create(segments(0))
        proposed = running.create(segments(1, environment="uat"))
        approve(running, proposed["change_request"], "carol")
        yield running


def approve(site: InstanceSite, request: int, name: str) -> None:
    token = accounts.create_token(site.sessions, user=name, actor=SYSTEM).token
    approved = site.api.post(
        f"/api/v1/change-requests/{request}/approve",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert approved.status_code == 200, approved.text


def test_a_wave_in_a_four_eyes_environment_waits_on_its_page_for_the_approvals(
    four_eyes_site: InstanceSite, lab: GitLab
) -> None:
    site = four_eyes_site
    publish(site, example_text(version="1.2.1"), "1.2.1")
    uat = "/".join(segments(1, environment="uat").values())
    with site.signed_in() as client:
        started = post_form(
            client,
            "/fleet",
            "/fleet/rollouts",
            {
                "template": "web-service@1.2.1",
                "version": "3.5.0",
                "wave-0-name": "dev",
                "wave-0-environment": "dev",
                "wave-1-name": "uat",
                "wave-1-environment": "uat",
            },
        )
        url = started.headers["location"]
        job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', client.get(url).text)
        assert job
        commits = lab.commits()
        site.run_job(job.group(1))
        page = client.get(url).text
        assert 'id="rollout-state">awaiting' in page
        assert 'id="rollout-awaiting"' in page
        assert 'id="resume-button"' in page
        assert 'id="pause-button"' not in page
        request = re.search(r'<a href="/changes/(\d+)">change request #\1</a>', page)
        assert request, "the proposed upgrade links its change request"
        assert 'class="badge outcome-proposed">proposed' in page
        assert lab.commits() == commits + 1  # dev only: uat waits for its approval

        approve(site, int(request.group(1)), "carol")
        assert lab.commits() == commits + 2
        assert post_form(client, url, url + "/resume", {}).status_code == 303
        job = re.search(r'href="/jobs/([0-9a-f]+)" id="job-link"', client.get(url).text)
        assert job
        site.run_job(job.group(1))
        page = client.get(url).text
        assert 'id="rollout-state">succeeded' in page
        assert page.count('class="badge outcome-upgraded"') == 2
        assert f'href="/instances/{uat}"' in page
