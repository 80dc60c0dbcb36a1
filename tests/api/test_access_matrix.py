"""The access matrix (DESIGN §9, the issue's acceptance test): every built-in role × every
permission that has a surface × environments dev, prod and prod-eu × surface (REST API, UI form
post, and the CLI where a command acts through a check: ``build --server``), against one real
server per backend (the instance and values permissions on one with a Git server and a
registry), asserting allow or deny exactly as DESIGN §9's role table says: 0
unexpected allows and 0 unexpected denies. The expectation below is written from the DESIGN
text, not from ``core/access/policy.py``'s role sets.

Promotion (issue 12) has its own cells: every role × dev/prod/prod-eu as the target × REST API
and ``helmforge instances promote``, on a server with instances and a Git remote behind it;
the Argo CD sync likewise (API and ``helmforge instances sync``), with the Argo CD stand-in.

Then scope traps (prod vs prod-eu, dev/../prod, ``*`` in the wrong segment, case, Unicode
look-alikes, a local user named like an SSO group) and self-approval refused through the API,
the UI and the CLI.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts, change_requests
from tests.support.apps import make_app
from tests.support.change_requests import (
    PASSWORD,
    add_lab_registry,
    propose_prod_publish,
    user_token,
)
from tests.support.charts import example_text
from tests.support.databases import fresh_database_url
from tests.support.instances import (
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    path_of,
    url_of,
)
from tests.support.registry import RegistryServer
from tests.support.servers import serve
from tests.web.conftest import csrf_of, sign_in

ROLES = ("admin", "template-creator", "template-user", "operator", "developer", "approver",
         "auditor")  # fmt: skip
ENVIRONMENTS = ("dev", "prod", "prod-eu")
DEVELOPMENT = frozenset({"dev"})

# DESIGN §9's table, read as permissions. template-creator: import, schemas, template create /
# edit / publish / deprecate, chart preview; template-user: read published templates, generate
# charts, publish charts; operator: read instances (the charts built for them, the template
# they run) and values, update, upgrade, rollback, sync; developer: template-user and operator,
# in development environments only; approver: approve, and read what is to be approved;
# auditor: read everything, the audit log included; admin: everything.
_READS = {"template.read", "chart.read", "registry.read", "audit.read", "schema.read"}
EXPECTED: dict[str, set[str]] = {
    "admin": {"template.read", "template.create", "chart.build", "chart.read", "user.manage",
              "binding.manage", "policy.manage", "audit.read", "registry.read", "schema.read",
              "argocd.manage"},
    "template-creator": {"template.read", "template.create", "schema.read"},
    "template-user": {"template.read", "chart.build", "chart.read", "registry.read"},
    "operator": {"template.read", "chart.read", "registry.read"},
    "developer": {"template.read", "chart.build", "chart.read", "registry.read"},
    "approver": {"chart.read"},
    "auditor": _READS,
}  # fmt: skip
# Instances (DESIGN §6/§9): template-user creates them; operator reads them and their values,
# updates values, upgrades and rolls back; approver and auditor read; developer as both, in dev.
_INSTANCE_READS = {"instance.read", "values.read"}
_OPERATE = {*_INSTANCE_READS, "values.update", "instance.upgrade", "instance.rollback"}
INSTANCE_EXPECTED: dict[str, set[str]] = {
    "admin": {*_OPERATE, "instance.create", "repository.manage"},
    "template-creator": set(),
    "template-user": {"instance.create"},
    "operator": _OPERATE,
    "developer": {*_OPERATE, "instance.create"},
    "approver": _INSTANCE_READS,
    "auditor": _INSTANCE_READS,
}
for _role, _held in INSTANCE_EXPECTED.items():
    EXPECTED[_role] |= _held
CONTEXTUAL = frozenset({"chart.build", "chart.read", *_OPERATE, "instance.create"})
VALUES = {"ingress": {"host": "a1.acme.example.com"}}


def expected(role: str, permission: str, environment: str) -> bool:
    if permission not in EXPECTED[role]:
        return False
    if role == "developer" and permission in CONTEXTUAL:
        return environment in DEVELOPMENT
    return True


@dataclass
class Server:
    url: str
    sessions: Any
    tokens: dict[str, str]
    clients: dict[str, httpx.Client]
    csrf: dict[str, str]
    builds: dict[str, str]  # environment -> a build the admin made there
    out: str  # a folder for the CLI's archives


def _context(environment: str, instance: str = "a1") -> dict[str, str]:
    return {"product": "ledger", "customer": "acme", "environment": environment,
            "instance": instance, "version": "3.4.0"}  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One real server per backend (API and UI, no approvals asked so every surface answers
    at once), a user per built-in role bound at every scope, each with a token and a signed-in
    browser session."""
    directory = tmp_path_factory.mktemp(f"matrix-{request.param}")
    with fresh_database_url(request.param, directory) as url:
        app, _ = make_app(url, directory / "data", with_web=True)
        sessions = state_of(app).sessions
        tokens = {}
        for role in ROLES:
            accounts.create_user(sessions, f"r-{role}", role=role, password=PASSWORD, actor=SYSTEM)
            tokens[role] = accounts.create_token(sessions, user=f"r-{role}", actor=SYSTEM).token
        with serve(app) as base, contextlib.ExitStack() as stack:
            clients, csrf = {}, {}
            for role in ROLES:
                client = stack.enter_context(httpx.Client(base_url=base, timeout=120))
                assert sign_in(client, f"r-{role}", PASSWORD).status_code == 303
                clients[role] = client
                csrf[role] = csrf_of(client.get("/my-access").text)
            builds = {}
            for environment in ENVIRONMENTS:
                built = httpx.post(
                    f"{base}/api/v1/charts",
                    json={"template": "web-service@1.2.0", "context": _context(environment),
                          "values": VALUES},
                    headers={"Authorization": f"Bearer {tokens['admin']}"},
                    timeout=120,
                )  # fmt: skip
                assert built.status_code == 201, built.text
                builds[environment] = built.json()["id"]
            yield Server(base, sessions, tokens, clients, csrf, builds, str(directory / "out"))
        state_of(app).engine.dispose()


_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def _api(server: Server, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[role]}", **kwargs.pop("headers", {})}
    return httpx.request(
        method, f"{server.url}/api/v1{path}", headers=headers, timeout=120, **kwargs
    )


def _verdict(response: httpx.Response, allowed: set[int], denied: set[int]) -> bool:
    if response.status_code in allowed:
        return True
    shown = response.text.split("<main", 1)[-1][:600]
    assert response.status_code in denied, (response.status_code, response.request.url, shown)
    return False


# Each probe does the permission once through one surface and answers True (done) or False
# (refused, nothing changed). Denials are 403, or 404 where the object is hidden as missing.
Probe = Callable[[Server, str, str], bool]
API: dict[str, Probe] = {
    "template.read": lambda s, r, e: _verdict(
        _api(s, r, "GET", "/templates/web-service/versions"), {200}, {404}
    ),
    "template.create": lambda s, r, e: _verdict(
        _api(
            s,
            r,
            "POST",
            "/templates",
            content=example_text(name=_unique("m-")),
            headers={"Content-Type": "application/yaml"},
        ),
        {201},
        {403},
    ),
    "chart.build": lambda s, r, e: _verdict(
        _api(
            s,
            r,
            "POST",
            "/charts",
            json={"template": "web-service@1.2.0", "context": _context(e), "values": VALUES},
        ),
        {201},
        {403, 404},
    ),
    "chart.read": lambda s, r, e: _verdict(
        _api(s, r, "GET", f"/charts/{s.builds[e]}"), {200}, {404}
    ),
    "user.manage": lambda s, r, e: _verdict(_api(s, r, "GET", "/users"), {200}, {403}),
    "binding.manage": lambda s, r, e: _verdict(_api(s, r, "GET", "/bindings"), {200}, {403}),
    "policy.manage": lambda s, r, e: _verdict(_api(s, r, "GET", "/policy"), {200}, {403}),
    "audit.read": lambda s, r, e: _verdict(_api(s, r, "GET", "/audit"), {200}, {403}),
    "registry.read": lambda s, r, e: _verdict(_api(s, r, "GET", "/registries"), {200}, {403}),
    "argocd.manage": lambda s, r, e: _verdict(
        _api(
            s,
            r,
            "POST",
            "/argocd/servers",
            json={"name": _unique("cd-"), "url": "https://argocd.example.com", "token": "t0k"},
        ),
        {201},
        {403},
    ),
}


def _form(server: Server, role: str, path: str, data: dict[str, str]) -> httpx.Response:
    return server.clients[role].post(path, data={**data, "csrf_token": server.csrf[role]})


UI: dict[str, Probe] = {
    "template.create": lambda s, r, e: _verdict(
        _form(s, r, "/templates/new", {"content": example_text(name=_unique("u-"))}),
        {303},
        {403},
    ),
    "chart.build": lambda s, r, e: _verdict(
        _form(
            s,
            r,
            "/generate",
            {
                "template": "web-service@1.2.0",
                "action": "build",
                **{f"ctx.{k}": v for k, v in _context(e).items()},
                "v.replicaCount": "2",
                "v.service.type": "ClusterIP",
                "v.ingress.host": "a1.acme.example.com",
            },
        ),
        {303},
        {403, 404},
    ),
    "user.manage": lambda s, r, e: _verdict(
        _form(s, r, "/users", {"name": _unique("u"), "role": "auditor", "password": PASSWORD}),
        {303},
        {403},
    ),
    "binding.manage": lambda s, r, e: _verdict(
        _form(
            s,
            r,
            "/access/bindings",
            {"subject": f"group:{_unique('g')}", "role": "auditor", "scope": "*/*/*/*"},
        ),
        {303},
        {403},
    ),
    "audit.read": lambda s, r, e: _verdict(s.clients[r].get("/audit"), {200}, {403}),
}
HELMFORGE = str(Path(sys.executable).with_name("helmforge"))


def _cli_build(server: Server, role: str, environment: str) -> bool:
    """``helmforge build --server``: exit 0 and the archive, or exit 1 with the server's 403."""
    out = Path(server.out) / _unique("cli-")
    context = _context(environment)
    result = subprocess.run(
        [HELMFORGE, "build", "web-service@1.2.0", "--server", server.url, "--out", str(out),
         *itertools.chain.from_iterable((f"--{k}", v) for k, v in context.items()),
         "--set", "ingress.host=a1.acme.example.com"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HELMFORGE_TOKEN": server.tokens[role]},
    )  # fmt: skip
    if result.returncode == 0:
        return True
    assert result.returncode == 1, result.stderr
    assert re.search(r"server answered (403|404)", result.stderr), result.stderr
    return False


# The CLI commands that act through a checked surface: `build --server` (chart.build).
CLI: dict[str, Probe] = {"chart.build": _cli_build}
SURFACES = {"api": API, "ui": UI, "cli": CLI}
GLOBAL = frozenset(API) - CONTEXTUAL


def test_every_role_permission_environment_and_surface_is_exactly_as_designed(
    server: Server,
) -> None:
    unexpected: list[str] = []
    cells = 0
    for surface, probes in SURFACES.items():
        for permission, probe in probes.items():
            # A permission without a context is the same in every environment: asked once.
            environments = ENVIRONMENTS if permission in CONTEXTUAL else ENVIRONMENTS[:1]
            for role, environment in itertools.product(ROLES, environments):
                cells += 1
                want = expected(role, permission, environment)
                got = probe(server, role, environment)
                if got != want:
                    kind = "unexpected allow" if got else "unexpected deny"
                    unexpected.append(f"{kind}: {role} {permission} {environment} via {surface}")
    sizes = f"{len(API)} API, {len(UI)} UI and {len(CLI)} CLI permissions"
    print(f"access matrix: {cells} cells ({len(ROLES)} roles; {sizes}; dev/prod/prod-eu)")
    assert unexpected == []
    assert cells == len(ROLES) * sum(
        len(ENVIRONMENTS) if p in CONTEXTUAL else 1 for probes in SURFACES.values() for p in probes
    )


# --- instances and values (a Git server and a registry) ------------------------------------


@dataclass
class InstanceServer:
    url: str
    tokens: dict[str, str]
    clients: dict[str, httpx.Client]
    csrf: dict[str, str]
    created: dict[str, str]  # environment -> the revision that created its instance


# prod-eu has no layer that sets the ingress host: every instance's overrides carry one.
HOST = {"ingress": {"host": "eu-1.acme.example.com"}}


def _segments(environment: str, instance: str = "eu-1") -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": environment,
            "instance": instance}  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def instance_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    basic_registry: RegistryServer,
) -> Iterator[InstanceServer]:
    """One real server per backend with a GitOps repository on a real Git server and a
    registry (no approvals asked), a user per built-in role bound at every scope with a token
    and a signed-in browser session, and an instance the admin created in each environment."""
    directory = tmp_path_factory.mktemp(f"instances-{request.param}")
    with (
        fresh_database_url(request.param, directory) as url,
        git_lab(directory / "git") as lab,
    ):
        app, _ = make_app(url, directory / "data", with_web=True)
        sessions = state_of(app).sessions
        tokens = {}
        for role in ROLES:
            accounts.create_user(sessions, f"r-{role}", role=role, password=PASSWORD, actor=SYSTEM)
            tokens[role] = accounts.create_token(sessions, user=f"r-{role}", actor=SYSTEM).token
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        with (
            serve(app) as base,
            contextlib.ExitStack() as stack,
            httpx.Client(base_url=base, headers=admin, timeout=120) as as_admin,
        ):
            add_repository(as_admin, lab)  # type: ignore[arg-type] # an httpx client: same calls
            add_registry(as_admin, basic_registry)  # type: ignore[arg-type]
            created = {}
            for environment in ENVIRONMENTS:
                made = as_admin.post(
                    "/api/v1/instances",
                    json=instance_body(_segments(environment), values={"replicaCount": 2, **HOST}),
                )
                assert made.status_code == 201, made.text
                created[environment] = made.json()["revision"]
            clients, csrf = {}, {}
            for role in ROLES:
                client = stack.enter_context(httpx.Client(base_url=base, timeout=120))
                assert sign_in(client, f"r-{role}", PASSWORD).status_code == 303
                clients[role] = client
                csrf[role] = csrf_of(client.get("/my-access").text)
            yield InstanceServer(base, tokens, clients, csrf, created)
        state_of(app).engine.dispose()


def _instance_api(
    server: InstanceServer, role: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.tokens[role]}", **kwargs.pop("headers", {})}
    return httpx.request(
        method, f"{server.url}/api/v1{path}", headers=headers, timeout=120, **kwargs
    )


def _of(environment: str) -> str:
    return url_of(_segments(environment)).removeprefix("/api/v1")


def _update_values(server: InstanceServer, role: str, environment: str) -> bool:
    current = _instance_api(server, "admin", "GET", _of(environment))
    assert current.status_code == 200, current.text
    answer = _instance_api(
        server, role, "PUT", f"{_of(environment)}/values",
        json={"values": {"replicaCount": next(_counter) % 9 + 1, **HOST}},
        headers={"If-Match": current.headers["ETag"]},
    )  # fmt: skip
    return _verdict(answer, {200}, {403, 404})


def _app_version() -> str:
    # Each upgrade names an app version no earlier one took (the chart version follows it).
    return f"3.4.{next(_counter) + 1}"


INSTANCE_API: dict[str, Callable[[InstanceServer, str, str], bool]] = {
    "instance.create": lambda s, r, e: _verdict(
        _instance_api(
            s, r, "POST", "/instances", json=instance_body(_segments(e, _unique("n")), values=HOST)
        ),
        {201},
        {403, 404},
    ),
    "instance.read": lambda s, r, e: _verdict(_instance_api(s, r, "GET", _of(e)), {200}, {404}),
    "values.read": lambda s, r, e: _verdict(
        _instance_api(s, r, "GET", f"{_of(e)}/history"), {200}, {403, 404}
    ),
    "values.update": _update_values,
    "instance.rollback": lambda s, r, e: _verdict(
        _instance_api(s, r, "POST", f"{_of(e)}/rollback", json={"revision": s.created[e]}),
        {200},
        {403, 404},
    ),
    "instance.upgrade": lambda s, r, e: _verdict(
        _instance_api(s, r, "POST", f"{_of(e)}/upgrade", json={"version": _app_version()}),
        {200},
        {403, 404},
    ),
    # Listing repositories is open to who creates or reads instances (the Deploy form names
    # them); adding one is repository.manage. Nothing is contacted. (argocd.manage: above.)
    "repository.manage": lambda s, r, e: _verdict(
        _instance_api(
            s,
            r,
            "POST",
            "/gitops/repositories",
            json={
                "name": _unique("repo-"),
                "url": "https://127.0.0.1:9/gitops.git",
                "branch": "main",
                "path": "clusters/eu",
            },
        ),
        {201},
        {403},
    ),
}


def _instance_form(
    server: InstanceServer, role: str, environment: str, action: str, data: dict[str, str]
) -> httpx.Response:
    path = f"/instances/{path_of(_segments(environment))}/{action}"
    return server.clients[role].post(path, data={**data, "csrf_token": server.csrf[role]})


INSTANCE_UI: dict[str, Callable[[InstanceServer, str, str], bool]] = {
    "instance.read": lambda s, r, e: _verdict(
        s.clients[r].get(f"/instances/{path_of(_segments(e))}"), {200}, {404}
    ),
    "instance.rollback": lambda s, r, e: _verdict(
        _instance_form(s, r, e, "rollback", {"revision": s.created[e]}), {303}, {403, 404}
    ),
    "instance.upgrade": lambda s, r, e: _verdict(
        _instance_form(s, r, e, "upgrade", {"version": _app_version()}), {303}, {403, 404}
    ),
}
INSTANCE_SURFACES = {"api": INSTANCE_API, "ui": INSTANCE_UI}


@pytest.mark.registry
def test_every_role_instance_and_values_permission_environment_and_surface_is_as_designed(
    instance_server: InstanceServer,
) -> None:
    unexpected: list[str] = []
    cells = 0
    for surface, probes in INSTANCE_SURFACES.items():
        for permission, probe in probes.items():
            environments = ENVIRONMENTS if permission in CONTEXTUAL else ENVIRONMENTS[:1]
            for role, environment in itertools.product(ROLES, environments):
                cells += 1
                want = expected(role, permission, environment)
                got = probe(instance_server, role, environment)
                if got != want:
                    kind = "unexpected allow" if got else "unexpected deny"
                    unexpected.append(f"{kind}: {role} {permission} {environment} via {surface}")
    sizes = f"{len(INSTANCE_API)} API and {len(INSTANCE_UI)} UI permissions"
    print(f"instance access matrix: {cells} cells ({len(ROLES)} roles; {sizes}; dev/prod/prod-eu)")
    assert "\n".join(unexpected) == ""
    assert cells == 196


# --- scope traps -------------------------------------------------------------------------------


def _build(server: Server, token: str, environment: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/charts",
        json={"template": "web-service@1.2.0", "context": _context(environment), "values": VALUES},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )


def _only_binding(server: Server, name: str, role: str, scope: str) -> str:
    """A user whose one binding is ``role`` at ``scope``; a token of theirs."""
    accounts.create_user(server.sessions, name, role=role, password=PASSWORD, actor=SYSTEM)
    [created] = access.list_bindings(server.sessions, actor=SYSTEM, subject=f"user:{name}")
    access.remove_binding(server.sessions, created.id, actor=SYSTEM)
    access.add_binding(
        server.sessions, subject=f"user:{name}", role=role, scope=scope, actor=SYSTEM
    )
    return accounts.create_token(server.sessions, user=name, actor=SYSTEM).token


def test_scope_traps_never_widen_a_binding(server: Server) -> None:
    token = _only_binding(server, _unique("trap"), "template-user", "ledger/acme/prod/*")
    assert _build(server, token, "prod").status_code == 201
    assert _build(server, token, "prod-eu").status_code == 403  # prod never matches prod-eu
    assert _build(server, token, "dev").status_code == 403
    for lookalike in ("dev/../prod", "PROD", "Prod", "pr\u043ed", "prod\u200b", "prod/", "*"):
        answer = _build(server, token, lookalike)
        assert answer.status_code in (403, 422), (lookalike, answer.text)
    # A '*' is a whole segment or nothing, and a scope has four segments, lower-case labels.
    admin = {"Authorization": f"Bearer {server.tokens['admin']}"}
    traps = ("ledger/acme/pr*/*", "ledger/acme/prod", "ledger/*acme/prod/*",
             "LEDGER/acme/prod/*", "ledger/acme/pr\u043ed/*", "ledger/acme/../prod")  # fmt: skip
    for scope in traps:
        refused = httpx.post(
            f"{server.url}/api/v1/bindings",
            json={"subject": "user:nobody", "role": "operator", "scope": scope},
            headers=admin,
            timeout=120,
        )
        assert refused.status_code == 422, (scope, refused.text)
    assert access.list_bindings(server.sessions, actor=SYSTEM, subject="user:nobody") == []


def test_a_local_user_named_like_an_sso_group_is_not_that_group(server: Server) -> None:
    group = _unique("platform")
    access.add_binding(
        server.sessions, subject=f"group:{group}", role="template-user", scope="*/*/*/*",
        actor=SYSTEM,
    )  # fmt: skip
    accounts.create_user(server.sessions, group, role="approver", password=PASSWORD, actor=SYSTEM)
    token = accounts.create_token(server.sessions, user=group, actor=SYSTEM).token
    assert _build(server, token, "dev").status_code == 403
    me = httpx.get(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=120
    ).json()
    assert "chart.build" not in me["permissions"]


# --- self-approval, through every surface ------------------------------------------------------


@pytest.mark.registry
def test_self_approval_is_refused_through_the_api_the_ui_and_the_cli(
    tmp_path: Path, basic_registry: RegistryServer
) -> None:
    app, _ = make_app(
        f"sqlite:///{tmp_path / 'gated.db'}",
        tmp_path / "data",
        with_web=True,
        approvals=ApprovalRules(by_environment={"prod": 1}),
    )
    sessions = state_of(app).sessions
    with serve(app) as url:
        add_lab_registry(url, accounts.create_token(sessions, user="admin", actor=SYSTEM).token,
                         basic_registry)  # fmt: skip
        # alice may approve in general (approver everywhere), never her own request.
        alice = user_token(sessions, "alice", "template-user")
        access.add_binding(
            sessions, subject="user:alice", role="approver", scope="*/*/*/*", actor=SYSTEM
        )
        request_id = propose_prod_publish(url, alice)
        api = httpx.post(
            f"{url}/api/v1/change-requests/{request_id}/approve",
            json={"comment": "mine"},
            headers={"Authorization": f"Bearer {alice}"},
            timeout=120,
        )
        assert api.status_code == 403, api.text
        with httpx.Client(base_url=url, timeout=120) as browser:
            assert sign_in(browser, "alice", PASSWORD).status_code == 303
            page = browser.get(f"/changes/{request_id}")
            assert 'id="approve-button"' not in page.text
            ui = browser.post(
                f"/changes/{request_id}/approve", data={"csrf_token": csrf_of(page.text)}
            )
            assert ui.status_code == 403
            assert "alice requested change request" in ui.text
        cli = subprocess.run(
            [str(Path(sys.executable).with_name("helmforge")), "changes", "approve",
             str(request_id), "--server", url],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "HELMFORGE_TOKEN": alice},
        )  # fmt: skip
        assert cli.returncode == 1
        assert "server answered 403" in cli.stderr
        view = change_requests.get_request(sessions, request_id, actor=SYSTEM)
        assert (view.state, view.approvals) == ("pending", ())
    state_of(app).engine.dispose()


# --- promotion: every role × target environment × API and CLI ----------------------------------

# DESIGN §9 gives promotion no role of its own: it reads the source instance's values and
# upgrades and updates the values of the target, which the operator may (and the developer only
# when both are development environments; a promotion always leaves one), and admin.
PROMOTERS = frozenset({"admin", "operator"})
PROMOTION_SOURCES = {"dev": "sandbox", "prod": "dev", "prod-eu": "dev"}


def _promote_api(url: str, token: str, source: str, target: str) -> bool:
    answer = httpx.post(
        f"{url}/api/v1/instances/ledger/acme/{source}/p1/promote",
        json={"to": target, "values": ["replicaCount"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    return _verdict(answer, {200}, {403, 404})


def _promote_cli(url: str, token: str, source: str, target: str) -> bool:
    result = subprocess.run(
        [HELMFORGE, "instances", "promote", f"ledger/acme/{source}/p1", "--to", target,
         "--values", "replicaCount", "--server", url],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HELMFORGE_TOKEN": token},
    )  # fmt: skip
    if result.returncode == 0:
        return True
    assert result.returncode == 1, result.stderr
    assert re.search(r"server answered (403|404)", result.stderr), result.stderr
    return False


@pytest.mark.registry
def test_promotion_is_allowed_exactly_to_admin_and_operator_through_the_api_and_the_cli(
    database_url: str, tmp_path: Path, basic_registry: RegistryServer
) -> None:
    from tests.support.instances import add_registry, add_repository, git_lab

    app, _ = make_app(
        database_url, tmp_path / "data", environments=("sandbox", "dev", "prod", "prod-eu")
    )
    sessions = state_of(app).sessions
    tokens = {}
    for role in ROLES:
        accounts.create_user(sessions, f"p-{role}", role=role, password=PASSWORD, actor=SYSTEM)
        tokens[role] = accounts.create_token(sessions, user=f"p-{role}", actor=SYSTEM).token
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with (
        git_lab(tmp_path) as lab,
        serve(app) as url,
        httpx.Client(base_url=url, headers=admin, timeout=120) as client,
    ):
        add_repository(client, lab)
        add_registry(client, basic_registry)
        for environment in ("sandbox", "dev", "prod", "prod-eu"):
            created = client.post("/api/v1/instances", json={
                "product": "ledger", "customer": "acme", "environment": environment,
                "instance": "p1", "template": "web-service@1.2.0", "version": "3.4.0",
                "registry": "lab", "repository": "gitops",
                "values": {"replicaCount": 1, "ingress": {"host": "p1.acme.example.com"}},
            })  # fmt: skip
            assert created.status_code == 201, created.text
        replicas = itertools.count(2)

        def bump(source: str) -> None:
            """A new value at the source, so the next promotion has one to copy."""
            path = f"/api/v1/instances/ledger/acme/{source}/p1"
            revision = client.get(path).json()["revision"]
            values = {"replicaCount": next(replicas), "ingress": {"host": "p1.acme.example.com"}}
            changed = client.put(
                f"{path}/values", json={"values": values}, headers={"If-Match": f'"{revision}"'}
            )
            assert changed.status_code == 200, changed.text

        unexpected: list[str] = []
        cells = 0
        copied = set(PROMOTION_SOURCES.values())  # the sources whose value the targets hold
        for surface, probe in (("api", _promote_api), ("cli", _promote_cli)):
            for role, target in itertools.product(ROLES, ENVIRONMENTS):
                source = PROMOTION_SOURCES[target]
                if source in copied:
                    bump(source)
                    copied.discard(source)
                commits = lab.commits()
                cells += 1
                got = probe(url, tokens[role], source, target)
                if got:
                    copied.add(source)
                assert lab.commits() == commits + (1 if got else 0), (role, target, surface)
                if got != (role in PROMOTERS):
                    kind = "unexpected allow" if got else "unexpected deny"
                    unexpected.append(f"{kind}: {role} promote into {target} via {surface}")
    state_of(app).engine.dispose()
    print(f"promotion matrix: {cells} cells ({len(ROLES)} roles; dev/prod/prod-eu; API, CLI)")
    assert unexpected == []
    assert cells == len(ROLES) * len(ENVIRONMENTS) * 2


# --- Argo CD sync: every role × environment × API and CLI --------------------------------------

# DESIGN §9: the operator may sync (in their contexts), the developer in development
# environments only, and admin; nobody else. A sync changes nothing in Git: the proof it was
# refused is that Argo CD never heard of it.
SYNCERS = frozenset({"admin", "operator"})
SYNC_TOKEN = "canary-matrix-argocd-token-DO-NOT-LEAK"


def _sync_api(url: str, token: str, environment: str) -> bool:
    answer = httpx.post(
        f"{url}/api/v1/instances/ledger/acme/{environment}/s1/sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    return _verdict(answer, {200}, {403, 404})


def _sync_cli(url: str, token: str, environment: str) -> bool:
    result = subprocess.run(
        [HELMFORGE, "instances", "sync", f"ledger/acme/{environment}/s1", "--server", url],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HELMFORGE_TOKEN": token},
    )  # fmt: skip
    if result.returncode == 0:
        return True
    assert result.returncode == 1, result.stderr
    assert re.search(r"server answered (403|404)", result.stderr), result.stderr
    return False


@pytest.mark.registry
def test_sync_is_allowed_exactly_to_admin_operator_and_developers_in_dev(
    database_url: str, tmp_path: Path, basic_registry: RegistryServer, shared_data: Path
) -> None:
    from helmforge.core.yaml_codec import load_single
    from tests.support.argocd import ArgoCdStandIn
    from tests.support.instances import add_registry, add_repository, git_lab

    app, _ = make_app(database_url, tmp_path / "data", argocd_poll_interval=0.0)
    sessions = state_of(app).sessions
    tokens = {}
    for role in ROLES:
        accounts.create_user(sessions, f"s-{role}", role=role, password=PASSWORD, actor=SYSTEM)
        tokens[role] = accounts.create_token(sessions, user=f"s-{role}", actor=SYSTEM).token
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    argocd = ArgoCdStandIn(
        shared_data / "argocd" / "swagger.json", tokens={SYNC_TOKEN: {"*"}}, auto_tick=True
    )
    with (
        git_lab(tmp_path) as lab,
        argocd.running(),
        serve(app) as url,
        httpx.Client(base_url=url, headers=admin, timeout=120) as client,
    ):
        add_repository(client, lab)
        add_registry(client, basic_registry)
        server = {"name": "cluster", "url": argocd.url, "token": SYNC_TOKEN}
        assert client.post("/api/v1/argocd/servers", json=server).status_code == 201
        for environment in ENVIRONMENTS:
            created = client.post("/api/v1/instances", json={
                "product": "ledger", "customer": "acme", "environment": environment,
                "instance": "s1", "template": "web-service@1.2.0", "version": "3.4.0",
                "registry": "lab", "repository": "gitops", "argocd": "cluster",
                "values": {"ingress": {"host": "s1.acme.example.com"}},
            })  # fmt: skip
            assert created.status_code == 201, created.text
            application = lab.show(created.json()["application_path"])
            argocd.add_application(load_single(application, source="application.yaml").data)
        for name in argocd.applications:
            argocd.heads[name] = lab.head()  # what an auto-synced Application tracks
        unexpected: list[str] = []
        cells = 0
        for surface, probe in (("api", _sync_api), ("cli", _sync_cli)):
            for role, environment in itertools.product(ROLES, ENVIRONMENTS):
                cells += 1
                heard = len(argocd.requests)
                got = probe(url, tokens[role], environment)
                if not got:
                    assert len(argocd.requests) == heard, (role, environment, surface)
                want = role in SYNCERS or (role == "developer" and environment in DEVELOPMENT)
                if got != want:
                    kind = "unexpected allow" if got else "unexpected deny"
                    unexpected.append(f"{kind}: {role} sync in {environment} via {surface}")
    assert argocd.violations == []
    state_of(app).engine.dispose()
    print(f"sync matrix: {cells} cells ({len(ROLES)} roles; dev/prod/prod-eu; API, CLI)")
    assert unexpected == []
    assert cells == len(ROLES) * len(ENVIRONMENTS) * 2
