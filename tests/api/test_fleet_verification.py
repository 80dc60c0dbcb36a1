"""Fleet verification (DESIGN §10) against a real ``git http-backend`` and Debian's
docker-registry, on SQLite and PostgreSQL: a clean fleet verifies ok; a tag pushed over behind
helmforge's back, a values.yaml edited in Git and an application.yaml pointing elsewhere are
each reported as that drift, on that instance only; the drift gauge counts them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import jobs
from helmforge.services.jobs import JobResources
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.fleets import (
    create_fleet,
    edit_in_git,
    push_over_tag,
    registry_url,
    seed_fleet,
)
from tests.support.instances import GitLab, add_registry, add_repository, git_lab
from tests.support.queries import Reads, counted_reads
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def fleet_api(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    """The API without a job worker of its own: the tests run each job themselves."""
    app, password = make_app(database_url, tmp_path / "data", jobs_worker=False)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        yield api


def run_job(api: Api, job_id: str) -> dict[str, Any]:
    """Run the job here, to its end, as a worker would; the job as the API answers it."""
    state = state_of(api.app)
    resources = JobResources(workspace=state.git_workspace, registry_deadline=10.0)
    jobs.execute_here(api.sessions, job_id, resources=resources, owner="test")
    response = api.client.get(f"/api/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def verify(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.client.post("/api/v1/fleet/verify", json=body or {})
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]
    queued = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert queued["state"] == "queued"
    return run_job(api, job_id)


def by_instance(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["instance"]: item for item in job["result"]["items"]}


def drift_kinds(item: dict[str, Any]) -> list[str]:
    return [drift["kind"] for drift in item["drift"]]


def test_a_clean_fleet_verifies_ok_and_drift_behind_helmforges_back_is_reported(
    fleet_api: Api, lab: GitLab, tmp_path: Path
) -> None:
    created = create_fleet(fleet_api.client, 4)
    job = verify(fleet_api)
    assert job["state"] == "succeeded"
    assert job["progress"] == {"done": 4, "total": 4}
    assert [item["status"] for item in job["result"]["items"]] == ["ok"] * 4
    assert job["result"]["drifted"] == 0

    moved, edited, repointed, clean = created
    served = push_over_tag(registry_url(fleet_api.client), moved["chart"], moved["chart_version"])
    values_path = f"clusters/eu/{edited['id']}/values.yaml"
    edit_in_git(
        lab,
        tmp_path / "outside",
        {values_path: lab.show(values_path) + "extra: by hand\n"},
        "edited behind helmforge's back",
    )
    application_path = f"clusters/eu/{repointed['id']}/application.yaml"
    application, replaced = re.subn(
        r"targetRevision: .*3\.4\.0.*", "targetRevision: 9.9.9", lab.show(application_path)
    )
    assert replaced == 1
    edit_in_git(lab, tmp_path / "outside", {application_path: application}, "repointed")

    job = verify(fleet_api)
    assert job["state"] == "succeeded", job
    items = by_instance(job)
    assert drift_kinds(items[moved["id"]]) == ["tag_moved"]
    assert items[moved["id"]]["drift"][0]["served"] == served
    assert drift_kinds(items[edited["id"]]) == ["values_changed"]
    assert items[edited["id"]]["drift"][0]["paths"] == ["extra"]
    assert drift_kinds(items[repointed["id"]]) == ["application_mismatch"]
    assert "9.9.9" in items[repointed["id"]]["drift"][0]["message"]
    assert items[clean["id"]] == {"instance": clean["id"], "status": "ok", "drift": []}
    assert job["result"]["drifted"] == 3

    metrics = fleet_api.client.get("/metrics").text
    assert "helmforge_fleet_drifted_instances 3.0" in metrics


def test_a_filter_verifies_only_its_instances_and_a_bad_one_is_422(fleet_api: Api) -> None:
    create_fleet(fleet_api.client, 2)
    job = verify(fleet_api, {"filter": {"customer": "c0", "environment": "prod"}})
    assert job["progress"] == {"done": 0, "total": 0}
    assert job["result"]["items"] == []
    response = fleet_api.client.post("/api/v1/fleet/verify", json={"filter": {"team": "x"}})
    assert response.status_code == 422
    response = fleet_api.client.post(
        "/api/v1/fleet/verify", json={"filter": {"product": "Not A Label"}}
    )
    assert response.status_code in (400, 422)
    assert "filter.product" in response.text


def test_a_job_is_missing_for_others_and_readable_by_an_auditor(fleet_api: Api) -> None:
    response = fleet_api.client.post("/api/v1/fleet/verify", json={})
    job_id = response.json()["job"]
    operator = fleet_api.as_user("olga", role="operator")
    auditor = fleet_api.as_user("aude", role="auditor")
    assert fleet_api.client.get(f"/api/v1/jobs/{job_id}", headers=operator).status_code == 404
    assert fleet_api.client.get(f"/api/v1/jobs/{job_id}", headers=auditor).status_code == 200
    assert fleet_api.client.get("/api/v1/jobs/0123abcd").status_code == 404


def test_a_fleet_larger_than_one_job_takes_is_refused_naming_the_filter(
    fleet_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helmforge.services import fleet_sources

    create_fleet(fleet_api.client, 2)
    monkeypatch.setattr(fleet_sources, "MAX_FLEET", 2)
    refused = fleet_api.client.post("/api/v1/fleet/verify", json={})
    assert refused.status_code in (400, 422), refused.text
    assert "2 or more instances match the whole fleet" in refused.json()["message"]
    narrowed = fleet_api.client.post("/api/v1/fleet/verify", json={"filter": {"customer": "c9"}})
    assert narrowed.status_code == 202


def test_after_a_helmforge_upgrade_a_build_reproduces_or_says_which_generator_built_it(
    fleet_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helmforge import __version__
    from helmforge.adapters import archives
    from helmforge.services import chart_builds

    created = create_fleet(fleet_api.client, 2)
    with fleet_api.sessions() as session:
        build_id = session.scalars(
            sa.select(ChartBuildRow.id).where(ChartBuildRow.chart_name == created[0]["chart"])
        ).one()
    build = chart_builds.get_build(fleet_api.sessions, build_id, actor=SYSTEM)
    assert build.generator == chart_builds.generator()
    assert build.generator["helmforge"] == __version__
    # A new helmforge that renders and packs the same bytes: every build still reproduces.
    monkeypatch.setattr(chart_builds, "__version__", "99.0.0")
    assert chart_builds.generator()["helmforge"] == "99.0.0"
    job = verify(fleet_api)
    assert [item["status"] for item in job["result"]["items"]] == ["ok"] * 2, job
    # One that packs them otherwise: the verification says which helmforge built each.
    monkeypatch.setattr(archives, "COMPRESS_LEVEL", 9)
    job = verify(fleet_api)
    items = by_instance(job)
    for instance in created:
        item = items[instance["id"]]
        assert item["status"] == "notice", item
        (notice,) = item["drift"]
        assert notice["kind"] == "generator_changed"
        assert notice["message"].startswith(
            f"built by helmforge {__version__}, this is helmforge 99.0.0: re-derivation may differ"
        )
    assert (job["result"]["drifted"], job["result"]["notices"]) == (0, 2)
    assert "helmforge_fleet_drifted_instances 0.0" in fleet_api.client.get("/metrics").text


def test_a_verification_reads_its_build_records_in_one_query_whatever_the_fleets_size(
    fleet_api: Api, lab: GitLab, tmp_path: Path
) -> None:
    def verified_reads() -> tuple[dict[str, Any], Reads]:
        response = fleet_api.client.post("/api/v1/fleet/verify", json={})
        assert response.status_code == 202, response.text
        with counted_reads(fleet_api.sessions) as reads:
            job = run_job(fleet_api, response.json()["job"])
        assert job["state"] == "succeeded", job
        return job, reads

    create_fleet(fleet_api.client, 3)
    small, small_reads = verified_reads()
    assert small["result"]["ok"] == 3, small
    seed_fleet(
        fleet_api.sessions, lab, tmp_path / "seed", registry=registry_url(fleet_api.client), count=9
    )
    large, large_reads = verified_reads()
    assert large["result"]["ok"] == 12, [i for i in large["result"]["items"] if i["status"] != "ok"]
    for reads in (small_reads, large_reads):
        assert len(reads.selects_from("chart_builds")) == 1
        assert len(reads.selects_from("instances")) == 1
    # Whatever else it reads (repositories, registries, templates, audit records), the same
    # number of queries for 12 instances as for 3 (the job's own row aside: its progress).
    assert len(reads_beside_jobs(large_reads)) == len(reads_beside_jobs(small_reads))


def reads_beside_jobs(reads: Reads) -> list[str]:
    jobs_row = set(reads.selects_from("jobs"))
    return [
        statement
        for statement in reads.statements
        if statement.lstrip().upper().startswith("SELECT") and statement not in jobs_row
    ]
