"""The impact view (DESIGN §10) over a fleet in a real Git repository and registry, on SQLite
and PostgreSQL: a version that changes nothing is identical everywhere; a rename with its
migration is a values change whose overrides are migrated; a changed default is a manifests
change with the diff; a rename without migration and a new required parameter block the
instances and say why. Nothing is committed or published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.server.app import state_of
from helmforge.services import jobs
from helmforge.services.jobs import JobResources
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_verification import run_job
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import registry_url, seed_fleet, segments
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.queries import counted_reads
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

YAML = {"Content-Type": "application/yaml"}
OVERRIDES = [
    {"replicaCount": 2},
    {"replicaCount": 2, "logLevel": "debug"},
    {},
    {"greeting": "hi"},
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def fleet(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    app, password = make_app(database_url, tmp_path / "data", jobs_worker=False)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        for number, values in enumerate(OVERRIDES):
            body = instance_body(segments(number), values=values)
            created = api.client.post("/api/v1/instances", json=body)
            assert created.status_code == 201, created.text
        yield api


def publish(api: Api, text: str, version: str) -> None:
    added = api.client.post("/api/v1/templates", content=text, headers=YAML)
    assert added.status_code == 201, added.text
    published = api.client.post(f"/api/v1/templates/web-service/versions/{version}/publish")
    assert published.status_code == 200, published.text


def renamed(text: str) -> str:
    """replicaCount becomes replicas: the parameter, the layer that sets it, its use."""
    return (
        text.replace("    replicaCount:\n", "    replicas:\n", 1)
        .replace("        replicaCount: 3\n", "        replicas: 3\n", 1)
        .replace("${values.replicaCount}", "${values.replicas}")
    )


def impact(api: Api, template: str) -> dict[str, dict[str, Any]]:
    response = api.client.post("/api/v1/fleet/impact", json={"template": template})
    assert response.status_code == 202, response.text
    job = run_job(api, response.json()["job"])
    assert job["state"] == "succeeded", job
    assert job["progress"] == {"done": 4, "total": 4}
    assert job["result"]["template"] == template
    return {item["instance"]: item for item in job["result"]["items"]}


def ids() -> list[str]:
    return ["/".join(segments(number).values()) for number in range(len(OVERRIDES))]


def test_each_kind_of_change_and_why_an_instance_is_blocked(fleet: Api, lab: GitLab) -> None:
    commits = lab.commits()

    publish(fleet, example_text(version="1.2.1"), "1.2.1")
    same = impact(fleet, "web-service@1.2.1")
    assert [same[i]["change"] for i in ids()] == ["identical"] * 4
    assert all(not same[i]["manifest_diff"] and not same[i]["values_diff"] for i in ids())

    migration = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'
    text = renamed(example_text(version="2.0.0")).replace(
        '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + migration, 1
    )
    publish(fleet, text, "2.0.0")
    moved = impact(fleet, "web-service@2.0.0")
    assert [moved[i]["change"] for i in ids()] == ["values"] * 4
    first = moved[ids()[0]]
    assert first["migrated"] == ["renamed replicaCount to replicas"]
    assert first["blocked"] == []
    assert first["manifest_diff"] == ""
    assert {(c["path"], c["kind"]) for c in first["values_diff"]} == {
        ("replicaCount", "removed"),
        ("replicas", "added"),
    }
    assert moved[ids()[2]]["migrated"] == []  # nothing to migrate: no override of it

    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    publish(fleet, text, "1.3.0")
    ported = impact(fleet, "web-service@1.3.0")
    assert [ported[i]["change"] for i in ids()] == ["manifests"] * 4
    diff = ported[ids()[0]]["manifest_diff"]
    assert diff.startswith("--- a/deployment\n+++ b/deployment\n")
    assert "-          containerPort: 8080\n+          containerPort: 8081\n" in diff
    assert {(c["path"], c["before"], c["after"]) for c in ported[ids()[0]]["values_diff"]} == {
        ("containerPort", 8080, 8081)
    }

    owner = "    owner:\n      required: true\n      description: The team that runs it\n"
    text = (
        renamed(example_text(version="3.0.0"))
        .replace("  values:\n", "  values:\n" + owner, 1)
        .replace(
            "            app.kubernetes.io/component: web\n",
            "            app.kubernetes.io/component: web\n            team: ${values.owner}\n",
            1,
        )
    )
    publish(fleet, text, "3.0.0")
    broken = impact(fleet, "web-service@3.0.0")
    assert [broken[i]["change"] for i in ids()] == ["breaking"] * 4
    for instance in ids():
        assert any(
            "required parameter owner has no value" in r for r in broken[instance]["blocked"]
        )
    assert any(
        "parameter replicaCount was removed" in reason for reason in broken[ids()[0]]["blocked"]
    )
    assert not any("replicaCount" in reason for reason in broken[ids()[2]]["blocked"])

    assert lab.commits() == commits  # the impact view changes nothing


def test_impact_needs_a_published_version_and_template_read(fleet: Api) -> None:
    missing = fleet.client.post("/api/v1/fleet/impact", json={"template": "web-service@9.0.0"})
    assert missing.status_code == 404, missing.text
    operator = fleet.as_user("olga", role="template-creator")
    allowed = fleet.client.post(
        "/api/v1/fleet/impact", json={"template": "web-service@1.2.0"}, headers=operator
    )
    assert allowed.status_code == 202  # may read the template, reads no instance
    job = run_job(fleet, allowed.json()["job"])
    assert job["progress"] == {"done": 0, "total": 0}
    nobody = fleet.as_user("nina", role="approver")
    refused = fleet.client.post(
        "/api/v1/fleet/impact", json={"template": "web-service@1.2.0"}, headers=nobody
    )
    assert refused.status_code in (403, 404), refused.text


def test_an_upgrade_migrates_values_yaml_in_its_commit_or_builds_nothing(
    fleet: Api, lab: GitLab
) -> None:
    migration = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'
    text = renamed(example_text(version="2.0.0")).replace(
        '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + migration, 1
    )
    publish(fleet, text, "2.0.0")
    first, _, _, greeter = ids()
    values_path = f"clusters/eu/{first}/values.yaml"
    commits = lab.commits()
    upgraded = fleet.client.post(
        f"/api/v1/instances/{first}/upgrade",
        json={"template": "web-service@2.0.0", "version": "3.5.0"},
    )
    assert upgraded.status_code == 200, upgraded.text
    assert lab.commits() == commits + 1
    values = lab.show(values_path)
    assert "replicas: 2" in values
    assert "replicaCount" not in values
    assert values.startswith(f"# Values of {first}")  # the file's comments stay
    application = lab.show(f"clusters/eu/{first}/application.yaml")
    assert re.search(r"targetRevision: ['\"]?3\.5\.0", application)

    retype = '  migrations:\n    - from: "<2.1.0"\n      retype: {greeting: boolean}\n'
    text = example_text(version="2.1.0").replace(
        '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + retype, 1
    )
    publish(fleet, text, "2.1.0")
    commits = lab.commits()
    refused = fleet.client.post(
        f"/api/v1/instances/{greeter}/upgrade",
        json={"template": "web-service@2.1.0", "version": "3.5.0"},
    )
    assert refused.status_code == 422, refused.text
    assert "greeting: 'hi' has no reading as boolean" in refused.json()["message"]
    assert lab.commits() == commits
    impact_of_it = impact(fleet, "web-service@2.1.0")[greeter]
    assert impact_of_it["change"] == "breaking"
    assert impact_of_it["blocked"][0] == "not migrated: greeting: 'hi' has no reading as boolean"


EXPECTED_BY_HELM = {"1.2.1": set(), "1.3.0": {"Deployment"}, "1.4.0": {"Deployment", "ConfigMap"}}


@pytest.mark.helm
def test_the_resources_the_impact_says_change_are_those_whose_helm_renders_change(
    fleet: Api,
) -> None:
    """Helm as the oracle: for each new version, render the instance's chart under both
    versions with its values; the objects whose renders differ are exactly the resources
    the impact's manifest diff names."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import instances
    from helmforge.services.chart_renders import instance_objects
    from helmforge.services.instance_values import published_template

    publish(
        fleet, example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1), "1.3.0"
    )
    text = example_text(version="1.4.0").replace('"Hello from ${ctx.customer}"', '"Hi"', 1)
    publish(fleet, text.replace("default: 8080", "default: 8082", 1), "1.4.0")
    view = next(
        v for v in instances.list_instances(fleet.sessions, actor=SYSTEM) if v.id == ids()[1]
    )
    overrides = OVERRIDES[1]
    current = published_template(fleet.sessions, "web-service@1.2.0")[1]
    before = instance_objects(view, current, overrides, deadline=120)
    for version in ("1.2.1", "1.3.0", "1.4.0"):
        if version == "1.2.1":
            publish(fleet, example_text(version="1.2.1"), "1.2.1")
        target = published_template(fleet.sessions, f"web-service@{version}")[1]
        after = instance_objects(view, target, overrides, deadline=120)
        changed_by_helm = {key.split("/")[0] for key in before if before[key] != after.get(key)}
        diff = impact(fleet, f"web-service@{version}")[view.id]["manifest_diff"]
        named = set(re.findall(r"^--- a/(\S+)$", diff, flags=re.MULTILINE))
        kinds = {"deployment": "Deployment", "configmap": "ConfigMap"}
        assert {kinds.get(name, name) for name in named} == changed_by_helm, (version, diff)
        assert changed_by_helm == EXPECTED_BY_HELM[version]


def split_impact(
    api: Api, template: str, *, chunk: int
) -> tuple[dict[str, Any], list[list[str]], list[int]]:
    """The impact of ``template`` split in chunks of ``chunk`` instances, each chunk run
    here: the merged job, and per chunk the instance rows it loaded and its SELECTs of the
    instances table."""
    response = api.client.post("/api/v1/fleet/impact", json={"template": template})
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    with api.sessions.begin() as session:
        row = session.get(JobRow, job)
        assert row is not None
        row.params = {**row.params, "chunk": chunk}
    resources = JobResources(workspace=state_of(api.app).git_workspace, registry_deadline=10.0)
    jobs.execute(api.sessions, job, resources=resources, owner="w1")
    with api.sessions() as session:
        parent = session.get(JobRow, job)
        assert parent is not None
        assert parent.result is not None
        chunks = list(parent.result["chunks"])
    loaded, selects = [], []
    for part in chunks:
        with counted_reads(api.sessions) as reads:
            jobs.execute(api.sessions, part, resources=resources, owner="w1")
        loaded.append([instance_of(row) for row in reads.loaded_of(InstanceRow)])
        selects.append(len(reads.selects_from("instances")))
    answered = api.client.get(f"/api/v1/jobs/{job}").json()
    assert answered["state"] == "succeeded", answered
    return answered, loaded, selects


def instance_of(row: InstanceRow) -> str:
    return f"{row.product}/{row.customer}/{row.environment}/{row.instance}"


def test_a_chunk_reads_only_its_own_instances_in_one_query_and_merges_the_same_result(
    fleet: Api, lab: GitLab, tmp_path: Path
) -> None:
    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    publish(fleet, text, "1.3.0")
    whole = fleet.client.post("/api/v1/fleet/impact", json={"template": "web-service@1.3.0"})
    unsplit = run_job(fleet, whole.json()["job"])
    assert unsplit["state"] == "succeeded", unsplit

    split, loaded, selects = split_impact(fleet, "web-service@1.3.0", chunk=2)
    assert split["result"] == unsplit["result"]
    assert split["progress"] == {"done": 4, "total": 4}
    assert loaded == [ids()[:2], ids()[2:]]
    assert selects == [1, 1]

    # Three times the fleet: each chunk still reads its own two instances, in one query.
    more = seed_fleet(
        fleet.sessions, lab, tmp_path / "seed", registry=registry_url(fleet.client), count=8
    )
    larger, loaded, selects = split_impact(fleet, "web-service@1.3.0", chunk=2)
    every = ids() + more
    assert loaded == [every[start : start + 2] for start in range(0, len(every), 2)]
    assert selects == [1] * 6
    items = {item["instance"]: item for item in larger["result"]["items"]}
    assert [items[i] for i in ids()] == unsplit["result"]["items"]
    assert larger["result"]["counts"]["manifests"] == 12
