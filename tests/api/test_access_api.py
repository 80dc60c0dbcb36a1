"""``/api/v1/bindings``, ``/policy`` and ``/me`` through the real application on SQLite and
PostgreSQL: administrators manage them, nobody else does, and a bad policy changes nothing."""

from __future__ import annotations

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
