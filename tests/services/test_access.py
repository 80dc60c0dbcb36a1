"""The access seam on SQLite and PostgreSQL: bindings in the database, require() allowing,
denying with an audit event, hiding unreadable objects as missing (RELIABILITY 31-33), the CSV
policy imported and exported, and ``explain`` naming the line that decided."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, migrate
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from helmforge.services import access, audit_trail
from helmforge.services.settings import load_settings
from helmforge.services.stores import open_store

ADMIN = Principal(name="root", role="admin", kind="user", id=1)
OLGA = Principal(name="olga", role="operator", kind="user", id=2)
SRE = Principal(name="sam", role="operator", kind="user", id=3, groups=("platform-sre",))
PROD = Target.of_context("shop", "acme", "prod", "eu1")
DEV = Target.of_context("shop", "acme", "dev", "a1")
MISSING = "instance shop/acme/prod/eu1 not found"


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The shared migrated database's sessions, with ``root`` bound as admin everywhere."""
    with sessions.begin() as session:
        access.bind_role(session, subject="user:root", role="admin", scope="*/*/*/*", actor=SYSTEM)
    return sessions


def _denials(sessions: sessionmaker[Session]) -> list[audit_trail.AuditEvent]:
    return audit_trail.list_events(sessions, actor=SYSTEM, action="access.deny")


def test_require_allows_within_the_binding_scope_and_denies_outside_with_an_audit_event(
    sessions: sessionmaker[Session],
) -> None:
    access.add_binding(
        sessions, subject="user:olga", role="operator", scope="*/*/dev/*", actor=ADMIN
    )
    assert access.require(sessions, OLGA, "values.update", DEV)
    with pytest.raises(
        PermissionDeniedError, match=r"olga may not values.update on shop/acme/prod/eu1"
    ):
        access.require(sessions, OLGA, "values.update", PROD)
    [event] = _denials(sessions)
    assert (event.actor, event.target) == ("olga", "shop/acme/prod/eu1")
    assert event.after["permission"] == "values.update"


def test_an_object_the_caller_cannot_read_is_answered_as_missing(
    sessions: sessionmaker[Session],
) -> None:
    access.add_binding(
        sessions, subject="user:olga", role="operator", scope="*/*/dev/*", actor=ADMIN
    )
    with pytest.raises(NotFoundError, match=r"^instance shop/acme/prod/eu1 not found$"):
        access.require(
            sessions, OLGA, "values.update", PROD, hide_as="instance shop/acme/prod/eu1 not found"
        )
    # Readable but not writable: 403, not 404.
    access.add_binding(sessions, subject="user:olga", role="auditor", scope="*/*/*/*", actor=ADMIN)
    with pytest.raises(PermissionDeniedError, match=r"values.update"):
        access.require(
            sessions, OLGA, "values.update", PROD, hide_as="instance shop/acme/prod/eu1 not found"
        )


def test_group_bindings_reach_members_and_never_a_user_of_that_name(
    sessions: sessionmaker[Session],
) -> None:
    access.add_binding(
        sessions, subject="group:platform-sre", role="operator", scope="*/*/*/*", actor=ADMIN
    )
    assert access.require(sessions, SRE, "values.update", PROD)
    impostor = Principal(name="platform-sre", role="operator", kind="user", id=9)
    with pytest.raises(PermissionDeniedError, match=r"no binding grants values.update"):
        access.require(sessions, impostor, "values.update", PROD)


def test_only_binding_managers_manage_bindings(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(PermissionDeniedError, match=r"binding.manage"):
        access.add_binding(sessions, subject="user:olga", role="admin", scope="*/*/*/*", actor=OLGA)
    assert [b.subject for b in access.list_bindings(sessions, actor=ADMIN)] == ["user:root"]


def test_duplicate_and_invalid_bindings_are_refused(sessions: sessionmaker[Session]) -> None:
    access.add_binding(
        sessions, subject="user:olga", role="operator", scope="*/*/dev/*", actor=ADMIN
    )
    with pytest.raises(ConflictError, match=r"already holds operator"):
        access.add_binding(
            sessions, subject="user:olga", role="operator", scope="*/*/dev/*", actor=ADMIN
        )
    with pytest.raises(InputError, match=r"cannot reach environment 'prod'"):
        access.add_binding(
            sessions, subject="user:dave", role="developer", scope="*/*/prod/*", actor=ADMIN
        )
    with pytest.raises(InputError, match=r"role 'wizard' is unknown"):
        access.add_binding(
            sessions, subject="user:dave", role="wizard", scope="*/*/*/*", actor=ADMIN
        )
    with pytest.raises(InputError, match=r"neither \* nor a lowercase"):
        access.add_binding(
            sessions, subject="user:dave", role="operator", scope="*/*/prod*/*", actor=ADMIN
        )


def test_developers_bound_everywhere_act_only_in_the_configured_development_environments(
    sessions: sessionmaker[Session],
) -> None:
    access.add_binding(
        sessions, subject="user:dave", role="developer", scope="*/*/*/*", actor=ADMIN
    )
    dave = Principal(name="dave", role="developer", kind="user", id=4)
    sandbox = Target.of_context("shop", "acme", "sandbox", "a1")
    with pytest.raises(
        PermissionDeniedError, match=r"^dave may not values\.update on shop/acme/sandbox/a1: "
    ):
        access.require(sessions, dave, "values.update", sandbox)
    assert access.require(
        sessions, dave, "values.update", sandbox, development_environments=frozenset({"sandbox"})
    )
    with pytest.raises(
        PermissionDeniedError, match=r"^dave may not values\.update on shop/acme/prod/eu1: "
    ):
        access.require(sessions, dave, "values.update", PROD)


def test_policy_import_replaces_everything_and_export_gives_it_back(
    sessions: sessionmaker[Session],
) -> None:
    text = (
        "p, role:acme-ops, values, update, acme/*/prod/*, allow\n"
        "g, user:root, role:admin\n"
        "g, user:olga, role:acme-ops\n"
    )
    access.import_policy(sessions, text, actor=ADMIN)
    assert access.require(
        sessions, OLGA, "values.update", Target.of_context("acme", "x", "prod", "a")
    )
    with pytest.raises(
        PermissionDeniedError, match=r"^olga may not values\.update on shop/acme/prod/eu1: "
    ):
        access.require(sessions, OLGA, "values.update", PROD)
    exported = access.export_policy(sessions, actor=ADMIN)
    assert exported == (
        "p, role:acme-ops, values, update, acme/*/prod/*, allow\n"
        "g, user:root, role:admin, */*/*/*\n"
        "g, user:olga, role:acme-ops, */*/*/*\n"
    )
    [event] = audit_trail.list_events(sessions, actor=SYSTEM, action="policy.import")
    assert event.actor == "root"


def test_a_bad_policy_changes_nothing(sessions: sessionmaker[Session]) -> None:
    before = access.export_policy(sessions, actor=ADMIN)
    with pytest.raises(InputError, match=r"policy.csv:2: .*expected user:NAME"):
        access.import_policy(
            sessions, "g, user:root, role:admin\ng, olga, role:operator\n", actor=ADMIN
        )
    with pytest.raises(InputError, match=r"binds no admin"):
        access.import_policy(sessions, "g, user:olga, role:operator\n", actor=ADMIN)
    assert access.export_policy(sessions, actor=ADMIN) == before


def test_explain_names_the_line_that_decided(sessions: sessionmaker[Session]) -> None:
    access.import_policy(
        sessions,
        "p, role:operator, instance, sync, */*/prod/*, deny\n"
        "g, user:root, role:admin\n"
        "g, user:olga, role:operator\n",
        actor=ADMIN,
    )
    allowed = access.explain(
        sessions, subject="olga", permission="instance.sync", scope="a/b/dev/c"
    )
    assert allowed.allowed
    assert "built-in role operator holds instance.sync" in allowed.reason
    denied = access.explain(
        sessions, subject="olga", permission="instance.sync", scope="a/b/prod/c"
    )
    assert not denied.allowed
    assert denied.rule == "p, role:operator, instance, sync, */*/prod/*, deny"
    with pytest.raises(InputError, match=r"name one instance"):
        access.explain(sessions, subject="olga", permission="instance.sync", scope="*/*/prod/*")


def test_existing_users_keep_their_role_as_a_binding_after_the_migration(
    database_url: str,
) -> None:
    engine = create_database_engine(database_url)
    try:
        migrate(engine, target="server@head")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (name, role, password_hash, created_at, disabled, "
                    "must_change_password) VALUES ('carl', 'creator', 'x', CURRENT_TIMESTAMP, "
                    "false, false)"
                )
            )
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT subject, role, scope FROM access_bindings")
            ).all()
        assert [tuple(row) for row in rows] == [("user:carl", "template-creator", "*/*/*/*")]
    finally:
        engine.dispose()


def test_development_environments_and_approvals_come_from_settings(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        {
            "HELMFORGE_DATA_DIR": str(tmp_path),
            "HELMFORGE_DATABASE_URL": database_url,
            "HELMFORGE_DEVELOPMENT_ENVIRONMENTS": "dev, sandbox",
            "HELMFORGE_APPROVALS": "prod=2,uat=1",
        }
    )
    store = open_store(settings)
    try:
        configured = access.configuration(store.sessions)
        assert configured.development_environments == frozenset({"dev", "sandbox"})
        assert configured.approvals.required_for("prod") == 2
        with store.sessions.begin() as session:
            access.bind_role(
                session, subject="user:dave", role="developer", scope="*/*/*/*", actor=SYSTEM
            )
        dave = Principal(name="dave", role="developer", kind="user", id=4)
        sandbox = Target.of_context("shop", "acme", "sandbox", "a1")
        assert access.require(store.sessions, dave, "values.update", sandbox)
        with pytest.raises(
            PermissionDeniedError, match=r"^dave may not values\.update on shop/acme/prod/eu1: "
        ):
            access.require(store.sessions, dave, "values.update", PROD)
    finally:
        store.engine.dispose()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HELMFORGE_DEVELOPMENT_ENVIRONMENTS", "Dev,", "HELMFORGE_DEVELOPMENT_ENVIRONMENTS='Dev,'"),
        ("HELMFORGE_APPROVALS", "prod", "'prod' is not ENVIRONMENT=APPROVERS"),
    ],
)
def test_bad_access_settings_are_refused_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        load_settings({variable: value})


def test_the_last_admin_binding_cannot_be_removed(sessions: sessionmaker[Session]) -> None:
    [root] = access.list_bindings(sessions, actor=ADMIN, subject="user:root")
    with pytest.raises(ConflictError, match=r"is the last admin binding"):
        access.remove_binding(sessions, root.id, actor=ADMIN)
    second = access.add_binding(
        sessions, subject="user:second", role="admin", scope="*/*/*/*", actor=ADMIN
    )
    access.remove_binding(sessions, root.id, actor=ADMIN)
    assert [b.id for b in access.list_bindings(sessions, actor=SYSTEM)] == [second.id]


def test_removing_the_only_signed_in_admins_binding_is_refused_while_others_name_nobody(
    sessions: sessionmaker[Session],
) -> None:
    from helmforge.services import accounts

    accounts.create_user(
        sessions, "alice", role="operator", password="a-long-password-1", actor=SYSTEM
    )
    [root] = access.list_bindings(sessions, actor=ADMIN, subject="user:root")
    alice = access.add_binding(
        sessions, subject="user:alice", role="admin", scope="*/*/*/*", actor=ADMIN
    )
    access.add_binding(sessions, subject="user:ghost", role="admin", scope="*/*/*/*", actor=ADMIN)
    access.remove_binding(sessions, root.id, actor=ADMIN)  # alice can still sign in
    with pytest.raises(ConflictError, match=r"user:alice as admin.*others \(user:ghost\)"):
        access.remove_binding(sessions, alice.id, actor=SYSTEM)
    assert alice.id in [b.id for b in access.list_bindings(sessions, actor=SYSTEM)]
