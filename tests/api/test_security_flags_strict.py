"""Flags that weaken transport security (``insecure``: skip TLS verification of Argo CD;
``plain_http``: talk to a registry without TLS) are JSON booleans only (found by trying the
product from outside: ``"insecure": "yes"`` was stored as true). Anything else is a 422 naming
the field, and nothing is stored."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

LOOSE = ["yes", "true", 1, "on"]


@pytest.mark.parametrize("loose", LOOSE)
def test_argocd_insecure_must_be_a_boolean(api: Api, loose: object) -> None:
    body = {"name": "cluster", "url": "https://127.0.0.1:1", "token": "t", "insecure": loose}
    answer = api.client.post("/api/v1/argocd/servers", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["path"] in {"insecure", "body.insecure"}
    assert api.client.get("/api/v1/argocd/servers/cluster").status_code == 404


@pytest.mark.parametrize("loose", LOOSE)
def test_registry_plain_http_must_be_a_boolean(api: Api, loose: object) -> None:
    body = {"name": "lab", "url": "oci://127.0.0.1:1/charts", "plain_http": loose}
    answer = api.client.post("/api/v1/registries", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["path"] in {"plain_http", "body.plain_http"}
    good = api.client.post("/api/v1/registries", json={**body, "plain_http": False})
    assert good.status_code == 201, good.text
    patched = api.client.patch("/api/v1/registries/lab", json={"plain_http": loose})
    assert patched.status_code == 422, patched.text
    (stored,) = [r for r in api.client.get("/api/v1/registries").json() if r["name"] == "lab"]
    assert stored["plain_http"] is False
