"""Promotion (issue 12) over the API on SQLite and PostgreSQL, against a real ``git
http-backend`` and Debian's docker-registry: an instance's template and app version, and
chosen overrides, copied to the same instance in a later environment as one commit in the
target's folder; prod waits for another person's approval; a proposal whose target changed
meanwhile is stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.yaml_codec import load_single
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.git_servers import git
from tests.support.instances import (
    DEV,
    PROD,
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

SIT = {**DEV, "environment": "sit"}
SIT_HOST = {"ingress": {"host": "eu-1.acme.sit.example.com"}}
YAML = {"Content-Type": "application/yaml"}


def files_of(segments: dict[str, str]) -> tuple[str, str]:
    folder = f"clusters/eu/{path_of(segments)}"
    return f"{folder}/values.yaml", f"{folder}/application.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def ready(api: Api, lab: GitLab, basic_registry: RegistryServer) -> Api:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    return api


@pytest.fixture
def gated(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    """A server whose prod changes need one approval."""
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        yield api


def create(api: Api, segments: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/instances", json=instance_body(segments, **changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_values(api: Api, segments: dict[str, str], values: dict[str, Any]) -> Any:
    revision = api.client.get(url_of(segments)).json()["revision"]
    return api.client.put(
        url_of(segments) + "/values",
        json={"values": values},
        headers={"If-Match": f'"{revision}"'},
    )


def promote(api: Api, segments: dict[str, str], **body: Any) -> Any:
    return api.client.post(url_of(segments) + "/promote", json=body)


def _dev_ahead(api: Api) -> None:
    """dev on app 3.5.0 with image.tag and replicaCount overridden; sit on 3.4.0."""
    create(api, DEV)
    create(api, SIT, values={"replicaCount": 1, "greeting": "hello sit", **SIT_HOST})
    assert api.client.post(url_of() + "/upgrade", json={"version": "3.5.0"}).status_code == 200
    changed = set_values(api, DEV, {"replicaCount": 2, "image": {"tag": "3.5.0-rc1"}})
    assert changed.status_code == 200, changed.text


def test_a_promotion_is_one_commit_in_the_target_folder_and_its_history_shows_it(
    ready: Api, lab: GitLab
) -> None:
    _dev_ahead(ready)
    values_path, application_path = files_of(SIT)
    before = lab.show(values_path)
    commits = lab.commits()
    promoted = promote(ready, DEV, values=["image.tag"], message="tested in dev")
    assert promoted.status_code == 200, promoted.text
    answer = promoted.json()
    assert lab.commits() == commits + 1
    assert answer["revision"] == lab.head()
    assert answer["instance"]["id"] == path_of(SIT)
    assert (answer["instance"]["app_version"], answer["instance"]["chart_version"]) == (
        "3.5.0",
        "3.5.0",
    )
    head = lab.log().split("diff --git")[0]
    assert head.startswith(
        "admin <admin@users.helmforge.invalid>\nshop/acme/sit/eu-1: promote from "
        "shop/acme/dev/eu-1: chart shop-acme-sit-eu-1 3.4.0 -> 3.5.0 (web-service@1.2.0 -> "
        "web-service@1.2.0, app 3.4.0 -> 3.5.0); values image.tag\n"
    ), head
    # Only the target's folder changed, both of its files.
    changed = git("-C", str(lab.remote), "show", "--name-only", "--format=", "main").split()
    assert sorted(changed) == sorted(files_of(SIT))
    values = load_single(lab.show(values_path), source="values.yaml").data
    assert values == {
        "replicaCount": 1,
        "greeting": "hello sit",
        **SIT_HOST,
        "image": {"tag": "3.5.0-rc1"},
    }
    assert lab.show(values_path).startswith(before.split("\n", 1)[0])  # comments kept
    application = load_single(lab.show(application_path), source="application.yaml").data
    assert application["spec"]["sources"][0]["targetRevision"] == "3.5.0"
    assert '+  tag: "3.5.0-rc1"\n' in answer["diff"]
    assert '+    targetRevision: "3.5.0"\n' in answer["diff"]
    history = ready.client.get(url_of(SIT) + "/history").json()["items"]
    assert history[0]["revision"] == lab.head()
    assert "promote from shop/acme/dev/eu-1" in history[0]["message"]
    assert "tested in dev" in history[0]["message"]
    # The same promotion again has nothing to do: refused, nothing committed.
    again = promote(ready, DEV, values=["image.tag"])
    assert again.status_code == 422, again.text
    assert "nothing to promote" in again.json()["message"]
    assert lab.commits() == commits + 1
    events = ready.client.get("/api/v1/audit", params={"action": "instance.promote"}).json()
    assert [(e["target"], e["after"]["from"]) for e in events] == [
        (f"instance:{path_of(SIT)}", path_of(DEV))
    ]


def test_what_cannot_be_promoted_is_refused_with_the_reason_and_commits_nothing(
    ready: Api, lab: GitLab
) -> None:
    create(ready, DEV)
    commits = lab.commits()
    missing = promote(ready, DEV)
    assert missing.status_code == 404, missing.text
    assert (
        "instance shop/acme/sit/eu-1 does not exist: create it first (helmforge instances "
        "create shop/acme/sit/eu-1 --template web-service@1.2.0 --version 3.4.0 --registry lab "
        "--repository gitops" in missing.json()["message"]
    )
    create(ready, SIT, values=SIT_HOST)
    commits = lab.commits()
    backwards = promote(ready, SIT, to="dev")
    assert backwards.status_code == 422
    assert (
        "must be an environment after sit in dev -> sit -> uat -> prod"
        in (backwards.json()["message"])
    )
    no_override = promote(ready, DEV, values=["image.tag"])
    assert no_override.status_code == 422
    assert "shop/acme/dev/eu-1 has no override at image.tag" in no_override.json()["message"]
    bad_path = promote(ready, DEV, values=["image..tag"])
    assert bad_path.status_code == 422
    assert "path 'image..tag' is not valid" in bad_path.json()["message"]
    same = promote(ready, DEV)
    assert same.status_code == 422
    assert "nothing to promote" in same.json()["message"]
    assert lab.commits() == commits


def test_values_that_break_the_target_s_new_chart_are_refused_before_anything_is_built(
    ready: Api, lab: GitLab
) -> None:
    text = example_text(version="1.3.0").replace(
        "enum: [ClusterIP, NodePort, LoadBalancer]", "enum: [ClusterIP, LoadBalancer]", 1
    )
    assert ready.client.post("/api/v1/templates", content=text, headers=YAML).status_code == 201
    create(ready, DEV)
    create(ready, SIT, values={"service": {"type": "NodePort"}, **SIT_HOST})
    assert ready.client.post("/api/v1/templates/web-service/versions/1.3.0/publish").is_success
    upgraded = ready.client.post(url_of() + "/upgrade", json={"template": "web-service@1.3.0",
                                                              "version": "3.6.0"})  # fmt: skip
    assert upgraded.status_code == 200, upgraded.text
    commits = lab.commits()
    refused = promote(ready, DEV)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["path"] == "service.type"
    assert lab.commits() == commits
    shown = ready.client.get(url_of(SIT)).json()
    assert (shown["template"], shown["chart_version"]) == ("web-service@1.2.0", "3.4.0")


def test_a_promotion_into_prod_waits_for_another_person_and_a_stale_one_is_refused(
    gated: Api, lab: GitLab
) -> None:
    bob = gated.as_user("bob", role="approver")
    create(gated, DEV, values={"replicaCount": 2, "logLevel": "debug"})
    created = gated.client.post("/api/v1/instances", json=instance_body(PROD, values={}))
    assert created.status_code == 202, created.text
    applied = gated.client.post(
        f"/api/v1/change-requests/{created.json()['change_request']}/approve",
        json={},
        headers=bob,
    )
    assert applied.json()["state"] == "applied", applied.text
    assert gated.client.post(url_of() + "/upgrade", json={"version": "3.5.0"}).status_code == 200
    commits = lab.commits()
    proposed = promote(gated, DEV, to="prod", values=["logLevel"])
    assert proposed.status_code == 202, proposed.text
    request = proposed.json()
    assert (request["kind"], request["target"]) == ("instance.promote", path_of(PROD))
    assert request["payload"]["template"] == "web-service@1.2.0"
    assert request["payload"]["values"] == [{"path": "logLevel", "value": "debug"}]
    assert "app version 3.4.0 -> 3.5.0" in request["diff"]
    assert "+logLevel: debug" in request["diff"]
    assert lab.commits() == commits
    own = gated.client.post(f"/api/v1/change-requests/{request['change_request']}/approve",
                            json={})  # fmt: skip
    assert own.status_code == 403, own.text
    # The source moving on changes nothing of what was proposed.
    assert set_values(gated, DEV, {"replicaCount": 2, "logLevel": "info"}).status_code == 200
    commits = lab.commits()
    done = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=bob
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "applied"
    assert done.json()["result"]["chart_version"] == "3.5.0"
    assert lab.commits() == commits + 1
    head = lab.log().split("diff --git")[0]
    assert "shop/acme/prod/eu-1: promote from shop/acme/dev/eu-1" in head
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in head
    values_path, _ = files_of(PROD)
    assert "logLevel: debug" in lab.show(values_path)

    # A proposal whose target changed before its approval is stale: nothing committed.
    assert gated.client.post(url_of() + "/upgrade", json={"version": "3.6.0"}).status_code == 200
    stale = promote(gated, DEV, to="prod")
    assert stale.status_code == 202, stale.text
    edit = set_values(gated, PROD, {"logLevel": "warn"})
    assert edit.status_code == 202, edit.text
    approved = gated.client.post(
        f"/api/v1/change-requests/{edit.json()['change_request']}/approve", json={}, headers=bob
    )
    assert approved.json()["state"] == "applied", approved.text
    commits = lab.commits()
    refused = gated.client.post(
        f"/api/v1/change-requests/{stale.json()['change_request']}/approve", json={}, headers=bob
    )
    assert refused.status_code == 409, refused.text
    listed = gated.client.get(f"/api/v1/change-requests/{stale.json()['change_request']}")
    assert listed.json()["state"] == "stale"
    assert lab.commits() == commits
    assert gated.client.get(url_of(PROD)).json()["chart_version"] == "3.5.0"
