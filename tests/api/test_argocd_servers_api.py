"""``/api/v1/argocd/servers`` on SQLite and PostgreSQL (DESIGN §6): admins configure servers,
the token goes in and never comes out (answers, errors, audit)."""

from __future__ import annotations

from pathlib import Path

from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import load_single
from tests.api.conftest import Api

CANARY = "canary-argocd-api-token-0ff1ce-DO-NOT-LEAK"
BODY = {"name": "cluster-eu", "url": "https://argocd.example.com", "token": CANARY}


def test_servers_are_created_listed_read_and_deleted_without_their_token(api: Api) -> None:
    created = api.client.post("/api/v1/argocd/servers", json={**BODY, "project": "shop"})
    assert created.status_code == 201, created.text
    assert created.json()["has_token"] is True
    assert (created.json()["project"], created.json()["insecure"]) == ("shop", False)
    listed = api.client.get("/api/v1/argocd/servers")
    assert [s["name"] for s in listed.json()["items"]] == ["cluster-eu"]
    one = api.client.get("/api/v1/argocd/servers/cluster-eu")
    assert one.json()["url"] == "https://argocd.example.com"
    again = api.client.post("/api/v1/argocd/servers", json=BODY)
    assert again.status_code == 409
    audit = api.client.get("/api/v1/audit").text
    for answer in (created.text, listed.text, one.text, again.text, audit):
        assert CANARY not in answer
    assert "argocd.create" in audit
    assert api.client.delete("/api/v1/argocd/servers/cluster-eu").status_code == 204
    assert api.client.get("/api/v1/argocd/servers/cluster-eu").status_code == 404


def test_bad_bodies_name_the_field_and_never_echo_the_token(api: Api) -> None:
    for body, field in (
        ({**BODY, "tokn": CANARY}, "tokn"),
        ({**BODY, "token": CANARY + " x"}, "token"),
        ({**BODY, "url": f"https://u:{CANARY}@argocd.example.com"}, "url"),
        ({**BODY, "insecure": "perhaps"}, "insecure"),
    ):
        answer = api.client.post("/api/v1/argocd/servers", json=body)
        assert answer.status_code == 422, answer.text
        assert field in answer.text
        assert CANARY not in answer.text


def test_only_admins_manage_servers(api: Api) -> None:
    operator = api.as_user("olga", role="operator")
    refused = api.client.post("/api/v1/argocd/servers", json=BODY, headers=operator)
    assert refused.status_code == 403
    assert api.client.post("/api/v1/argocd/servers", json=BODY).status_code == 201
    assert api.client.get("/api/v1/argocd/servers", headers=operator).status_code == 200
    assert api.client.delete("/api/v1/argocd/servers/cluster-eu", headers=operator).status_code == (
        403
    )


def test_the_applicationset_of_a_repository_validates_against_the_crd(
    api: Api, shared_data: Path
) -> None:
    assert (
        api.client.post("/api/v1/argocd/servers", json={**BODY, "project": "shop"}).status_code
        == 201
    )
    repository = {"name": "gitops", "url": "https://git.example.com/ops/gitops.git",
                  "branch": "main", "path": "clusters/eu"}  # fmt: skip
    assert api.client.post("/api/v1/gitops/repositories", json=repository).status_code == 201
    answer = api.client.get(
        "/api/v1/argocd/servers/cluster-eu/applicationset", params={"repository": "gitops"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/yaml")
    document = load_single(answer.text, source="applicationset.yaml").data
    source = shared_data / "argocd" / "applicationset-crd.yaml"
    crd = load_single(source.read_text(encoding="utf-8"), source=str(source)).data
    schemas = SchemaSet(kubernetes_version="argocd", definitions=crd_definitions(crd, source="crd"))
    assert schemas.validate(document) == []
    assert document["metadata"]["name"] == "helmforge-gitops"
    assert document["spec"]["template"]["spec"]["project"] == "shop"
    [generator] = document["spec"]["generators"]
    assert generator["git"]["files"] == [{"path": "clusters/eu/*/*/*/*/application.yaml"}]
    assert CANARY not in answer.text
    missing = api.client.get(
        "/api/v1/argocd/servers/cluster-eu/applicationset", params={"repository": "nope"}
    )
    assert missing.status_code == 404
    operator = api.as_user("olga", role="operator")
    refused = api.client.get(
        "/api/v1/argocd/servers/cluster-eu/applicationset",
        params={"repository": "gitops"},
        headers=operator,
    )
    assert refused.status_code == 403
