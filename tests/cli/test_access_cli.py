"""``helmforge bindings``, ``policy``, ``can`` and ``changes`` (DESIGN §9), each run as the real
``helmforge`` process: the local ones on the test's own store, ``changes`` against a real server
on loopback with a real registry behind it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.policy import BUILT_IN_ROLES
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts, audit_trail
from helmforge.services.settings import load_settings
from helmforge.services.stores import open_store
from tests.support.apps import make_app
from tests.support.change_requests import add_lab_registry, propose_prod_publish, user_token
from tests.support.registry import RegistryServer
from tests.support.servers import serve

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))


def helmforge(
    *arguments: str, stdin: str = "", **environment: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HELMFORGE, *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **environment},
    )


@pytest.fixture
def store() -> None:
    """The test's store, migrated, with the first admin (``helmforge migrate``)."""
    assert helmforge("migrate").returncode == 0


def _events(action: str) -> list[audit_trail.AuditEvent]:
    store = open_store(load_settings(os.environ))
    try:
        return audit_trail.list_events(store.sessions, actor=SYSTEM, action=action)
    finally:
        store.engine.dispose()


def test_bindings_add_list_remove_on_the_local_store_recorded_as_the_operator(store: None) -> None:
    added = helmforge(
        "bindings", "add", "user:bob", "approver", "acme/*/prod/*", HELMFORGE_ACTOR="ops"
    )
    assert added.returncode == 0, added.stderr
    binding_id = added.stdout.strip()
    assert added.stderr == "bound user:bob to approver at acme/*/prod/*\n"
    listed = helmforge("bindings", "list", "--subject", "user:bob")
    assert listed.stdout == f"{binding_id}\tuser:bob\tapprover\tacme/*/prod/*\tops\n"
    [event] = _events("binding.create")[:1]
    assert (event.actor, event.target) == ("ops", "g, user:bob, role:approver, acme/*/prod/*")
    removed = helmforge("bindings", "remove", binding_id)
    assert (removed.returncode, removed.stderr) == (0, f"removed binding {binding_id}\n")
    assert helmforge("bindings", "list", "--subject", "user:bob").stdout == ""
    again = helmforge("bindings", "remove", binding_id)
    assert (again.returncode, again.stderr) == (
        1,
        f"helmforge: error: binding {binding_id} not found\n",
    )


def test_bindings_add_refuses_a_developer_outside_development_and_a_bad_scope(
    store: None,
) -> None:
    widened = helmforge("bindings", "add", "user:dana", "developer", "*/*/prod/*")
    assert widened.returncode == 1
    assert "developer binding cannot reach environment 'prod'" in widened.stderr
    for scope in ("acme/prod", "acme/*/Prod/*", "acme/*/pr*d/*"):
        bad = helmforge("bindings", "add", "user:dana", "operator", scope)
        assert bad.returncode == 1, scope
        assert bad.stderr.startswith("helmforge: error: scope"), bad.stderr
    assert helmforge("bindings", "list", "--subject", "user:dana").stdout == ""


def test_can_answers_yes_or_no_with_the_rule_and_exits_0_or_1(store: None) -> None:
    assert helmforge("bindings", "add", "user:olga", "operator", "shop/acme/prod/*").returncode == 0
    assert helmforge("bindings", "add", "group:sre", "approver", "*/*/prod/*").returncode == 0
    yes = helmforge("can", "user:olga", "instance.upgrade", "shop/acme/prod/a1")
    assert (yes.returncode, yes.stdout) == (
        0,
        "yes\n'g, user:olga, role:operator, shop/acme/prod/*': built-in role operator holds "
        "instance.upgrade\n",
    )
    # prod never matches prod-eu; a user named like a group is not that group.
    no = helmforge("can", "olga", "instance.upgrade", "shop/acme/prod-eu/a1")
    assert (no.returncode, no.stdout) == (
        1,
        "no\nno binding grants instance.upgrade on shop/acme/prod-eu/a1 (deny by default)\n",
    )
    assert helmforge("can", "user:sre", "change.approve", "shop/acme/prod/a1").returncode == 1
    through_group = helmforge(
        "can", "olga", "change.approve", "shop/acme/prod/a1", "--group", "sre"
    )
    assert through_group.returncode == 0
    assert "g, group:sre, role:approver, */*/prod/*" in through_group.stdout
    unknown = helmforge("can", "olga", "values.delete", "shop/acme/prod/a1")
    assert unknown.returncode == 1
    assert "unknown permission 'values.delete'" in unknown.stderr
    assert _events("access.deny") == []  # offline: records nothing


def test_policy_export_then_import_round_trips_and_a_bad_file_changes_nothing(
    store: None, tmp_path: Path
) -> None:
    assert helmforge("bindings", "add", "user:olga", "operator", "shop/*/dev/*").returncode == 0
    exported = helmforge("policy", "export")
    assert exported.stdout == (
        "g, user:admin, role:admin, */*/*/*\ng, user:olga, role:operator, shop/*/dev/*\n"
    )
    policy = tmp_path / "policy.csv"
    assert helmforge("policy", "export", str(policy)).returncode == 0
    assert policy.read_text() == exported.stdout
    policy.write_text("p, role:operator, values, update, shop/*/prod/*, deny\n" + exported.stdout)
    imported = helmforge("policy", "import", str(policy))
    assert (imported.returncode, imported.stderr) == (
        0,
        "imported 1 rule(s) and 2 binding(s)\n",
    )
    piped = helmforge("policy", "import", "-", stdin="g, user:olga, role:operator\n")
    assert piped.returncode == 1
    assert "binds no admin" in piped.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("g, user:admin, role:admin\nx, nonsense\n")
    refused = helmforge("policy", "import", str(bad))
    assert refused.returncode == 1
    assert f"{bad}:2: line starts with 'x': expected p or g" in refused.stderr
    assert helmforge("policy", "export").stdout == policy.read_text()


def test_users_create_role_help_lists_the_built_in_roles_and_binds_at_every_scope(
    store: None,
) -> None:
    shown = helmforge("users", "create", "--help")
    text = " ".join(shown.stdout.split())
    for role in BUILT_IN_ROLES:
        assert role in text, role
    created = helmforge("users", "create", "ava", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    assert helmforge("bindings", "list", "--subject", "user:ava").stdout.split("\t")[1:4] == [
        "user:ava",
        "auditor",
        "*/*/*/*",
    ]


def test_users_create_without_a_role_binds_nothing_and_bindings_add_gives_the_rights(
    store: None,
) -> None:
    created = helmforge("users", "create", "zoe")
    assert created.returncode == 0, created.stderr
    assert created.stderr == "created user zoe (no binding yet)\n"
    password = created.stdout.strip()
    assert len(password) >= 20
    assert helmforge("bindings", "list", "--subject", "user:zoe").stdout == ""
    assert helmforge("can", "zoe", "values.update", "shop/acme/dev/eu-1").returncode == 1
    store_ = open_store(load_settings(os.environ))
    try:
        accounts.authenticate_password(store_.sessions, "zoe", password, source="cli-test")
    finally:
        store_.engine.dispose()
    assert helmforge("bindings", "add", "user:zoe", "developer", "*/*/dev/*").returncode == 0
    assert helmforge("can", "zoe", "values.update", "shop/acme/dev/eu-1").returncode == 0
    assert helmforge("can", "zoe", "values.update", "shop/acme/prod/eu-1").returncode == 1
    refused = helmforge("bindings", "add", "user:zoe", "developer", "*/*/prod/*")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "cannot reach environment 'prod'" in refused.stderr
    usage = helmforge("users", "create")
    assert usage.returncode == 2


# --- changes: over the REST API of a real server ---------------------------------------------


@pytest.fixture
def gated_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A real server where prod needs one approval; yields its URL and its sessions."""
    application, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "data",
        approvals=ApprovalRules(by_environment={"prod": 1}),
    )
    with serve(application) as url:
        yield url, state_of(application).sessions
    state_of(application).engine.dispose()


@pytest.mark.registry
def test_changes_list_approve_over_the_api_the_requester_never_approves(
    gated_server: tuple[str, Any], basic_registry: RegistryServer
) -> None:
    url, sessions = gated_server
    add_lab_registry(
        url, accounts.create_token(sessions, user="admin", actor=SYSTEM).token, basic_registry
    )
    alice = user_token(sessions, "alice", "template-user")
    bob = user_token(sessions, "bob", "approver")
    # alice may approve in general, but never her own request.
    access.add_binding(
        sessions, subject="user:alice", role="approver", scope="*/*/*/*", actor=SYSTEM
    )
    request_id = propose_prod_publish(url, alice)

    listed = helmforge(
        "changes", "list", "--server", url, "--state", "pending", HELMFORGE_TOKEN=alice
    )
    assert listed.returncode == 0, listed.stderr
    assert (
        listed.stdout == f"{request_id}\tpending\tchart.publish\tledger/acme/prod/a1\talice\t0/1\n"
    )

    own = helmforge("changes", "approve", str(request_id), "--server", url, HELMFORGE_TOKEN=alice)
    assert own.returncode == 1
    assert re.search(r"server answered 403: .*alice requested change request", own.stderr), (
        own.stderr
    )
    assert alice not in own.stderr

    approved = helmforge(
        "changes", "approve", str(request_id), "--server", url, "--comment", "checked",
        HELMFORGE_TOKEN=bob,
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert (
        approved.stdout
        == f"{request_id}\tapplied\tchart.publish\tledger/acme/prod/a1\talice\t1/1\n"
    )
    assert (
        helmforge(
            "changes", "list", "--server", url, "--state", "pending", HELMFORGE_TOKEN=bob
        ).stdout
        == ""
    )
    late = helmforge("changes", "reject", str(request_id), "--server", url, HELMFORGE_TOKEN=bob)
    assert late.returncode == 1
    assert "409" in late.stderr


def test_changes_without_a_token_or_with_a_bad_state_fail_in_one_line(
    gated_server: tuple[str, Any],
) -> None:
    url, sessions = gated_server
    missing = helmforge("changes", "list", "--server", url)
    assert (missing.returncode, missing.stderr) == (
        1,
        "helmforge: error: no API token: set HELMFORGE_TOKEN (create one: helmforge tokens "
        "create)\n",
    )
    token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    bad = helmforge(
        "changes", "list", "--server", url, "--state", "sideways", HELMFORGE_TOKEN=token
    )
    assert bad.returncode == 1
    assert "state 'sideways' is unknown" in bad.stderr
    wrong = helmforge("changes", "reject", "7", "--server", url, HELMFORGE_TOKEN="hf_bad")
    assert wrong.returncode == 1
    assert "401" in wrong.stderr
