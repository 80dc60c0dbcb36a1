"""``/api/v1/bindings``, ``/policy`` and ``/me`` through the real application on SQLite and
PostgreSQL: administrators manage them, nobody else does, and a bad policy changes nothing."""

from __future__ import annotations

from helmforge.core.access.principals import SYSTEM
from tests.api.conftest import Api


def test_me_names_the_callers_bindings_and_permissions(api: Api) -> None:
    answer = api.client.get("/api/v1/me")
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "admin"
    assert body["subjects"] == ["user:admin"]
    assert [(b["subject"], b["role"], b["scope"]) for b in body["bindings"]] == [
        ("user:admin", "admin", "*/*/*/*")
    ]
    assert body["permissions"]["policy.manage"] == ["*/*/*/*"]


def test_bindings_are_created_listed_and_deleted_by_an_admin(api: Api) -> None:
    created = api.client.post(
        "/api/v1/bindings", json={"subject": "user:olga", "role": "operator", "scope": "*/*/dev/*"}
    )
    assert created.status_code == 201, created.text
    binding = created.json()
    assert (binding["subject"], binding["role"], binding["scope"]) == (
        "user:olga",
        "operator",
        "*/*/dev/*",
    )
    again = api.client.post(
        "/api/v1/bindings", json={"subject": "user:olga", "role": "operator", "scope": "*/*/dev/*"}
    )
    assert again.status_code == 409
    listed = [b["subject"] for b in api.client.get("/api/v1/bindings").json()]
    assert listed == ["user:admin", "user:olga"]
    assert api.client.delete(f"/api/v1/bindings/{binding['id']}").status_code == 204
    assert api.client.delete(f"/api/v1/bindings/{binding['id']}").status_code == 404


def test_a_binding_with_a_scope_trap_is_refused_with_the_reason(api: Api) -> None:
    answer = api.client.post(
        "/api/v1/bindings", json={"subject": "user:dev", "role": "developer", "scope": "*/*/prod/*"}
    )
    assert answer.status_code == 422
    assert "cannot reach environment 'prod'" in answer.text
    answer = api.client.post(
        "/api/v1/bindings", json={"subject": "user:x", "role": "operator", "scope": "dev/../prod"}
    )
    assert answer.status_code == 422
    assert "has 3 segment(s)" in answer.text


def test_only_administrators_manage_bindings_and_policy(api: Api) -> None:
    olga = api.as_user("olga", role="operator")
    assert api.client.get("/api/v1/bindings", headers=olga).status_code == 403
    assert api.client.get("/api/v1/policy", headers=olga).status_code == 403
    forged = api.client.put(
        "/api/v1/policy",
        content="g, user:olga, role:admin\n",
        headers={**olga, "Content-Type": "text/csv"},
    )
    assert forged.status_code == 403
    assert api.client.get("/api/v1/me", headers=olga).json()["bindings"][0]["role"] == "operator"


def test_policy_round_trips_as_csv_and_a_bad_line_changes_nothing(api: Api) -> None:
    text = (
        "p, role:acme-ops, values, update, acme/*/prod/*, allow\n"
        "g, user:admin, role:admin, */*/*/*\n"
        "g, group:platform-sre, role:operator, */*/*/*\n"
    )
    put = api.client.put("/api/v1/policy", content=text, headers={"Content-Type": "text/csv"})
    assert put.status_code == 200, put.text
    assert put.headers["content-type"].startswith("text/csv")
    assert put.text == text
    bad = api.client.put(
        "/api/v1/policy",
        content="g, user:admin, role:admin\np, role:x, values, update, */*/prod*/*, allow\n",
        headers={"Content-Type": "text/csv"},
    )
    assert bad.status_code == 422
    assert "policy.csv:2:" in bad.text
    assert api.client.get("/api/v1/policy").text == text


def test_the_audit_log_is_read_by_auditors_and_administrators_only(api: Api) -> None:
    olga = api.as_user("olga", role="operator")
    refused = api.client.get("/api/v1/audit", headers=olga)
    assert refused.status_code == 403
    assert "olga may not audit.read" in refused.text
    ivan = api.as_user("ivan", role="auditor")
    events = api.client.get("/api/v1/audit?action=access.deny", headers=ivan)
    assert events.status_code == 200
    assert [(e["actor"], e["after"]["permission"]) for e in events.json()] == [
        ("olga", "audit.read")
    ]


def test_a_token_made_for_a_subset_of_bindings_acts_with_those_only(api: Api) -> None:
    from helmforge.services import access, accounts

    accounts.create_user(
        api.sessions, "olga", role="operator", password="a long enough password", actor=SYSTEM
    )
    [everything] = access.list_bindings(api.sessions, actor=SYSTEM, subject="user:olga")
    auditor = access.add_binding(
        api.sessions, subject="user:olga", role="auditor", scope="*/*/*/*", actor=SYSTEM
    )
    full = accounts.create_token(api.sessions, user="olga", actor=SYSTEM).token
    narrow_answer = api.client.post(
        "/api/v1/tokens", json={"user": "olga", "label": "audit bot", "bindings": [auditor.id]}
    )
    assert narrow_answer.status_code == 201, narrow_answer.text
    narrow = narrow_answer.json()["token"]
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {narrow}"}).json()
    assert "values.update" not in me["permissions"]
    assert "audit.read" in me["permissions"]
    full_me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {full}"}).json()
    assert "values.update" in full_me["permissions"]
    assert everything.role == "operator"


def test_a_token_cannot_carry_a_binding_its_user_does_not_hold(api: Api) -> None:
    api.as_user("olga", role="operator")
    [admins] = [
        b for b in api.client.get("/api/v1/bindings").json() if b["subject"] == "user:admin"
    ]
    answer = api.client.post("/api/v1/tokens", json={"user": "olga", "bindings": [admins["id"]]})
    assert answer.status_code == 422
    assert f"binding {admins['id']} is not one of user:olga's" in answer.text
