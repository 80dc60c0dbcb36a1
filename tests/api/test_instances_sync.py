"""``POST /api/v1/instances/{p}/{c}/{e}/{i}/sync`` and the ``sync`` of an instance's view, the
whole way (DESIGN §6, RELIABILITY 28 and 30): instances created through the API into a real
``git http-backend`` repository with charts in Debian's docker-registry, synced by the
swagger-checking Argo CD stand-in, on SQLite and PostgreSQL. The stand-in's controller steps
once per request (``auto_tick``) and the server polls without pausing
(``argocd_poll_interval=0``): nothing waits on wall-clock time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.argocd import ArgoCdStandIn
from tests.support.git_servers import git
from tests.support.instances import (
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

TOKEN = "canary-argocd-e2e-token-beef-DO-NOT-LEAK"
DEV2 = {"product": "shop", "customer": "acme", "environment": "dev", "instance": "eu-2"}


@pytest.fixture(scope="module")
def argocd_schemas(shared_data: Path) -> SchemaSet:
    source = shared_data / "argocd" / "application-crd.yaml"
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    return SchemaSet(
        kubernetes_version="argocd", definitions=crd_definitions(crd, source=str(source))
    )


@pytest.fixture
def argocd(shared_data: Path) -> Iterator[ArgoCdStandIn]:
    stand_in = ArgoCdStandIn(
        shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}}, auto_tick=True
    )
    with stand_in.running():
        yield stand_in
    assert stand_in.violations == []


@pytest.fixture
def ready(
    database_url: str,
    tmp_path: Path,
    basic_registry: RegistryServer,
    argocd: ArgoCdStandIn,
) -> Iterator[tuple[Api, GitLab]]:
    app, password = make_app(database_url, tmp_path / "data", argocd_poll_interval=0.0)
    with git_lab(tmp_path) as lab:
        for api in serve_app(app, password):
            add_repository(api.client, lab)
            add_registry(api.client, basic_registry)
            created = api.client.post(
                "/api/v1/argocd/servers",
                json={"name": "cluster", "url": argocd.url, "token": TOKEN},
            )
            assert created.status_code == 201, created.text
            yield api, lab


def _deploy(
    api: Api,
    lab: GitLab,
    argocd: ArgoCdStandIn,
    schemas: SchemaSet,
    segments: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Create the instance with Argo CD server ``cluster``; Argo CD gets its Application as
    application.yaml has it in Git (as an app-of-apps would apply it)."""
    response = api.client.post("/api/v1/instances", json=instance_body(segments, argocd="cluster"))
    assert response.status_code == 201, response.text
    created = dict(response.json())
    assert "sync" not in created or created["sync"] is None
    application = load_single(lab.show(created["application_path"]), source="application.yaml").data
    assert schemas.validate(application) == []
    argocd.add_application(application)
    return created


def _sync(api: Api, segments: dict[str, str] | None = None) -> Any:
    return api.client.post(url_of(segments) + "/sync")


def test_an_auto_sync_environment_is_refreshed_and_waited_for(
    ready: tuple[Api, GitLab], argocd: ArgoCdStandIn, argocd_schemas: SchemaSet
) -> None:
    api, lab = ready
    created = _deploy(api, lab, argocd, argocd_schemas)
    name = created["app_name"]
    assert "automated" in argocd.applications[name]["spec"]["syncPolicy"]
    # Another instance's commit moves the branch on: Argo CD rolls out that head for this
    # Application too, and it counts, as this instance's files are the same there.
    _deploy(api, lab, argocd, argocd_schemas, DEV2)
    assert lab.head() != created["revision"]
    argocd.heads[name] = lab.head()
    before = api.client.get(url_of())
    assert before.status_code == 200
    assert before.json()["sync"] == {"status": "OutOfSync", "health": "Missing", "revision": None}
    synced = _sync(api)
    assert synced.status_code == 200, synced.text
    body = synced.json()
    assert (body["mode"], body["revision"], body["chart_version"]) == (
        "auto",
        created["revision"],
        created["chart_version"],
    )
    assert body["synced_revision"] == lab.head()
    assert (body["phase"], body["health"], body["status"]) == ("Succeeded", "Healthy", "Synced")
    assert [m for m, _, _ in argocd.requests if m == "POST"] == []  # Argo CD synced by itself
    after = api.client.get(url_of()).json()["sync"]
    assert after == {"status": "Synced", "health": "Healthy", "revision": lab.head()}


def test_a_manual_sync_names_the_exact_pushed_chart_version_and_commit(
    ready: tuple[Api, GitLab], argocd: ArgoCdStandIn, argocd_schemas: SchemaSet
) -> None:
    api, lab = ready
    created = _deploy(api, lab, argocd, argocd_schemas, PROD)
    name = created["app_name"]
    assert "automated" not in argocd.applications[name]["spec"]["syncPolicy"]
    synced = _sync(api, PROD)
    assert synced.status_code == 200, synced.text
    assert synced.json()["mode"] == "manual"
    posts = [body for method, _, body in argocd.requests if method == "POST"]
    assert posts == [
        {
            "name": name,
            "revisions": [created["chart_version"], created["revision"]],
            "sourcePositions": ["1", "2"],
        }
    ]
    assert synced.json()["synced_revision"] == created["revision"]
    audit = api.client.get("/api/v1/audit").text
    assert "instance.sync" in audit
    assert TOKEN not in audit + synced.text


def test_argocd_refusals_are_explained_and_the_view_still_answers(
    ready: tuple[Api, GitLab],
    argocd: ArgoCdStandIn,
    argocd_schemas: SchemaSet,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api, lab = ready
    created = _deploy(api, lab, argocd, argocd_schemas, PROD)
    argocd.blocked.add(created["app_name"])
    window = _sync(api, PROD)
    assert window.status_code == 409, window.text
    assert "sync window" in window.json()["message"]
    argocd.blocked.clear()
    argocd.start_foreign_operation(created["app_name"], ticks=3)
    busy = _sync(api, PROD)
    assert busy.status_code == 200, busy.text
    assert busy.json()["busy_retries"] == 1
    argocd.tokens = {"rotated-token": {"*"}}
    refused = _sync(api, PROD)
    assert refused.status_code == 502, refused.text
    assert "refused its token" in refused.json()["message"]
    shown = api.client.get(url_of(PROD))
    assert shown.status_code == 200, shown.text
    assert "refused its token" in shown.json()["sync"]["error"]
    assert shown.json()["values"] == {"replicaCount": 2}
    for answer in (window, busy, refused, shown):
        assert TOKEN not in answer.text
    assert "busy; waiting for its operation" in caplog.text  # the logs are captured
    assert TOKEN not in caplog.text
    # An operator may sync, an approver (who may read the instance) may not.
    operator = api.as_user("olga", role="operator")
    approver = api.as_user("ann", role="approver")
    argocd.tokens = {TOKEN: {"*"}}
    assert api.client.post(url_of(PROD) + "/sync", headers=approver).status_code == 403
    assert api.client.post(url_of(PROD) + "/sync", headers=operator).status_code == 200
    assert api.client.post(url_of() + "/sync").status_code == 404  # no such instance
    assert path_of(PROD) in shown.json()["id"]


def test_an_outside_commit_argocd_runs_counts_once_fetched(
    ready: tuple[Api, GitLab], argocd: ArgoCdStandIn, argocd_schemas: SchemaSet, tmp_path: Path
) -> None:
    """Someone outside helmforge commits to the branch (not this instance's files); the
    auto-synced Application runs that head, which helmforge's cache has never seen: the sync
    fetches once and counts it, as the instance's files are the same there."""
    api, lab = ready
    created = _deploy(api, lab, argocd, argocd_schemas)
    other = tmp_path / "outside"
    git("clone", "-q", str(lab.remote), str(other))
    (other / "README.md").write_text("gitops, edited outside\n", encoding="utf-8")
    git("-C", str(other), "commit", "-qam", "outside writer")
    git("-C", str(other), "push", "-q", "origin", "HEAD:main")
    assert lab.head() != created["revision"]
    argocd.heads[created["app_name"]] = lab.head()
    synced = _sync(api)
    assert synced.status_code == 200, synced.text
    assert (synced.json()["revision"], synced.json()["synced_revision"]) == (
        created["revision"],
        lab.head(),
    )
