"""The access pages through HTTP (DESIGN §9): "My access", the administrators' Access page and
the change-request inbox. What a visitor may not do is not offered, and a forged form post is
still refused by the service (403 page, nothing changed)."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts, change_requests
from tests.support.apps import make_app
from tests.support.change_requests import (
    PASSWORD,
    PROD_CONTEXT,
    add_lab_registry,
    propose_prod_publish,
    user_token,
)
from tests.support.registry import RegistryServer
from tests.support.servers import serve
from tests.web.conftest import LiveServer, csrf_of, sign_in


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server (API and UI) where a change in prod needs one approval."""
    app, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "data",
        with_web=True,
        approvals=ApprovalRules(by_environment={"prod": 1}),
    )
    sessions = state_of(app).sessions
    with serve(app) as url:
        yield LiveServer(url, app, sessions)
    state_of(app).engine.dispose()


@contextlib.contextmanager
def _client(server: LiveServer, name: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in as ``name``."""
    with httpx.Client(base_url=server.url) as client:
        assert sign_in(client, name, PASSWORD).status_code == 303
        yield client


def _admin(server: LiveServer) -> contextlib.AbstractContextManager[httpx.Client]:
    accounts.create_user(server.sessions, "root", role="admin", password=PASSWORD, actor=SYSTEM)
    return _client(server, "root")


def test_my_access_shows_subjects_bindings_and_permissions_by_scope(gated: LiveServer) -> None:
    user_token(gated.sessions, "olga", "template-user")
    access.add_binding(
        gated.sessions, subject="user:olga", role="operator", scope="shop/*/dev/*", actor=SYSTEM
    )
    with _client(gated, "olga") as olga:
        page = olga.get("/my-access")
    assert page.status_code == 200
    assert "<code>user:olga</code>" in page.text
    bindings = page.text.split('id="my-bindings"')[1].split("</table>")[0]
    assert re.findall(r"<code>([^<]+)</code>", bindings) == ["*/*/*/*", "shop/*/dev/*"]
    upgrade = page.text.split("<code>instance.upgrade</code>")[1].split("</tr>")[0]
    assert re.findall(r"<code>([^<]+)</code>", upgrade) == ["shop/*/dev/*"]
    assert "<code>binding.manage</code>" not in page.text
    assert 'href="/access"' not in page.text  # not offered: olga may not manage bindings


def test_the_access_page_is_refused_to_non_admins_and_so_is_a_forged_post(
    gated: LiveServer,
) -> None:
    user_token(gated.sessions, "olga", "operator")
    with _client(gated, "olga") as olga:
        assert olga.get("/access").status_code == 403
        token = csrf_of(olga.get("/my-access").text)
        forged = olga.post(
            "/access/bindings",
            data={"subject": "user:olga", "role": "admin", "scope": "*/*/*/*", "csrf_token": token},
        )
        assert forged.status_code == 403
        assert "olga may not binding.manage" in forged.text
        policy = olga.post(
            "/access/policy", data={"policy": "g, user:olga, role:admin\n", "csrf_token": token}
        )
        assert policy.status_code == 403
    held = access.list_bindings(gated.sessions, actor=SYSTEM, subject="user:olga")
    assert [(b.role, b.scope) for b in held] == [("operator", "*/*/*/*")]


def test_an_admin_adds_and_removes_bindings_and_imports_the_policy(gated: LiveServer) -> None:
    with _admin(gated) as admin:
        page = admin.get("/access")
        assert page.status_code == 200
        assert 'href="/access"' in page.text
        # The scope examples come from HELMFORGE_ENVIRONMENTS (default dev,sit,uat,prod).
        assert '<option value="*/*/uat/*">' in page.text
        token = csrf_of(page.text)
        bad = admin.post(
            "/access/bindings",
            data={"subject": "group:sre", "role": "developer", "scope": "*/*/prod/*",
                  "csrf_token": token},
        )  # fmt: skip
        assert bad.status_code == 422
        assert "developer binding cannot reach environment" in bad.text
        assert 'value="*/*/prod/*"' in bad.text  # what was typed stays
        added = admin.post(
            "/access/bindings",
            data={"subject": "group:sre", "role": "approver", "scope": "*/*/prod/*",
                  "csrf_token": token},
        )  # fmt: skip
        assert added.status_code == 303
        page = admin.get("/access")
        groups = page.text.split('id="bindings-groups"')[1].split("</table>")[0]
        assert "group:sre" in groups
        assert "<code>*/*/prod/*</code>" in groups
        [binding] = access.list_bindings(gated.sessions, actor=SYSTEM, subject="group:sre")
        removed = admin.post(f"/access/bindings/{binding.id}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert access.list_bindings(gated.sessions, actor=SYSTEM, subject="group:sre") == []
        text = access.export_policy(gated.sessions, actor=SYSTEM)
        assert text in admin.get("/access").text.replace("&#39;", "'")
        refused = admin.post(
            "/access/policy", data={"policy": text + "x, y\n", "csrf_token": token}
        )
        assert refused.status_code == 422
        assert "policy.csv:3: line starts with &#39;x&#39;" in refused.text
        imported = admin.post(
            "/access/policy",
            data={"policy": text + "g, group:sre, role:auditor\n", "csrf_token": token},
        )
        assert imported.status_code == 303
    [binding] = access.list_bindings(gated.sessions, actor=SYSTEM, subject="group:sre")
    assert binding.role == "auditor"


@pytest.mark.registry
def test_the_inbox_offers_approval_only_to_others_and_refuses_a_forged_self_approval(
    gated: LiveServer, basic_registry: RegistryServer
) -> None:
    admin_token = accounts.create_token(gated.sessions, user="admin", actor=SYSTEM).token
    add_lab_registry(gated.url, admin_token, basic_registry)
    alice = user_token(gated.sessions, "alice", "template-user")
    access.add_binding(
        gated.sessions, subject="user:alice", role="approver", scope="*/*/*/*", actor=SYSTEM
    )
    user_token(gated.sessions, "bob", "approver")
    user_token(gated.sessions, "olga", "operator")
    request_id = propose_prod_publish(gated.url, alice)
    detail = f"/changes/{request_id}"

    with _client(gated, "alice") as requester:
        listed = requester.get("/changes")
        assert f'href="{detail}"' in listed.text
        page = requester.get(detail)
        assert page.status_code == 200
        assert "publish chart ledger-acme-prod-a1 3.4.0" in page.text
        assert 'id="own-request"' in page.text
        assert 'id="approve-button"' not in page.text
        assert 'id="break-glass-button"' not in page.text
        assert "Withdraw" in page.text  # the requester may withdraw
        forged = requester.post(
            f"{detail}/approve", data={"csrf_token": csrf_of(page.text), "comment": "me"}
        )
        assert forged.status_code == 403
        assert "alice requested change request" in forged.text
    with _client(gated, "olga") as operator:
        page = operator.get(detail)
        assert page.status_code == 200  # olga may read the chart there, but not approve
        assert 'id="approve-button"' not in page.text
        assert 'id="reject-button"' not in page.text
        refused = operator.post(f"{detail}/approve", data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 403
    assert change_requests.get_request(gated.sessions, request_id, actor=SYSTEM).state == "pending"

    with _client(gated, "bob") as approver:
        page = approver.get(detail)
        assert 'id="approve-button"' in page.text
        assert 'id="break-glass-button"' not in page.text
        assert "0 of 1 needed" in page.text
        approved = approver.post(
            f"{detail}/approve", data={"csrf_token": csrf_of(page.text), "comment": "checked"}
        )
        assert approved.status_code == 303
        page = approver.get(detail)
        assert "1 of 1 needed: bob" in page.text
        assert 'id="change-state">applied<' in page.text
        assert 'id="approve-button"' not in page.text
        assert f'href="{detail}"' not in approver.get("/changes").text  # no longer pending
        assert f'href="{detail}"' in approver.get("/changes?state=all").text


@pytest.mark.registry
def test_break_glass_is_for_admins_and_needs_the_typed_confirmation(
    gated: LiveServer, basic_registry: RegistryServer
) -> None:
    admin_token = accounts.create_token(gated.sessions, user="admin", actor=SYSTEM).token
    add_lab_registry(gated.url, admin_token, basic_registry)
    alice = user_token(gated.sessions, "alice", "template-user")
    request_id = propose_prod_publish(gated.url, alice)
    detail = f"/changes/{request_id}"
    with _admin(gated) as admin:
        page = admin.get(detail)
        assert 'id="break-glass-button"' in page.text
        token = csrf_of(page.text)
        untyped = admin.post(
            f"{detail}/approve",
            data={"csrf_token": token, "break_glass": "on", "confirm": "yes", "comment": "fire"},
        )
        assert untyped.status_code == 422
        assert "break glass" in untyped.text
        view = change_requests.get_request(gated.sessions, request_id, actor=SYSTEM)
        assert view.state == "pending"
        applied = admin.post(
            f"{detail}/approve",
            data={"csrf_token": token, "break_glass": "on",
                  "confirm": f"break glass {request_id}", "comment": "fire"},
        )  # fmt: skip
        assert applied.status_code == 303
    view = change_requests.get_request(gated.sessions, request_id, actor=SYSTEM)
    assert (view.state, view.approvals) == ("applied", ("root",))


def test_the_audit_page_filters_by_user_action_and_object_and_links_change_requests(
    gated: LiveServer,
) -> None:
    from helmforge.services import audit

    user_token(gated.sessions, "olga", "operator")
    with gated.sessions.begin() as session:
        audit.record(session, SYSTEM, "change.propose", "change:7", after={"kind": "x"})
    with _client(gated, "olga") as olga:  # a refused post: audited as olga's access.deny
        token = csrf_of(olga.get("/my-access").text)
        olga.post("/access/bindings", data={"subject": "user:olga", "role": "admin",
                                            "scope": "*/*/*/*", "csrf_token": token})  # fmt: skip
    with _admin(gated) as admin:
        by_user = admin.get("/audit", params={"user": "olga"})
        assert by_user.status_code == 200
        rows = by_user.text.split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == rows.count('href="/audit?user=olga"') >= 2  # sign-in too
        assert "access.deny" in rows
        assert "user.create" not in rows
        assert 'value="olga"' in by_user.text  # the filter stays in its field
        by_action = admin.get("/audit", params={"action": "user.create"})
        rows = by_action.text.split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == 3  # admin (first start), olga and root
        assert "access.deny" not in rows
        by_object = admin.get("/audit", params={"object": "change:7"})
        rows = by_object.text.split("<tbody>")[1].split("</tbody>")[0]
        assert rows.count("<tr>") == 1
        assert '<a href="/changes/7">change request #7</a>' in rows
        none = admin.get("/audit", params={"user": "olga", "action": "user.create"})
        assert none.text.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == 1  # "no events"
        assert "No events" in none.text


def test_generate_page_answered_a_forbidden_build_with_422_not_403(gated: LiveServer) -> None:
    # Defect: the Generate page showed a denied build as a 422 problem; DESIGN §9 says 403.
    user_token(gated.sessions, "dana", "developer")
    with _client(gated, "dana") as developer:
        token = csrf_of(developer.get("/generate").text)
        context = {"template": "web-service@1.2.0", "action": "build", "csrf_token": token,
                   "ctx.product": "ledger", "ctx.customer": "acme", "ctx.instance": "a1",
                   "ctx.version": "3.4.0", "v.replicaCount": "2", "v.service.type": "ClusterIP",
                   "v.ingress.host": "a1.acme.example.com"}  # fmt: skip
        refused = developer.post("/generate", data={**context, "ctx.environment": "prod"})
        assert refused.status_code == 403
        assert "dana may not chart.build on ledger/acme/prod/a1" in refused.text
        built = developer.post("/generate", data={**context, "ctx.environment": "dev"})
        assert built.status_code == 303


def test_the_registries_page_offers_its_controls_by_registry_manage_not_by_role(
    gated: LiveServer,
) -> None:
    # Defect: the page showed add/edit/test/delete by the admin role while the services check
    # registry.manage, so a custom role holding it (or an admin by group binding) got none.
    user_token(gated.sessions, "kim", "template-user")
    user_token(gated.sessions, "olga", "template-user")
    policy = access.export_policy(gated.sessions, actor=SYSTEM) + (
        "p, role:registry-keeper, registry, manage, *, allow\ng, user:kim, role:registry-keeper\n"
    )
    access.import_policy(gated.sessions, policy, actor=SYSTEM)
    with _client(gated, "kim") as kim:
        page = kim.get("/registries")
        assert 'id="add-registry"' in page.text
        assert 'href="/users"' not in page.text  # kim may not user.manage: not offered
        added = kim.post(
            "/registries",
            data={"csrf_token": csrf_of(page.text), "name": "lab",
                  "url": "oci://127.0.0.1:9/charts", "plain_http": "on"},
        )  # fmt: skip
        assert added.status_code == 303, added.text
        listing = kim.get("/registries").text
        assert 'action="/registries/lab/test"' in listing
        assert 'action="/registries/lab/delete"' in listing
        assert 'id="edit-lab"' in listing
    with _client(gated, "olga") as olga:
        page = olga.get("/registries")
        assert page.status_code == 200
        assert '<th scope="row">lab</th>' in page.text  # olga reads registries
        for control in ('id="add-registry"', "/registries/lab/", 'id="edit-lab"', "Actions"):
            assert control not in page.text
        forged = olga.post("/registries/lab/delete", data={"csrf_token": csrf_of(page.text)})
        assert forged.status_code == 403
        assert "olga may not registry.manage" in forged.text
        assert '<th scope="row">lab</th>' in olga.get("/registries").text
    with _admin(gated) as admin:
        assert 'href="/users"' in admin.get("/registries").text


@pytest.fixture
def two_approvals(tmp_path: Path) -> Iterator[LiveServer]:
    """A live server (API and UI) where a change in prod needs two approvals."""
    app, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "data",
        with_web=True,
        approvals=ApprovalRules(by_environment={"prod": 2}),
    )
    with serve(app) as url:
        yield LiveServer(url, app, state_of(app).sessions)
    state_of(app).engine.dispose()


def _build_for(server: LiveServer, token: str, environment: str, version: str) -> str:
    context = {**PROD_CONTEXT, "environment": environment, "version": version}
    built = httpx.post(
        f"{server.url}/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": context, "values": {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    assert built.status_code == 201, built.text
    return str(built.json()["id"])


@pytest.mark.registry
def test_the_requester_edits_a_pending_request_on_its_page_and_the_approvals_start_over(
    two_approvals: LiveServer, basic_registry: RegistryServer
) -> None:
    server = two_approvals
    admin_token = accounts.create_token(server.sessions, user="admin", actor=SYSTEM).token
    add_lab_registry(server.url, admin_token, basic_registry)
    alice = user_token(server.sessions, "alice", "template-user")
    user_token(server.sessions, "bob", "approver")
    request_id = propose_prod_publish(server.url, alice)
    detail = f"/changes/{request_id}"
    newer = _build_for(server, alice, "prod", "3.4.1")
    elsewhere = _build_for(server, alice, "dev", "3.4.0")
    with _client(server, "bob") as approver:
        page = approver.get(detail)
        assert 'id="edit-payload"' not in page.text  # bob did not propose it: not offered
        approved = approver.post(f"{detail}/approve", data={"csrf_token": csrf_of(page.text)})
        assert approved.status_code == 303
        forged = approver.post(
            f"{detail}/edit",
            data={"csrf_token": csrf_of(page.text), "payload": f"build: {newer}\nregistry: lab\n"},
        )
        assert forged.status_code == 403  # not offered, and refused by the service
        assert "bob may not chart.publish on ledger/acme/prod/a1" in forged.text
    assert change_requests.get_request(server.sessions, request_id, actor=SYSTEM).approvals == (
        "bob",
    )
    first = change_requests.get_request(server.sessions, request_id, actor=SYSTEM).payload
    with _client(server, "alice") as requester:
        page = requester.get(detail)
        assert page.status_code == 200
        assert 'id="edit-payload"' in page.text
        shown = re.search(r'id="edit-payload"[^>]*>([^<]*)</textarea>', page.text)
        assert shown is not None
        assert yaml.safe_load(html.unescape(shown.group(1))) == first  # the proposal as it is
        assert "bob must approve again" in page.text
        token = csrf_of(page.text)
        moved = requester.post(
            f"{detail}/edit", data={"csrf_token": token,
                                    "payload": f"build: {elsewhere}\nregistry: lab\n"},
        )  # fmt: skip
        assert moved.status_code == 422
        assert "an edit cannot move it to ledger/acme/dev/a1" in moved.text
        assert f"build: {elsewhere}" in moved.text  # what was typed stays
        not_a_mapping = requester.post(
            f"{detail}/edit", data={"csrf_token": token, "payload": "- build\n"}
        )
        assert not_a_mapping.status_code == 422
        assert "the proposal must be a mapping" in not_a_mapping.text
        edited = requester.post(
            f"{detail}/edit", data={"csrf_token": token,
                                    "payload": f"build: {newer}\nregistry: lab\n"},
        )  # fmt: skip
        assert edited.status_code == 303
        assert edited.headers["location"] == f"{detail}?edited=true"
        page = requester.get(edited.headers["location"])
        assert "approvals start over" in page.text
        assert 'id="change-approvals">0 of 2 needed<' in page.text
        assert "publish chart ledger-acme-prod-a1 3.4.1" in page.text
    view = change_requests.get_request(server.sessions, request_id, actor=SYSTEM)
    assert (view.payload["build"], view.approvals, view.editors) == (newer, (), ("alice",))
