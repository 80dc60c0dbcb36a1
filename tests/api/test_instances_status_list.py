"""``GET /api/v1/instances?sync=&health=&with_sync=`` (issue 12): the list's Argo CD status is
read with Argo CD's list operation (one ``GET /api/v1/applications`` per server and batch,
selecting exactly the instances' Applications by their ``helmforge.io/application`` label),
never one call per row; a server that fails is each of its rows' ``error``; a status filter
is applied before paging. Instances created through the API into a real ``git http-backend``
repository, charts in Debian's docker-registry, the swagger-checking Argo CD stand-in; on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.instances.application import APPLICATION_LABEL
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single
from helmforge.services import instance_listing
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.argocd import ArgoCdStandIn
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

TOKEN = "canary-argocd-list-token-DO-NOT-LEAK"


def _dev(name: str) -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": "dev", "instance": name}


@pytest.fixture(scope="module")
def argocd_schemas(shared_data: Path) -> SchemaSet:
    source = shared_data / "argocd" / "application-crd.yaml"
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    return SchemaSet(
        kubernetes_version="argocd", definitions=crd_definitions(crd, source=str(source))
    )


@pytest.fixture
def argocd(shared_data: Path) -> Iterator[ArgoCdStandIn]:
    stand_in = ArgoCdStandIn(shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}})
    with stand_in.running():
        yield stand_in
    assert stand_in.violations == []


@pytest.fixture
def ready(
    database_url: str, tmp_path: Path, basic_registry: RegistryServer, argocd: ArgoCdStandIn
) -> Iterator[tuple[Api, GitLab]]:
    app, password = make_app(database_url, tmp_path / "data", argocd_poll_interval=0.0)
    with git_lab(tmp_path) as lab:
        for api in serve_app(app, password):
            add_repository(api.client, lab)
            add_registry(api.client, basic_registry)
            for name, token in (("cluster", TOKEN), ("revoked", "a-token-argo-cd-forgot")):
                created = api.client.post(
                    "/api/v1/argocd/servers",
                    json={"name": name, "url": argocd.url, "token": token},
                )
                assert created.status_code == 201, created.text
            yield api, lab


def _deploy(
    api: Api,
    lab: GitLab,
    argocd: ArgoCdStandIn,
    schemas: SchemaSet,
    name: str,
    server: str | None = None,
) -> dict[str, Any]:
    changes = {"argocd": server} if server else {}
    response = api.client.post("/api/v1/instances", json=instance_body(_dev(name), **changes))
    assert response.status_code == 201, response.text
    created = dict(response.json())
    if server == "cluster":
        application = load_single(
            lab.show(created["application_path"]), source="application.yaml"
        ).data
        assert schemas.validate(application) == []
        assert application["metadata"]["labels"][APPLICATION_LABEL] == created["app_name"]
        argocd.add_application(application)
    return created


def _synced(argocd: ArgoCdStandIn, created: dict[str, Any]) -> None:
    """Argo CD has rolled out what helmforge pushed for ``created``."""
    argocd.applications[created["app_name"]]["status"] = {
        "sync": {
            "status": "Synced",
            "revisions": [created["chart_version"], created["revision"]],
        },
        "health": {"status": "Healthy"},
    }


def _listed(api: Api, query: str) -> dict[str, Any]:
    response = api.client.get(f"/api/v1/instances?{query}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_list_reads_each_server_once_and_filters_on_sync_and_health(
    ready: tuple[Api, GitLab], argocd: ArgoCdStandIn, argocd_schemas: SchemaSet
) -> None:
    api, lab = ready
    one = _deploy(api, lab, argocd, argocd_schemas, "eu-1", "cluster")
    _deploy(api, lab, argocd, argocd_schemas, "eu-2", "cluster")
    old = _deploy(api, lab, argocd, argocd_schemas, "eu-3", "cluster")
    _deploy(api, lab, argocd, argocd_schemas, "eu-4", "revoked")
    _deploy(api, lab, argocd, argocd_schemas, "eu-5")
    _synced(argocd, one)
    # An Application written before helmforge labelled them with their name.
    del argocd.applications[old["app_name"]]["metadata"]["labels"][APPLICATION_LABEL]
    argocd.requests.clear()

    listed = _listed(api, "with_sync=true")
    statuses = {item["instance"]: item["sync"] for item in listed["items"]}
    assert statuses["eu-1"] == {
        "status": "Synced",
        "health": "Healthy",
        "revision": one["revision"],
    }
    assert statuses["eu-2"] == {"status": "OutOfSync", "health": "Missing", "revision": None}
    assert "lists no application shop-acme-dev-eu-3" in statuses["eu-3"]["error"]
    assert APPLICATION_LABEL in statuses["eu-3"]["error"]
    assert statuses["eu-4"] == {"error": "Argo CD server 'revoked' refused its token"}
    assert statuses["eu-5"] is None
    # One list request per server, none per row, and the selector names exactly the rows.
    assert [(m, p) for m, p, _ in argocd.requests] == [("GET", "/api/v1/applications")] * 2
    # (the revoked token's request was answered 401)
    names = ",".join(f"shop-acme-dev-eu-{n}" for n in (1, 2, 3))
    assert argocd.list_selectors == [f"{APPLICATION_LABEL} in ({names})"]

    assert [i["instance"] for i in _listed(api, "sync=Synced")["items"]] == ["eu-1"]
    assert [i["instance"] for i in _listed(api, "sync=outofsync")["items"]] == ["eu-2"]
    assert [i["instance"] for i in _listed(api, "health=Unknown")["items"]] == ["eu-3", "eu-4"]
    both = _listed(api, "sync=Synced&health=Missing")
    assert both["items"] == []
    assert (both["more"], both["truncated"]) == (False, False)
    # Without a status question the list asks Argo CD nothing.
    requests = len(argocd.requests)
    plain = _listed(api, "")
    assert [i.get("sync") for i in plain["items"]] == [None] * 5
    assert len(argocd.requests) == requests
    assert TOKEN not in str(_listed(api, "with_sync=true"))
    refused = api.client.get("/api/v1/instances?sync=Synced)")
    assert refused.status_code == 422


def test_a_status_filter_pages_among_the_matches_within_its_bound(
    ready: tuple[Api, GitLab],
    argocd: ArgoCdStandIn,
    argocd_schemas: SchemaSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api, lab = ready
    created = [_deploy(api, lab, argocd, argocd_schemas, f"eu-{n}", "cluster") for n in range(1, 6)]
    for number in (2, 3, 5):
        _synced(argocd, created[number - 1])
    monkeypatch.setattr(instance_listing, "_STATUS_SCAN_BATCH", 2)
    argocd.requests.clear()

    first = _listed(api, "sync=Synced&limit=1")
    assert ([i["instance"] for i in first["items"]], first["more"]) == (["eu-2"], True)
    second = _listed(api, "sync=Synced&limit=1&offset=1")
    assert ([i["instance"] for i in second["items"]], second["more"]) == (["eu-3"], True)
    last = _listed(api, "sync=Synced&limit=2&offset=2")
    assert ([i["instance"] for i in last["items"]], last["more"]) == (["eu-5"], False)
    assert last["truncated"] is False
    # Each list request names one batch of instances.
    assert {p for _, p, _ in argocd.requests} == {"/api/v1/applications"}
    assert {s.count(",") for s in argocd.list_selectors} <= {0, 1}

    monkeypatch.setattr(instance_listing, "STATUS_SCAN", 4)
    bounded = _listed(api, "sync=Synced&limit=10")
    assert [i["instance"] for i in bounded["items"]] == ["eu-2", "eu-3"]
    assert (bounded["more"], bounded["truncated"]) == (False, True)
