"""The fleet at scale (DESIGN §10, issue acceptance): 120 instances in a real Git repository
and registry, on SQLite and PostgreSQL. Verification reads exactly one manifest per instance
and no blob, finds the fleet clean, then finds a tag pushed over and a values.yaml edited
behind helmforge's back on exactly those two; the impact of a renaming version with its
migration is a values change on every instance, each with its overrides migrated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish, renamed
from tests.api.test_fleet_verification import run_job
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import edit_in_git, push_over_tag, seed_fleet
from tests.support.instances import GitLab, add_repository, git_lab
from tests.support.registry import (
    CANARY_PASSWORD,
    ROBOT,
    FaultProxy,
    RegistryServer,
    unique_path,
)

pytestmark = [pytest.mark.registry, pytest.mark.slow]

SIZE = 120


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def proxy(basic_registry: RegistryServer) -> Iterator[FaultProxy]:
    running = FaultProxy(basic_registry.port)
    yield running
    running.close()


def registry_requests(proxy: FaultProxy, since: int, kind: str) -> int:
    return sum(1 for method, path in proxy.requests[since:] if method == "GET" and kind in path)


def test_a_fleet_of_120_is_verified_with_one_manifest_read_each_and_its_impact_shown(
    database_url: str, tmp_path: Path, lab: GitLab, proxy: FaultProxy
) -> None:
    app, password = make_app(database_url, tmp_path / "data", jobs_worker=False)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        url = f"oci://{proxy.authority}/{unique_path()}"
        body = {"name": "lab", "url": url, "username": ROBOT, "password": CANARY_PASSWORD}
        assert (
            api.client.post("/api/v1/registries", json={**body, "plain_http": True}).status_code
            == 201
        )
        ids = seed_fleet(api.sessions, lab, tmp_path / "seed", registry=url, count=SIZE)
        _verify_and_show_impact(api, lab, tmp_path, proxy, url, ids)


def _verify_and_show_impact(
    api: Api, lab: GitLab, tmp_path: Path, proxy: FaultProxy, url: str, ids: list[str]
) -> None:
    before = len(proxy.requests)
    job = _run(api, "/api/v1/fleet/verify", {})
    assert job["progress"] == {"done": SIZE, "total": SIZE}
    assert job["result"]["ok"] == SIZE, [i for i in job["result"]["items"] if i["status"] != "ok"][
        :3
    ]
    # One read per instance, plus the job's first, which the registry answers 401 to: it
    # names its scheme (basic), which the client then sends on every read.
    assert registry_requests(proxy, before, "/manifests/") == SIZE + 1
    assert registry_requests(proxy, before, "/blobs/") == 0

    moved, edited = ids[7], ids[42]
    chart = "shop-" + moved.split("/")[1] + "-dev-" + moved.split("/")[3]
    push_over_tag(url, chart, "3.4.0")
    values_path = f"clusters/eu/{edited}/values.yaml"
    edit_in_git(lab, tmp_path / "seed", {values_path: "replicaCount: 5\n"}, "by hand")
    job = _run(api, "/api/v1/fleet/verify", {})
    drifted = {
        item["instance"]: item for item in job["result"]["items"] if item["status"] == "drift"
    }
    assert sorted(drifted) == sorted([moved, edited])
    assert [d["kind"] for d in drifted[moved]["drift"]] == ["tag_moved"]
    assert [d["kind"] for d in drifted[edited]["drift"]] == ["values_changed"]
    assert "helmforge_fleet_drifted_instances 2.0" in api.client.get("/metrics").text

    migration = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'
    text = renamed(example_text(version="2.0.0")).replace(
        '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + migration, 1
    )
    publish(api, text, "2.0.0")
    job = _run(api, "/api/v1/fleet/impact", {"template": "web-service@2.0.0"})
    assert job["result"]["counts"] == {
        "identical": 0,
        "values": SIZE,
        "manifests": 0,
        "breaking": 0,
    }
    assert all(
        item["migrated"] == ["renamed replicaCount to replicas"] for item in job["result"]["items"]
    )


def _run(api: Api, path: str, body: dict[str, object]) -> dict[str, object]:
    response = api.client.post(path, json=body)
    assert response.status_code == 202, response.text
    job = run_job(api, response.json()["job"])
    assert job["state"] == "succeeded", job
    return job
