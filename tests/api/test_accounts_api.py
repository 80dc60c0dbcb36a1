"""Authentication, users, API tokens and the audit trail over the API (RELIABILITY 36, 38)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.exc import DBAPIError

from helmforge.core.access.principals import Principal
from helmforge.server.app import state_of
from helmforge.services.app_state import STATE_ATTRIBUTE
from tests.api.conftest import Api, TestClient
from tests.support.charts import CONTEXT


def _api_routes(api: Api) -> list[tuple[str, str]]:
    routes = []
    for path, operations in api.app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            concrete = path.replace("{", "").replace("}", "")
            routes.extend((method.upper(), concrete) for method in operations)
    return routes


def test_every_api_route_answers_401_without_credentials(api: Api) -> None:
    anonymous = TestClient(api.app)
    routes = _api_routes(api)
    assert len(routes) >= 20
    for method, path in routes:
        response = anonymous.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Basic YWRtaW46YWRtaW4=", "Bearer ", "Bearer hf_000000000000_" + "A" * 43],
)
def test_bad_credentials_answer_401(api: Api, header: str) -> None:
    response = TestClient(api.app).get("/api/v1/templates", headers={"Authorization": header})
    assert response.status_code == 401


def test_session_resolver_hook_authenticates_the_ui(api: Api) -> None:
    def resolver(request: Request) -> Principal | None:
        if request.cookies.get("ui") == "yes":
            return Principal(name="admin", role="admin", kind="user", id=1)
        return None

    # The web UI hands the server its resolver at startup; this test stands in for it.
    state = state_of(api.app)
    setattr(api.app.state, STATE_ATTRIBUTE, dataclasses.replace(state, session_resolver=resolver))
    browser = TestClient(api.app)
    assert browser.get("/api/v1/templates").status_code == 401
    browser.cookies.set("ui", "yes")
    assert browser.get("/api/v1/templates").status_code == 200


def test_tokens_are_shown_once_stored_hashed_and_revocable_at_once(api: Api) -> None:
    created = api.client.post("/api/v1/tokens", json={"label": "ci"})
    assert created.status_code == 201
    body = created.json()
    token = body["token"]
    assert token.startswith("hf_")
    listed = api.client.get("/api/v1/tokens").json()
    assert all("token" not in item for item in listed)
    assert token not in str(listed)
    with api.sessions() as session:
        rows = session.execute(sa.text("SELECT prefix, token_hash FROM api_tokens")).all()
    assert (body["prefix"], hashlib.sha256(token.encode()).hexdigest()) in rows
    assert all(token not in str(row) for row in rows)

    worker = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    assert worker.get("/api/v1/templates").status_code == 200
    revoked = api.client.post(f"/api/v1/tokens/{body['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert worker.get("/api/v1/templates").status_code == 401
    assert api.client.post(f"/api/v1/tokens/{body['id']}/revoke").status_code == 200


def test_only_admins_manage_users_and_others_tokens(api: Api) -> None:
    carol = api.as_user("carol", role="creator")
    assert api.client.get("/api/v1/users").status_code == 200
    denied = api.client.post(
        "/api/v1/users",
        json={"name": "mallory", "role": "admin", "password": "long enough pw!"},
        headers=carol,
    )
    assert denied.status_code == 403
    assert api.client.get("/api/v1/users", headers=carol).status_code == 403
    assert (
        api.client.post("/api/v1/tokens", json={"user": "admin"}, headers=carol).status_code == 403
    )
    own = api.client.post("/api/v1/tokens", json={}, headers=carol)
    assert own.status_code == 201
    assert own.json()["user"] == "carol"
    admin_tokens = [
        t["id"] for t in api.client.get("/api/v1/tokens").json() if t["user"] == "admin"
    ]
    assert (
        api.client.post(f"/api/v1/tokens/{admin_tokens[0]}/revoke", headers=carol).status_code
        == 404
    )


def test_user_creation_checks_its_input(api: Api) -> None:
    ok = api.client.post(
        "/api/v1/users", json={"name": "dave", "role": "developer", "password": "x" * 12}
    )
    assert ok.status_code == 201
    assert "password" not in ok.json()
    for body, status in [
        ({"name": "dave", "role": "developer", "password": "x" * 12}, 409),
        ({"name": "Eve!", "role": "user", "password": "x" * 12}, 422),
        ({"name": "eve", "role": "root", "password": "x" * 12}, 422),
        ({"name": "eve", "role": "user", "password": "short"}, 422),
    ]:
        assert api.client.post("/api/v1/users", json=body).status_code == status, body


def test_every_change_writes_an_audit_event(api: Api) -> None:
    build = api.client.post(
        "/api/v1/charts", json={"template": "web-service@1.2.0", "context": CONTEXT}
    ).json()
    token = api.client.post("/api/v1/tokens", json={"label": "x"}).json()
    api.client.post(f"/api/v1/tokens/{token['id']}/revoke")
    events = api.client.get("/api/v1/audit").json()
    actions = [(e["action"], e["target"], e["actor"]) for e in events]
    assert ("chart.build", f"chart:{build['id']}", "admin") in actions
    assert ("token.create", f"token:{token['id']}", "admin") in actions
    assert ("token.revoke", f"token:{token['id']}", "admin") in actions
    assert ("template.publish", "template:web-service@1.2.0", "helmforge") in actions
    assert ("user.create", "user:admin", "helmforge") in actions
    built = next(e for e in events if e["action"] == "chart.build")
    assert built["after"]["digest"] == build["digest"]
    assert token["token"] not in str(events)
    only = api.client.get("/api/v1/audit", params={"action": "token.revoke"}).json()
    assert [e["action"] for e in only] == ["token.revoke"]


def test_audit_events_cannot_be_changed_or_deleted(api: Api) -> None:
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert api.client.request(method, "/api/v1/audit").status_code == 405
    with api.sessions() as session:
        count = session.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
    assert count > 0
    for statement in (
        "UPDATE audit_events SET actor = 'someone-else'",
        "DELETE FROM audit_events",
    ):
        with api.sessions.begin() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(sa.text(statement))
    with api.sessions() as session:
        after = session.execute(sa.text("SELECT count(*), min(actor) FROM audit_events")).one()
    assert after[0] == count
    assert after[1] != "someone-else"
