"""Four eyes on publishing into prod (DESIGN §9), through the real application and a real
registry on SQLite and PostgreSQL: a publish there answers 202 with a change request, the
requester cannot approve it, another approver's approval publishes exactly that build with the
approver recorded, a push in between makes it stale, and an administrator's break-glass
applies at once, audited as such."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts, audit_trail
from tests.api.conftest import Api, serve_app
from tests.api.test_registries_api import add_registry, build, publish
from tests.support.apps import make_app
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]


@pytest.fixture
def gated(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The server as configured by default: changes in prod need one approver."""
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    yield from serve_app(app, password)


def _user(api: Api, name: str, role: str) -> dict[str, str]:
    return api.as_user(name, role=role)


def _events(api: Api, action: str) -> list[audit_trail.AuditEvent]:
    return audit_trail.list_events(state_of(api.app).sessions, actor=SYSTEM, action=action)


def _propose(api: Api, basic_registry: RegistryServer, requester: dict[str, str]) -> dict[str, Any]:
    add_registry(api, basic_registry)
    built = api.client.post(
        "/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": _context(), "values": {}},
        headers=requester,
    )
    assert built.status_code == 201, built.text
    answer = api.client.post(
        f"/api/v1/charts/{built.json()['id']}/publish", json={"registry": "lab"}, headers=requester
    )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def _context() -> dict[str, str]:
    return {
        "product": "ledger",
        "customer": "acme",
        "environment": "prod",
        "instance": "a1",
        "version": "3.4.0",
    }


def test_a_publish_into_prod_becomes_a_change_request_nothing_is_pushed(
    gated: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(gated, "alice", "template-user")
    request = _propose(gated, basic_registry, alice)
    assert request["state"] == "pending"
    assert (request["requester"], request["required"], request["target"]) == (
        "alice",
        1,
        "ledger/acme/prod/a1",
    )
    assert "publish chart ledger-acme-prod-a1 3.4.0" in request["diff"]
    assert _events(gated, "chart.publish") == []
    pending = gated.client.get("/api/v1/change-requests?state=pending", headers=alice).json()
    assert [item["change_request"] for item in pending] == [request["change_request"]]


def test_the_requester_cannot_approve_their_own_change_request(
    gated: Api, basic_registry: RegistryServer
) -> None:
    # alice may approve in general (approver role) but never her own request.
    alice = _user(gated, "alice", "template-user")
    accounts_sessions = state_of(gated.app).sessions
    from helmforge.services import access

    access.add_binding(
        accounts_sessions, subject="user:alice", role="approver", scope="*/*/*/*", actor=SYSTEM
    )
    request = _propose(gated, basic_registry, alice)
    refused = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=alice
    )
    assert refused.status_code == 403
    assert "alice requested change request" in refused.text
    assert _events(gated, "chart.publish") == []


def test_another_approvers_approval_publishes_that_build_with_the_approver_recorded(
    gated: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(gated, "alice", "template-user")
    bob = _user(gated, "bob", "approver")
    request = _propose(gated, basic_registry, alice)
    approved = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve",
        json={"comment": "looks right"},
        headers=bob,
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "applied"
    assert body["approvals"] == ["bob"]
    assert body["result"]["status"] == "pushed"
    [event] = _events(gated, "chart.publish")
    assert event.actor == "alice"
    assert event.after["approved_by"] == ["bob"]
    again = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=bob
    )
    assert again.status_code == 409
    assert "is applied, not pending" in again.text


def test_someone_without_change_approve_cannot_approve(
    gated: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(gated, "alice", "template-user")
    olga = _user(gated, "olga", "operator")
    request = _propose(gated, basic_registry, alice)
    refused = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=olga
    )
    assert refused.status_code == 403
    assert "olga may not change.approve on ledger/acme/prod/a1" in refused.text


def test_a_push_in_between_makes_the_change_request_stale(
    gated: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(gated, "alice", "template-user")
    bob = _user(gated, "bob", "approver")
    first = _propose(gated, basic_registry, alice)
    second = gated.client.post(
        f"/api/v1/charts/{first['payload']['build']}/publish",
        json={"registry": "lab"},
        headers=alice,
    ).json()
    applied = gated.client.post(
        f"/api/v1/change-requests/{second['change_request']}/approve", json={}, headers=bob
    )
    assert applied.json()["state"] == "applied"
    stale = gated.client.post(
        f"/api/v1/change-requests/{first['change_request']}/approve", json={}, headers=bob
    )
    assert stale.status_code == 409
    assert "is stale" in stale.text
    state = gated.client.get(f"/api/v1/change-requests/{first['change_request']}", headers=bob)
    assert state.json()["state"] == "stale"


def test_break_glass_applies_at_once_and_is_audited(
    gated: Api, basic_registry: RegistryServer
) -> None:
    request = _propose(gated, basic_registry, {"Authorization": f"Bearer {gated.token}"})
    applied = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve",
        json={"break_glass": True, "comment": "incident 42"},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["state"] == "applied"
    [event] = _events(gated, "change.break_glass")
    assert (event.actor, event.after["comment"]) == ("admin", "incident 42")


def test_break_glass_is_for_administrators_only(gated: Api, basic_registry: RegistryServer) -> None:
    alice = _user(gated, "alice", "template-user")
    bob = _user(gated, "bob", "approver")
    request = _propose(gated, basic_registry, alice)
    refused = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve",
        json={"break_glass": True},
        headers=bob,
    )
    assert refused.status_code == 403
    assert "policy.manage" in refused.text


def test_a_rejected_request_is_never_applied(gated: Api, basic_registry: RegistryServer) -> None:
    alice = _user(gated, "alice", "template-user")
    bob = _user(gated, "bob", "approver")
    request = _propose(gated, basic_registry, alice)
    rejected = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/reject",
        json={"comment": "wrong customer"},
        headers=bob,
    )
    assert rejected.json()["state"] == "rejected"
    late = gated.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=bob
    )
    assert late.status_code == 409
    assert _events(gated, "chart.publish") == []


def test_change_requests_of_other_scopes_are_invisible(
    gated: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(gated, "alice", "template-user")
    request = _propose(gated, basic_registry, alice)
    from helmforge.services import access

    access.add_binding(
        state_of(gated.app).sessions,
        subject="user:dev",
        role="developer",
        scope="*/*/dev/*",
        actor=SYSTEM,
    )
    accounts.create_user(
        state_of(gated.app).sessions,
        "dev",
        role="developer",
        password="a long enough password",
        actor=SYSTEM,
    )
    token = accounts.create_token(state_of(gated.app).sessions, user="dev", actor=SYSTEM).token
    dev = {"Authorization": f"Bearer {token}"}
    assert gated.client.get("/api/v1/change-requests", headers=dev).json() == []
    hidden = gated.client.get(f"/api/v1/change-requests/{request['change_request']}", headers=dev)
    assert hidden.status_code == 404


def test_a_direct_publish_service_call_into_prod_is_refused(
    gated: Api, basic_registry: RegistryServer
) -> None:
    from helmforge.core.errors import PermissionDeniedError
    from helmforge.services import chart_pushes

    add_registry(gated, basic_registry)
    built = build(gated)
    with pytest.raises(PermissionDeniedError, match="needs approval by another person"):
        chart_pushes.publish_build(
            state_of(gated.app).sessions,
            built["id"],
            registry="lab",
            key=state_of(gated.app).registry_secret_key,
            actor=SYSTEM,
        )
    assert publish(gated, built["id"]).status_code == 202


@pytest.fixture
def two_eyes(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """Changes in prod need two approvers."""
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 2})
    )
    yield from serve_app(app, password)


def _build(api: Api, who: dict[str, str], **context: str) -> str:
    built = api.client.post(
        "/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": {**_context(), **context}, "values": {}},
        headers=who,
    )
    assert built.status_code == 201, built.text
    return str(built.json()["id"])


def test_an_edit_resets_the_approvals_and_its_editor_cannot_approve(
    two_eyes: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(two_eyes, "alice", "template-user")
    bob = _user(two_eyes, "bob", "approver")
    dave = _user(two_eyes, "dave", "approver")
    from helmforge.services import access

    access.add_binding(
        state_of(two_eyes.app).sessions,
        subject="user:dave",
        role="template-user",
        scope="*/*/*/*",
        actor=SYSTEM,
    )
    request = _propose(two_eyes, basic_registry, alice)
    number = request["change_request"]
    first = two_eyes.client.post(f"/api/v1/change-requests/{number}/approve", json={}, headers=bob)
    assert first.json()["approvals"] == ["bob"]
    other_build = _build(two_eyes, dave, version="3.4.1")
    edited = two_eyes.client.put(
        f"/api/v1/change-requests/{number}",
        json={"payload": {"build": other_build, "registry": "lab"}},
        headers=dave,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["approvals"], edited.json()["payload"]["build"]) == ([], other_build)
    refused = two_eyes.client.post(
        f"/api/v1/change-requests/{number}/approve", json={}, headers=dave
    )
    assert refused.status_code == 403
    assert "dave edited change request" in refused.text
    again = two_eyes.client.post(f"/api/v1/change-requests/{number}/approve", json={}, headers=bob)
    assert (again.json()["approvals"], again.json()["state"]) == (["bob"], "pending")
    assert _events(two_eyes, "chart.publish") == []


def test_an_edit_cannot_move_a_change_request_to_another_instance(
    two_eyes: Api, basic_registry: RegistryServer
) -> None:
    alice = _user(two_eyes, "alice", "template-user")
    request = _propose(two_eyes, basic_registry, alice)
    elsewhere = _build(two_eyes, alice, instance="b2")
    moved = two_eyes.client.put(
        f"/api/v1/change-requests/{request['change_request']}",
        json={"payload": {"build": elsewhere, "registry": "lab"}},
        headers=alice,
    )
    assert moved.status_code == 422
    assert "is for ledger/acme/prod/a1; an edit cannot move it to ledger/acme/prod/b2" in moved.text
