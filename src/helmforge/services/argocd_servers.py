"""Argo CD servers (DESIGN §6): the Argo CD API servers instances are synced by.

A server is stored by name with its URL, whether TLS verification is off (``insecure``), the
Argo CD project its Applications belong to (default ``default``) and a bearer token. The token
is encrypted with the server's secret key (``secret_key_for``, the key of registry passwords
and repository credentials) before it reaches the database; no view, error, log line or audit
event holds it (views say ``has_token``).

``ArgoCdOptions`` is what syncing needs beyond the database: the deadline of a whole sync,
which environments Argo CD syncs by itself (their Applications carry
``syncPolicy.automated``), and the clock and wait the sync polls with (tests inject both).
``open_server`` hands the sync service an ``ArgoCdServer`` with the token decrypted.
"""

from __future__ import annotations

__all__ = [
    "ArgoCdOptions",
    "ServerView",
    "add_server",
    "check_server",
    "delete_server",
    "get_server",
    "list_servers",
    "open_server",
]

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.argocd import ArgoCdServer
from helmforge.adapters.secrets import decrypt_secret, encrypt_secret
from helmforge.adapters.storage.argocd_tables import ArgoCdServerRow
from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    Location,
    NotFoundError,
)
from helmforge.core.secrets import Secret
from helmforge.services import access, audit

MAX_TOKEN = 8 << 10
DEFAULT_DEADLINE = 120.0
DEFAULT_AUTO_SYNC = frozenset({"dev"})
# One request to Argo CD never takes longer than this, whatever the whole sync may take.
_REQUEST_DEADLINE = 30.0


@dataclass(frozen=True, slots=True)
class ArgoCdOptions:
    """How instances are synced: ``deadline`` bounds a whole sync (busy waits, retries and
    waiting for the rollout), ``read_deadline`` one status read of an instance's page;
    ``auto_sync_environments`` are synced by Argo CD itself (helmforge refreshes and waits);
    ``clock`` and ``wait`` are how a sync tells time and pauses between polls every
    ``poll_interval`` seconds; with ``generated_applications`` an ApplicationSet creates the
    Applications, so a sync waits for the instance's to appear."""

    deadline: float = DEFAULT_DEADLINE
    auto_sync_environments: frozenset[str] = DEFAULT_AUTO_SYNC
    read_deadline: float = 5.0
    poll_interval: float = 2.0
    generated_applications: bool = False
    clock: Callable[[], float] = time.monotonic
    wait: Callable[[float], None] = time.sleep

    def request_deadline(self) -> float:
        """The deadline of one request: within the sync's, at most 30 s."""
        return min(self.deadline, _REQUEST_DEADLINE)


@dataclass(frozen=True, slots=True)
class ServerView:
    """A configured Argo CD server as anyone may see it: no token, only that one is set."""

    name: str
    url: str
    insecure: bool
    project: str
    has_token: bool
    created_by: str
    created_at: datetime


def _view(row: ArgoCdServerRow) -> ServerView:
    return ServerView(
        name=row.name,
        url=row.url,
        insecure=row.insecure,
        project=row.project,
        has_token=bool(row.token_encrypted),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _check_token(token: Secret) -> None:
    text = token.reveal()
    if not text or len(text) > MAX_TOKEN or any(c.isspace() or not c.isprintable() for c in text):
        raise InputError(
            "token must be an Argo CD API token (printable characters without spaces, at most "
            "8 KiB): create one with `argocd account generate-token`",
            location=Location(path="token"),
        )


def add_server(
    sessions: sessionmaker[Session],
    *,
    name: str,
    url: str,
    token: Secret,
    key: bytes,
    actor: Principal,
    insecure: bool = False,
    project: str | None = None,
) -> ServerView:
    """Store an Argo CD server (``argocd.manage``: admins). Raises ``InputError`` (bad name,
    URL, token or project), ``ConflictError`` (the name is taken), ``PermissionDeniedError``.
    Nothing is asked of the server: it may not be reachable from here yet."""
    access.require(sessions, actor, "argocd.manage")
    if not is_dns_label(name):
        raise InputError(
            f"Argo CD server name {name!r} is invalid: 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
            location=Location(path="name"),
        )
    if len(url) > 1024:
        raise InputError("url must be at most 1024 characters", location=Location(path="url"))
    try:
        ArgoCdServer(url=url, token=token.reveal(), insecure=insecure)
    except InputError:
        shown = "(hidden: it holds user info)" if "@" in url else repr(url[:200])
        raise InputError(
            f"url {shown} is not valid: expected https://host[:port][/path] (http:// "
            "for a plain-text server) without user:password@",
            location=Location(path="url"),
        ) from None
    _check_token(token)
    project = project or "default"
    if not is_dns_label(project):
        raise InputError(
            f"project {project!r} is not an Argo CD project name (a DNS-1123 label, such as "
            "default)",
            location=Location(path="project"),
        )
    row = ArgoCdServerRow(
        name=name,
        url=url.rstrip("/"),
        token_encrypted=encrypt_secret(token, key=key).decode("ascii"),
        insecure=insecure,
        project=project,
        created_at=datetime.now(UTC),
        created_by=actor.name,
    )
    try:
        with sessions.begin() as session:
            session.add(row)
            session.flush()
            view = _view(row)
            audit.record(
                session,
                actor,
                "argocd.create",
                f"argocd:{name}",
                after={
                    "name": name,
                    "url": row.url,
                    "insecure": insecure,
                    "project": project,
                    "has_token": True,
                },
            )
    except IntegrityError:
        raise ConflictError(
            f"an Argo CD server named {name!r} already exists; delete it first or pick another "
            "name",
            location=Location(path="name"),
        ) from None
    return view


def _reader_check(sessions: sessionmaker[Session], actor: Principal) -> None:
    """Whoever manages Argo CD servers, or may create, read or sync instances somewhere, may
    see the servers' names and settings (never their tokens)."""
    held = access.permissions_of(sessions, actor)
    if actor.kind in ("system", "local") or {
        "instance.create",
        "instance.read",
        "instance.sync",
    } & set(held):
        return
    access.require(sessions, actor, "argocd.manage")


def _row(session: Session, name: str) -> ArgoCdServerRow:
    row = (
        session.scalars(sa.select(ArgoCdServerRow).where(ArgoCdServerRow.name == name)).first()
        if len(name) <= 63
        else None
    )
    if row is None:
        raise NotFoundError(
            f"Argo CD server {name!r} is not configured (add it with POST "
            "/api/v1/argocd/servers or `helmforge argocd add-server`)",
            location=Location(path="argocd"),
        )
    return row


def list_servers(sessions: sessionmaker[Session], *, actor: Principal) -> list[ServerView]:
    """Every configured Argo CD server by name (no tokens)."""
    _reader_check(sessions, actor)
    with sessions() as session:
        rows = session.scalars(sa.select(ArgoCdServerRow).order_by(ArgoCdServerRow.name))
        return [_view(row) for row in rows]


def get_server(sessions: sessionmaker[Session], name: str, *, actor: Principal) -> ServerView:
    """One server; ``NotFoundError`` when it is not configured."""
    _reader_check(sessions, actor)
    with sessions() as session:
        return _view(_row(session, name))


def check_server(sessions: sessionmaker[Session], name: str) -> ServerView:
    """The server named ``name`` (no access check: the caller checked the instance), else
    ``NotFoundError``."""
    with sessions() as session:
        return _view(_row(session, name))


def delete_server(sessions: sessionmaker[Session], name: str, *, actor: Principal) -> None:
    """Forget a server (``argocd.manage``); its Applications stay in Argo CD. Raises
    ``NotFoundError``, ``ConflictError`` while instances are bound to it."""
    access.require(sessions, actor, "argocd.manage")
    with sessions.begin() as session:
        row = _row(session, name)
        bound = session.scalar(
            sa.select(sa.func.count(InstanceRow.id)).where(InstanceRow.argocd == name)
        )
        if bound:
            raise ConflictError(
                f"Argo CD server {name!r} still syncs {bound} instance(s); they must be bound "
                "elsewhere or removed first",
                location=Location(path="argocd"),
            )
        before = {"name": row.name, "url": row.url, "project": row.project}
        session.delete(row)
        audit.record(session, actor, "argocd.delete", f"argocd:{name}", before=before)


def open_server(
    sessions: sessionmaker[Session], name: str, *, key: bytes, deadline: float
) -> tuple[ServerView, ArgoCdServer]:
    """The server ``name`` and its ``ArgoCdServer`` with the token decrypted (for the sync
    service, which has checked the caller's right on the instance); each request to it may
    take ``deadline`` seconds. Raises ``NotFoundError``, ``ExternalServiceError`` when the
    token cannot be decrypted."""
    with sessions() as session:
        row = _row(session, name)
        session.expunge(row)
    try:
        token = decrypt_secret(row.token_encrypted.encode("ascii"), key=key)
    except InputError:
        raise ExternalServiceError(
            f"the token of Argo CD server {name!r} cannot be decrypted with this server's "
            "secret key (was HELMFORGE_SECRET_KEY changed?): configure the server again",
            location=Location(path="argocd"),
        ) from None
    server = ArgoCdServer(
        url=row.url, token=token.reveal(), insecure=row.insecure, deadline_seconds=deadline
    )
    return _view(row), server
