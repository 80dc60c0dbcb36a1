"""Editing a registry and testing its connection over the API, against the real
docker-registry with basic auth. The robot's password is the canary: it must appear in no
response, no audit event and no database row in clear."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import sqlalchemy as sa

from helmforge.server.app import state_of
from tests.api.conftest import Api
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

pytestmark = [pytest.mark.registry]


def everything_stored(api: Api) -> str:
    with state_of(api.app).engine.connect() as connection:
        return json.dumps(
            {
                t: [list(map(str, r)) for r in connection.execute(sa.text(f"SELECT * FROM {t}"))]
                for t in ("registries", "audit_events")
            }
        )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_edit_a_registry_and_test_its_connection(api: Api, basic_registry: RegistryServer) -> None:
    answers: list[str] = []
    url = f"oci://{basic_registry.authority}/{unique_path()}"
    body = {"name": "lab", "url": url, "username": ROBOT, "password": "not-the-password"}
    created = api.client.post("/api/v1/registries", json={**body, "plain_http": True})
    assert created.status_code == 201, created.text

    denied = api.client.post("/api/v1/registries/lab/test")
    answers.append(denied.text)
    assert denied.status_code == 200, denied.text
    assert denied.json()["status"] == "denied"
    assert ROBOT in denied.json()["message"]

    changed = api.client.patch("/api/v1/registries/lab", json={"password": CANARY_PASSWORD})
    answers.append(changed.text)
    assert changed.status_code == 200, changed.text
    assert changed.json()["has_password"] is True
    assert changed.json()["url"] == url
    ok = api.client.post("/api/v1/registries/lab/test")
    answers.append(ok.text)
    assert ok.json() == {
        "registry": "lab",
        "status": "ok",
        "message": f"{basic_registry.authority} answered and accepted helmforge as {ROBOT!r}",
    }

    # Without a new password the stored one stays.
    moved = api.client.patch(
        "/api/v1/registries/lab", json={"url": f"oci://127.0.0.1:{closed_port()}/charts"}
    )
    answers.append(moved.text)
    assert moved.status_code == 200, moved.text
    assert moved.json()["has_password"] is True
    gone = api.client.post("/api/v1/registries/lab/test")
    answers.append(gone.text)
    assert gone.json()["status"] == "unreachable", gone.text
    assert api.client.patch("/api/v1/registries/lab", json={"url": url}).status_code == 200
    assert api.client.post("/api/v1/registries/lab/test").json()["status"] == "ok"

    anonymous = api.client.patch("/api/v1/registries/lab", json={"username": ""})
    answers.append(anonymous.text)
    assert anonymous.json()["username"] is None
    assert anonymous.json()["has_password"] is False
    refused = api.client.post("/api/v1/registries/lab/test")
    assert refused.json()["status"] == "denied"
    assert "asks for a username and password" in refused.json()["message"]

    events = api.client.get("/api/v1/audit", params={"action": "registry.update"})
    answers.append(events.text)
    updates = events.json()
    assert len(updates) == 4
    assert {e["target"] for e in updates} == {"registry:lab"}
    assert any(e["after"].get("password_replaced") is True for e in updates)
    stored = everything_stored(api)
    for text in [*answers, stored]:
        assert CANARY_PASSWORD not in text


def test_edit_refusals_name_the_field_and_never_echo_the_password(
    api: Api, basic_registry: RegistryServer
) -> None:
    url = f"oci://{basic_registry.authority}/{unique_path()}"
    created = api.client.post(
        "/api/v1/registries",
        json={"name": "lab", "url": url, "username": ROBOT, "password": CANARY_PASSWORD},
    )
    assert created.status_code == 201, created.text
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"url": f"oci://{ROBOT}:{CANARY_PASSWORD}@h/x"}, 422, "holds credentials"),
        ({"url": "https://h/x", "password": CANARY_PASSWORD}, 422, "not an OCI reference"),
        ({"ca_pem": "not pem", "password": CANARY_PASSWORD}, 422, "PEM bundle"),
        ({"username": "", "password": CANARY_PASSWORD}, 422, "needs a username"),
        ({"password": CANARY_PASSWORD, "extra": 1}, 422, "extra"),
        ({"password": 5}, 422, "password"),
    ]
    for change, code, message in cases:
        answer = api.client.patch("/api/v1/registries/lab", json=change)
        assert (answer.status_code, message in answer.text) == (code, True), answer.text
        assert CANARY_PASSWORD not in answer.text
    missing = api.client.patch("/api/v1/registries/nope", json={"plain_http": True})
    assert missing.status_code == 404
    assert "not configured" in missing.json()["message"]
    assert api.client.post("/api/v1/registries/nope/test").status_code == 404

    user = api.as_user("dev", role="developer")
    assert api.client.patch("/api/v1/registries/lab", json={}, headers=user).status_code == 403
    assert api.client.post("/api/v1/registries/lab/test", headers=user).status_code == 403
    assert api.client.get("/api/v1/audit", params={"action": "registry.update"}).json() == []
    assert CANARY_PASSWORD not in everything_stored(api)


def test_connection_test_through_token_auth(api: Api, token_registry: RegistryServer) -> None:
    url = f"oci://{token_registry.authority}/{unique_path()}"
    body = {"name": "tokens", "url": url, "username": ROBOT, "password": CANARY_PASSWORD}
    created = api.client.post("/api/v1/registries", json={**body, "plain_http": True})
    assert created.status_code == 201, created.text
    ok = api.client.post("/api/v1/registries/tokens/test")
    assert ok.json()["status"] == "ok", ok.text
    wrong = api.client.patch("/api/v1/registries/tokens", json={"password": "not-it"})
    assert wrong.status_code == 200
    denied = api.client.post("/api/v1/registries/tokens/test")
    assert denied.json()["status"] == "denied", denied.text
    assert "token service" in denied.json()["message"]
    assert CANARY_PASSWORD not in ok.text + denied.text + everything_stored(api)
