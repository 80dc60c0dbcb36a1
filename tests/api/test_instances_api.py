"""Instances over the API (DESIGN §6) against a real ``git http-backend`` and Debian's
docker-registry, on SQLite and PostgreSQL: create, read, list, values updates with If-Match,
history, rollback, upgrade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.instances.application import APPLICATION_LABEL
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single
from helmforge.services import chart_renders
from tests.api.conftest import Api
from tests.support.charts import example_text
from tests.support.fleets import edit_in_git
from tests.support.instances import (
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    path_of,
    url_of,
)
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

VALUES = f"clusters/eu/{path_of()}/values.yaml"
YAML = {"Content-Type": "application/yaml"}
APPLICATION = f"clusters/eu/{path_of()}/application.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def ready(api: Api, lab: GitLab, basic_registry: RegistryServer) -> Api:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    return api


@pytest.fixture(scope="module")
def argocd_schemas(shared_data: Path) -> SchemaSet:
    source = shared_data / "argocd" / "application-crd.yaml"
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    return SchemaSet(
        kubernetes_version="argocd", definitions=crd_definitions(crd, source=str(source))
    )


def create(api: Api, **changes: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/instances", json=instance_body(**changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


def put_values(api: Api, values: dict[str, Any], revision: str | None, **extra: Any) -> Any:
    headers = {"If-Match": f'"{revision}"'} if revision else {}
    return api.client.put(url_of() + "/values", json={"values": values, **extra}, headers=headers)


def test_create_is_one_commit_with_both_files_and_get_answers_its_revision(
    ready: Api, lab: GitLab, argocd_schemas: SchemaSet
) -> None:
    before = lab.commits()
    created = create(ready)
    assert lab.commits() == before + 1
    assert created["id"] == path_of()
    assert created["revision"] == lab.head()
    assert (created["chart"], created["chart_version"]) == ("shop-acme-dev-eu-1", "3.4.0")
    assert created["values"] == {"replicaCount": 2}
    # values.yaml holds the overrides only; the chart's defaults stay in the chart.
    values = load_single(lab.show(VALUES), source="values.yaml").data
    assert values == {"replicaCount": 2}
    application = load_single(lab.show(APPLICATION), source="application.yaml").data
    assert argocd_schemas.validate(application) == []
    chart_source, values_source = application["spec"]["sources"]
    assert chart_source["targetRevision"] == "3.4.0"
    assert chart_source["chart"] == "shop-acme-dev-eu-1"
    assert chart_source["helm"]["valueFiles"] == [f"$values/{VALUES}"]
    assert values_source == {"repoURL": lab.url(), "targetRevision": "main", "ref": "values"}
    log = lab.log()
    assert log.startswith("admin <admin@users.helmforge.invalid>\nshop/acme/dev/eu-1: create")

    shown = ready.client.get(url_of())
    assert shown.status_code == 200, shown.text
    assert shown.headers["ETag"] == f'"{lab.head()}"'
    body = shown.json()
    assert body["revision"] == lab.head()
    assert body["template"] == "web-service@1.2.0"
    assert body["effective_values"]["replicaCount"] == 2
    assert body["provenance"]["replicaCount"] == "override"
    assert body["provenance"]["logLevel"] == "layer 1"
    assert body["fetched"] is True
    listed = ready.client.get("/api/v1/instances", params={"environment": "dev"}).json()
    assert [item["id"] for item in listed["items"]] == [path_of()]
    assert ready.client.get("/api/v1/instances", params={"q": "ACME/DEV"}).json()["items"]
    assert ready.client.get("/api/v1/instances", params={"product": "other"}).json() == {
        "items": []
    }
    assert not ready.client.get("/api/v1/instances", params={"outdated": True}).json()["items"]


def test_an_instance_exists_once_and_ids_that_join_into_one_name_are_refused(
    ready: Api, lab: GitLab
) -> None:
    create(ready)
    again = ready.client.post("/api/v1/instances", json=instance_body())
    assert again.status_code == 409, again.text
    assert "already exists" in again.json()["message"]
    commits = lab.commits()
    joined = {"product": "shop-acme", "customer": "dev", "environment": "eu", "instance": "1"}
    clash = ready.client.post("/api/v1/instances", json=instance_body(joined))
    assert clash.status_code == 409, clash.text
    assert "shop-acme-dev-eu-1" in clash.json()["message"]
    assert lab.commits() == commits


def test_values_breaking_the_schema_are_422_with_paths_and_nothing_is_created(
    ready: Api, lab: GitLab
) -> None:
    commits = lab.commits()
    response = ready.client.post(
        "/api/v1/instances",
        json=instance_body(values={"replicaCount": "three", "service": {"port": 70000}}),
    )
    assert response.status_code == 422, response.text
    paths = {error["path"] for error in response.json()["errors"]}
    assert paths == {"replicaCount", "service.port"}
    assert lab.commits() == commits
    assert ready.client.get(url_of()).status_code == 404
    assert ready.client.get("/api/v1/instances").json() == {"items": []}


def test_an_update_with_if_match_is_one_commit_that_keeps_the_files_comments(
    ready: Api, lab: GitLab
) -> None:
    revision = create(ready)["revision"]
    assert put_values(ready, {"replicaCount": 3}, None).status_code == 428
    updated = put_values(
        ready, {"replicaCount": 3, "greeting": "on"}, revision, message="scale out"
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["committed"] is True
    assert body["revision"] == lab.head() != revision
    assert updated.headers["ETag"] == f'"{lab.head()}"'
    assert body["message"].startswith("shop/acme/dev/eu-1: values: set replicaCount, greeting")
    assert "scale out" in body["message"]
    text = lab.show(VALUES)
    assert text.startswith("# Values of shop/acme/dev/eu-1")  # the file's comment stays
    assert 'greeting: "on"' in text  # YAML 1.1 would read a bare on as true
    assert "-replicaCount: 2\n+replicaCount: 3\n" in body["diff"]
    again = put_values(ready, {"replicaCount": 3, "greeting": "on"}, body["revision"])
    assert again.json()["committed"] is False
    assert again.json()["revision"] == body["revision"]


def test_a_schema_violation_is_422_with_paths_and_nothing_is_committed(
    ready: Api, lab: GitLab
) -> None:
    revision = create(ready)["revision"]
    commits = lab.commits()
    refused = put_values(ready, {"service": {"type": "Mesh"}, "logLevel": "loud"}, revision)
    assert refused.status_code == 422, refused.text
    assert {e["path"] for e in refused.json()["errors"]} == {"service.type", "logLevel"}
    assert lab.commits() == commits


def test_two_editors_on_one_revision_the_second_gets_409_with_the_diff(
    ready: Api, lab: GitLab
) -> None:
    revision = create(ready)["revision"]
    first = put_values(ready, {"replicaCount": 4}, revision)
    assert first.status_code == 200, first.text
    second = put_values(ready, {"replicaCount": 5}, revision)
    assert second.status_code == 409, second.text
    body = second.json()
    assert body["current_revision"] == first.json()["revision"]
    assert "-replicaCount: 2\n+replicaCount: 4\n" in body["diff"]
    assert "replicaCount: 4" in lab.show(VALUES)


def test_history_is_newest_first_and_rollback_is_a_new_commit(ready: Api, lab: GitLab) -> None:
    created = create(ready)
    changed = put_values(ready, {"replicaCount": 6}, created["revision"]).json()
    history = ready.client.get(url_of() + "/history")
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [item["revision"] for item in items] == [changed["revision"], created["revision"]]
    assert items[0]["author"] == "admin"
    assert "+replicaCount: 6" in items[0]["diff"]
    assert "application.yaml" in items[1]["diff"]
    back = ready.client.post(url_of() + "/rollback", json={"revision": created["revision"]})
    assert back.status_code == 200, back.text
    assert back.json()["revision"] == lab.head()
    assert "roll back to" in back.json()["message"]
    assert load_single(lab.show(VALUES), source="v").data == {"replicaCount": 2}
    assert len(ready.client.get(url_of() + "/history").json()["items"]) == 3
    unknown = ready.client.post(url_of() + "/rollback", json={"revision": "0" * 40})
    assert unknown.status_code == 404


def test_an_upgrade_bumps_the_chart_version_in_one_commit(ready: Api, lab: GitLab) -> None:
    create(ready)
    commits = lab.commits()
    upgraded = ready.client.post(url_of() + "/upgrade", json={"version": "3.5.0"})
    assert upgraded.status_code == 200, upgraded.text
    assert lab.commits() == commits + 1
    application = load_single(lab.show(APPLICATION), source="a").data
    assert application["spec"]["sources"][0]["targetRevision"] == "3.5.0"
    assert upgraded.json()["instance"]["chart_version"] == "3.5.0"
    assert upgraded.json()["instance"]["app_version"] == "3.5.0"
    assert "3.4.0 -> 3.5.0" in upgraded.json()["message"]
    same = ready.client.post(url_of() + "/upgrade", json={"version": "3.5.0"})
    assert same.status_code == 422


def test_an_upgrade_labels_an_older_application_yaml_with_its_name(
    ready: Api, lab: GitLab, tmp_path: Path, argocd_schemas: SchemaSet
) -> None:
    create(ready)
    # An application.yaml written before helmforge labelled Applications with their name
    # (the list's Argo CD selector), with a comment of its own.
    older = lab.show(APPLICATION).replace(
        f"    {APPLICATION_LABEL}: shop-acme-dev-eu-1\n", "    # labelled by ops\n"
    )
    assert APPLICATION_LABEL not in older
    edit_in_git(lab, tmp_path / "clone", {APPLICATION: older}, "an older application.yaml")
    upgraded = ready.client.post(url_of() + "/upgrade", json={"version": "3.5.0"})
    assert upgraded.status_code == 200, upgraded.text
    text = lab.show(APPLICATION)
    assert "# labelled by ops" in text
    application = load_single(text, source="a").data
    assert application["metadata"]["labels"][APPLICATION_LABEL] == "shop-acme-dev-eu-1"
    assert argocd_schemas.validate(application) == []


def test_a_preview_diffs_overrides_effective_values_and_objects_without_committing(
    ready: Api, lab: GitLab
) -> None:
    create(ready)
    commits = lab.commits()
    preview = ready.client.post(
        url_of() + "/values/preview", json={"values": {"replicaCount": 7, "greeting": "hi"}}
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert "+replicaCount: 7" in body["values_diff"]
    assert {change["path"] for change in body["changes"]} == {"replicaCount", "greeting"}
    assert "+greeting: hi" in body["effective_diff"]
    # Helm's rendering of the instance's chart, object by object: its quoting, its labels.
    manifests = body["manifests_diff"]
    assert "--- a/ConfigMap/shop-acme-dev-eu-1-config.yaml\n" in manifests
    assert '-  GREETING: "Hello from acme"\n+  GREETING: "hi"\n' in manifests
    assert "-  replicas: 2\n+  replicas: 7\n" in manifests
    assert ' app.kubernetes.io/managed-by: "Helm"\n' in manifests
    assert body["errors"] == []
    bad = ready.client.post(url_of() + "/values/preview", json={"values": {"replicaCount": "x"}})
    assert bad.json()["errors"][0]["path"] == "replicaCount"
    assert lab.commits() == commits


def test_a_preview_shows_what_helm_renders_and_a_failing_template_answers_422_at_its_line(
    ready: Api, lab: GitLab
) -> None:
    create(ready)
    preview = ready.client.post(
        url_of() + "/values/preview",
        json={"values": {"replicaCount": 2, "env": [{"name": "MODE", "value": "fast"}]}},
    )
    assert preview.status_code == 200, preview.text
    manifests = preview.json()["manifests_diff"]
    # The Deployment's env goes through toYaml | nindent 12 in the chart: Helm prints the
    # empty list on a line of its own, where helmforge's substitution would say `env: []`.
    assert "--- a/Deployment/shop-acme-dev-eu-1.yaml\n" in manifests
    assert "           env:\n-            []\n+            - name: MODE\n" in manifests
    assert "+              value: fast\n" in manifests

    broken = ready.client.post(url_of() + "/values/preview", json={"values": {"image": "x"}})
    assert broken.status_code == 422, broken.text
    message = broken.json()["message"]
    # Helm's own message, located at the template and line it names.
    assert message.startswith("shop-acme-dev-eu-1/templates/deployment.yaml:21: ")
    assert "at <.Values.image.repository>" in message
    assert "can't evaluate field repository" in message


def test_a_preview_of_a_fix_for_values_that_no_longer_render_shows_every_object_as_new(
    ready: Api, lab: GitLab, tmp_path: Path
) -> None:
    create(ready)
    edit_in_git(lab, tmp_path / "outside", {VALUES: "image: x\n"}, "broken by hand")
    fixed = ready.client.post(url_of() + "/values/preview", json={"values": {"replicaCount": 3}})
    assert fixed.status_code == 200, fixed.text
    manifests = fixed.json()["manifests_diff"]
    assert "--- a/Deployment/shop-acme-dev-eu-1.yaml\n" in manifests
    assert "+kind: Deployment\n" in manifests
    assert "+  replicas: 3\n" in manifests


def test_without_helm_sdkpy_a_preview_shows_helmforges_own_substitution(
    ready: Api, lab: GitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(ready)
    monkeypatch.setattr(chart_renders, "helm_available", lambda: False)
    preview = ready.client.post(
        url_of() + "/values/preview", json={"values": {"replicaCount": 7, "greeting": "hi"}}
    )
    assert preview.status_code == 200, preview.text
    manifests = preview.json()["manifests_diff"]
    # By resource id, unquoted and without Helm's labels.
    assert "+  GREETING: hi\n" in manifests
    assert "-  replicas: 2\n+  replicas: 7\n" in manifests
    assert "Helm" not in manifests


def test_a_newer_template_marks_the_instance_outdated_until_it_is_upgraded(
    ready: Api, lab: GitLab
) -> None:
    create(ready)
    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    added = ready.client.post("/api/v1/templates", content=text, headers=YAML)
    assert added.status_code == 201, added.text
    published = ready.client.post("/api/v1/templates/web-service/versions/1.3.0/publish")
    assert published.status_code == 200, published.text
    outdated = ready.client.get("/api/v1/instances", params={"outdated": True}).json()["items"]
    assert [(i["id"], i["latest_template_version"]) for i in outdated] == [(path_of(), "1.3.0")]
    commits = lab.commits()
    # Under the template's app policy the chart version is the app version: taken already.
    same_version = ready.client.post(url_of() + "/upgrade", json={"template": "web-service@1.3.0"})
    assert same_version.status_code == 409, same_version.text
    assert "give a new app version" in same_version.json()["message"]
    assert lab.commits() == commits
    upgraded = ready.client.post(
        url_of() + "/upgrade", json={"template": "web-service", "version": "3.4.1"}
    )
    assert upgraded.status_code == 200, upgraded.text
    instance = upgraded.json()["instance"]
    assert (instance["template"], instance["chart_version"], instance["outdated"]) == (
        "web-service@1.3.0",
        "3.4.1",
        False,
    )
    assert lab.commits() == commits + 1
    shown = ready.client.get(url_of()).json()
    assert shown["effective_values"]["containerPort"] == 8081
