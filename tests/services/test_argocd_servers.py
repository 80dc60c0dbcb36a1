"""services.argocd_servers on SQLite and PostgreSQL: the token encrypted at rest and never in a
view, an error or the audit log; who may manage and see servers; the ``argocd`` migration
branch; instances bound to a server keep it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.secrets import new_key
from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.secrets import Secret
from helmforge.services import accounts, argocd_servers

CANARY = "canary-argocd-token-5ca1ab1e-DO-NOT-LEAK"


def _user(sessions: sessionmaker[Session], name: str, role: str) -> Principal:
    accounts.create_user(sessions, name, role=role, password="a long enough password", actor=SYSTEM)
    return Principal(name=name, role=role, kind="user", id=1)


def _add(sessions: sessionmaker[Session], key: bytes, **fields: object) -> object:
    arguments: dict[str, object] = {
        "name": "cluster-eu",
        "url": "https://argocd.example.com/",
        "token": Secret(CANARY),
        "key": key,
        "actor": SYSTEM,
    }
    return argocd_servers.add_server(sessions, **(arguments | fields))  # type: ignore[arg-type]


def test_the_token_is_encrypted_at_rest_and_never_shown(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with engine.connect() as connection:
        heads = {
            r[0] for r in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        }
    assert "argocd_0001" in heads
    key = new_key()
    view = _add(sessions, key, insecure=True, project="shop")
    assert isinstance(view, argocd_servers.ServerView)
    assert (view.url, view.insecure, view.project, view.has_token) == (
        "https://argocd.example.com",
        True,
        "shop",
        True,
    )
    assert CANARY not in repr(view) + repr(argocd_servers.list_servers(sessions, actor=SYSTEM))
    with engine.connect() as connection:
        stored = repr(connection.execute(sa.text("SELECT * FROM argocd_servers")).all())
        audit = repr(connection.execute(sa.text("SELECT * FROM audit_events")).all())
    assert CANARY not in stored + audit
    assert "has_token" in audit
    shown, server = argocd_servers.open_server(sessions, "cluster-eu", key=key, deadline=7)
    assert (server.token, server.insecure, server.deadline_seconds) == (CANARY, True, 7)
    assert CANARY not in repr(server) + repr(shown)
    with pytest.raises(ExternalServiceError, match="cannot be decrypted") as caught:
        argocd_servers.open_server(sessions, "cluster-eu", key=new_key(), deadline=7)
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"name": "Cluster_EU"}, "name 'Cluster_EU' is invalid"),
        ({"url": "ftp://argocd.example.com"}, "url 'ftp://argocd.example.com' is not valid"),
        ({"url": f"https://admin:{CANARY}@argocd.example.com"}, "without user:password@"),
        ({"token": Secret("")}, "token must be an Argo CD API token"),
        ({"token": Secret(CANARY + " tail")}, "token must be an Argo CD API token"),
        ({"project": "Shop!"}, "project 'Shop!' is not an Argo CD project name"),
    ],
)
def test_bad_servers_are_refused_naming_the_field(
    sessions: sessionmaker[Session], fields: dict[str, object], match: str
) -> None:
    with pytest.raises(InputError, match=match) as caught:
        _add(sessions, new_key(), **fields)
    assert CANARY not in str(caught.value)
    assert argocd_servers.list_servers(sessions, actor=SYSTEM) == []


def test_names_are_unique_only_admins_manage_and_instance_users_see_servers(
    sessions: sessionmaker[Session],
) -> None:
    key = new_key()
    _add(sessions, key)
    with pytest.raises(ConflictError, match="'cluster-eu' already exists"):
        _add(sessions, key, url="https://other.example.com")
    operator = _user(sessions, "olga", "operator")
    creator = _user(sessions, "tina", "template-creator")
    with pytest.raises(PermissionDeniedError):
        _add(sessions, key, name="mine", actor=operator)
    with pytest.raises(PermissionDeniedError):
        argocd_servers.delete_server(sessions, "cluster-eu", actor=operator)
    assert [s.name for s in argocd_servers.list_servers(sessions, actor=operator)] == ["cluster-eu"]
    assert argocd_servers.get_server(sessions, "cluster-eu", actor=operator).project == "default"
    with pytest.raises(PermissionDeniedError):
        argocd_servers.list_servers(sessions, actor=creator)
    with pytest.raises(NotFoundError, match="Argo CD server 'ghost' is not configured"):
        argocd_servers.get_server(sessions, "ghost", actor=SYSTEM)
    argocd_servers.delete_server(sessions, "cluster-eu", actor=SYSTEM)
    assert argocd_servers.list_servers(sessions, actor=SYSTEM) == []
    with pytest.raises(NotFoundError):
        argocd_servers.delete_server(sessions, "cluster-eu", actor=SYSTEM)


def test_a_server_instances_are_bound_to_is_not_deleted(sessions: sessionmaker[Session]) -> None:
    _add(sessions, new_key())
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add(
            InstanceRow(
                product="shop", customer="acme", environment="dev", instance="eu-1",
                app_name="shop-acme-dev-eu-1", namespace="shop-acme-dev-eu-1", state="ready",
                template_name="web-service", template_version="1.2.0", app_version="1.0.0",
                registry_name="lab", repository="gitops", argocd="cluster-eu",
                chart_name="shop-acme-dev-eu-1", chart_version="1.0.0", created_at=now,
                created_by="admin", updated_at=now, updated_by="admin",
            )
        )  # fmt: skip
    with pytest.raises(ConflictError, match="still syncs 1 instance"):
        argocd_servers.delete_server(sessions, "cluster-eu", actor=SYSTEM)
    assert argocd_servers.check_server(sessions, "cluster-eu").name == "cluster-eu"
