"""GitOps repositories (DESIGN §6): where instances' values and Applications are committed.

A repository is stored by name with its URL, branch, base path and credentials: HTTPS username
and password (or token), or an SSH deploy key with the server's host key pinned in
``known_hosts``. Secrets are encrypted with the server's secret key (``secret_key_for``, the key
of registry passwords) before they reach the database; no view, error, log line or audit event
holds them (views say ``has_password`` / ``has_ssh_key``).

The instance service opens a repository through ``open_repository`` (a ``GitRepository`` with a
bare cache under the data directory) and writes only inside ``writing``: one writer per
repository at a time, across threads and server processes (a PostgreSQL advisory lock; on
SQLite a ``flock`` beside the database file), so commits of one repository are made one after
another on the newest head instead of racing each other's pushes.
"""

from __future__ import annotations

__all__ = [
    "GitWorkspace",
    "OpenRepository",
    "RepositoryView",
    "add_repository",
    "check_repository",
    "delete_repository",
    "get_repository",
    "list_repositories",
    "open_repository",
    "writing",
]

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitAuthor, GitCredentials, GitRemote, GitRepository
from helmforge.adapters.secrets import decrypt_secret, encrypt_secret
from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.instances_tables import GitopsRepositoryRow, InstanceRow
from helmforge.adapters.storage.publish_locks import publish_lock
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    Location,
    NotFoundError,
)
from helmforge.core.instances.layout import normalize_base_path
from helmforge.core.secrets import Secret
from helmforge.services import access, audit
from helmforge.services.argocd_servers import ArgoCdOptions
from helmforge.services.settings import DEFAULT_GIT_EMAIL_DOMAIN, Settings

MAX_SSH_KEY = 16 << 10
MAX_KNOWN_HOSTS = 64 << 10


@dataclass(frozen=True, slots=True)
class GitWorkspace:
    """What Git operations need beyond the database: the key of credentials at rest, the
    folder of the bare caches, the deadline of one fetch or push, how commit authors' e-mail
    addresses are formed, the deadline of registry requests (an upgrade publishes), and how
    instances are synced by Argo CD (``argocd``: auto-sync environments, deadline, clock)."""

    key: bytes = field(repr=False)
    cache_root: Path
    deadline: float = 30.0
    email_domain: str = DEFAULT_GIT_EMAIL_DOMAIN
    registry_deadline: float = 30.0
    argocd: ArgoCdOptions = field(default_factory=ArgoCdOptions)

    @classmethod
    def from_settings(cls, settings: Settings, key: bytes) -> GitWorkspace:
        """The workspace of a server: caches under ``data_dir/git``."""
        return cls(
            key=key,
            cache_root=settings.data_dir / "git",
            deadline=settings.git_deadline,
            email_domain=settings.git_email_domain,
            registry_deadline=settings.registry_deadline,
            argocd=ArgoCdOptions(
                deadline=settings.argocd_deadline,
                poll_interval=settings.argocd_poll_interval,
                auto_sync_environments=settings.auto_sync_environments,
            ),
        )

    def author(self, name: str) -> CommitAuthor:
        """A user as Git records them: ``NAME <NAME@DOMAIN>``, or the name itself as the
        address when it already is one (single sign-on names often are)."""
        email = name if "@" in name.strip("@") else f"{name}@{self.email_domain}"
        return CommitAuthor(name, email)

    def signature(self, name: str) -> str:
        """``Name <email>``, as an ``Approved-by:`` trailer names a person."""
        author = self.author(name)
        return f"{author.name} <{author.email}>"


@dataclass(frozen=True, slots=True)
class RepositoryView:
    """A configured repository as anyone may see it: no secret, only whether one is set.
    ``ssh_known_hosts`` is the pinned host keys (public)."""

    name: str
    url: str
    branch: str
    path: str
    username: str | None
    has_password: bool
    has_ssh_key: bool
    ssh_known_hosts: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OpenRepository:
    """A repository ready for the instance service: its settings, the remote with its
    credentials, and where its bare cache lives. Write (and fetch) only inside ``writing``;
    ``reader()`` reads what the cache holds."""

    name: str
    url: str
    branch: str
    path: str
    remote: GitRemote = field(repr=False)
    cache_dir: Path

    def reader(self) -> GitRepository:
        """The cache as last fetched, for reading files and history (no remote call)."""
        return GitRepository(self.remote, self.cache_dir)


def _view(row: GitopsRepositoryRow) -> RepositoryView:
    return RepositoryView(
        name=row.name,
        url=row.url,
        branch=row.branch,
        path=row.path,
        username=row.username,
        has_password=row.password_encrypted is not None,
        has_ssh_key=row.ssh_private_key_encrypted is not None,
        ssh_known_hosts=row.ssh_known_hosts,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _check_ssh(url: str, ssh_private_key: Secret | None, ssh_known_hosts: str | None) -> None:
    is_ssh = not url.startswith(("https://", "http://"))
    if ssh_private_key is not None:
        text = ssh_private_key.reveal()
        if len(text) > MAX_SSH_KEY or "-----BEGIN" not in text:
            raise InputError(
                "ssh_private_key must be a PEM/OpenSSH private key (-----BEGIN ...) under 16 KiB",
                location=Location(path="ssh_private_key"),
            )
    if ssh_known_hosts is not None and (
        len(ssh_known_hosts) > MAX_KNOWN_HOSTS or not ssh_known_hosts.strip()
    ):
        raise InputError(
            "ssh_known_hosts must hold known_hosts lines (HOST KEYTYPE KEY) under 64 KiB",
            location=Location(path="ssh_known_hosts"),
        )
    if is_ssh and (ssh_private_key is None or not ssh_known_hosts):
        raise InputError(
            "an SSH repository needs ssh_private_key (a deploy key) and ssh_known_hosts (the "
            "server's host key, pinned: helmforge never trusts a host key on first use)",
            location=Location(path="ssh_known_hosts" if ssh_private_key else "ssh_private_key"),
        )
    if not is_ssh and ssh_private_key is not None:
        raise InputError(
            "ssh_private_key is for ssh:// or user@host:path URLs; an HTTPS repository takes "
            "username and password (or a token as the password)",
            location=Location(path="ssh_private_key"),
        )


def add_repository(
    sessions: sessionmaker[Session],
    *,
    name: str,
    url: str,
    key: bytes,
    actor: Principal,
    branch: str = "main",
    path: str | None = None,
    username: str | None = None,
    password: Secret | None = None,
    ssh_private_key: Secret | None = None,
    ssh_known_hosts: str | None = None,
) -> RepositoryView:
    """Store a repository (``repository.manage``: admins). Raises ``InputError`` (bad name,
    URL, branch, path or credentials), ``ConflictError`` (the name is taken),
    ``PermissionDeniedError``. Nothing is fetched: the remote may not exist yet."""
    access.require(sessions, actor, "repository.manage")
    if not is_dns_label(name):
        raise InputError(
            f"repository name {name!r} is invalid: 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
            location=Location(path="name"),
        )
    password = password or None
    ssh_private_key = ssh_private_key or None
    ssh_known_hosts = ssh_known_hosts or None
    if username is not None and (len(username) > 255 or any(c in username for c in ":\n\r")):
        raise InputError(
            "username must be one line without ':' (at most 255 characters)",
            location=Location(path="username"),
        )
    GitRemote(url=url, branch=branch)  # checks the URL (no credentials in it) and the branch
    base = normalize_base_path(path)
    _check_ssh(url, ssh_private_key, ssh_known_hosts)
    row = GitopsRepositoryRow(
        name=name,
        url=url,
        branch=branch,
        path=base,
        username=username or None,
        password_encrypted=_seal(password, key),
        ssh_private_key_encrypted=_seal(ssh_private_key, key),
        ssh_known_hosts=ssh_known_hosts,
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
                "repository.create",
                f"repository:{name}",
                after={
                    "name": name,
                    "url": url,
                    "branch": branch,
                    "path": base,
                    "username": row.username,
                    "has_password": view.has_password,
                    "has_ssh_key": view.has_ssh_key,
                },
            )
    except IntegrityError:
        raise ConflictError(
            f"a repository named {name!r} already exists; delete it first or pick another name",
            location=Location(path="name"),
        ) from None
    return view


def _seal(secret: Secret | None, key: bytes) -> str | None:
    return None if secret is None else encrypt_secret(secret, key=key).decode("ascii")


def _reader_check(sessions: sessionmaker[Session], actor: Principal) -> None:
    """Whoever manages repositories, or may create or read instances somewhere, may see the
    repositories' names and settings (never their secrets)."""
    held = access.permissions_of(sessions, actor)
    if actor.kind in ("system", "local") or {"instance.create", "instance.read"} & set(held):
        return
    access.require(sessions, actor, "repository.manage")


def list_repositories(sessions: sessionmaker[Session], *, actor: Principal) -> list[RepositoryView]:
    """Every configured repository by name (no secrets)."""
    _reader_check(sessions, actor)
    with sessions() as session:
        rows = session.scalars(sa.select(GitopsRepositoryRow).order_by(GitopsRepositoryRow.name))
        return [_view(row) for row in rows]


def _row(session: Session, name: str) -> GitopsRepositoryRow:
    row = (
        session.scalars(
            sa.select(GitopsRepositoryRow).where(GitopsRepositoryRow.name == name)
        ).first()
        if len(name) <= 63
        else None
    )
    if row is None:
        raise NotFoundError(
            f"GitOps repository {name!r} is not configured", location=Location(path="repository")
        )
    return row


def get_repository(
    sessions: sessionmaker[Session], name: str, *, actor: Principal
) -> RepositoryView:
    """One repository; ``NotFoundError`` when it is not configured."""
    _reader_check(sessions, actor)
    with sessions() as session:
        return _view(_row(session, name))


def delete_repository(sessions: sessionmaker[Session], name: str, *, actor: Principal) -> None:
    """Forget a repository (``repository.manage``); its commits stay in Git. Raises
    ``NotFoundError``, ``ConflictError`` while instances are bound to it."""
    access.require(sessions, actor, "repository.manage")
    with sessions.begin() as session:
        row = _row(session, name)
        bound = session.scalar(
            sa.select(sa.func.count(InstanceRow.id)).where(InstanceRow.repository == name)
        )
        if bound:
            raise ConflictError(
                f"repository {name!r} still holds {bound} instance(s); they must be bound "
                "elsewhere or removed first",
                location=Location(path="repository"),
            )
        before = {"name": row.name, "url": row.url, "branch": row.branch, "path": row.path}
        session.delete(row)
        audit.record(session, actor, "repository.delete", f"repository:{name}", before=before)


def check_repository(sessions: sessionmaker[Session], name: str) -> RepositoryView:
    """The repository named ``name`` (no access check: the caller checked the instance),
    else ``NotFoundError``."""
    with sessions() as session:
        return _view(_row(session, name))


def _cache_dir(workspace: GitWorkspace, row: GitopsRepositoryRow) -> Path:
    # Keyed by where the branch is, so a repository re-added elsewhere gets a fresh cache.
    digest = hashlib.sha256(f"{row.url}\0{row.branch}".encode()).hexdigest()[:16]
    return workspace.cache_root / f"{row.name}-{digest}"


def open_repository(
    sessions: sessionmaker[Session], name: str, *, workspace: GitWorkspace
) -> OpenRepository:
    """The repository ``name`` with its credentials decrypted into a ``GitRepository`` (for
    the instance service, which has checked the caller's rights on the instance). Raises
    ``NotFoundError``, ``ExternalServiceError`` when the secrets cannot be decrypted."""
    with sessions() as session:
        row = _row(session, name)
        session.expunge(row)
    try:
        credentials = GitCredentials(
            username=row.username,
            password=_open(row.password_encrypted, workspace.key),
            ssh_private_key=_open(row.ssh_private_key_encrypted, workspace.key),
            ssh_known_hosts=row.ssh_known_hosts,
        )
    except InputError as error:
        raise ExternalServiceError(
            f"the credentials of repository {name!r} cannot be decrypted with this server's "
            "secret key (was HELMFORGE_SECRET_KEY changed?): configure the repository again"
        ) from error
    remote = GitRemote(
        url=row.url,
        branch=row.branch,
        credentials=credentials,
        deadline_seconds=workspace.deadline,
    )
    return OpenRepository(
        name=row.name,
        url=row.url,
        branch=row.branch,
        path=row.path,
        remote=remote,
        cache_dir=_cache_dir(workspace, row),
    )


def _open(sealed: str | None, key: bytes) -> str | None:
    return None if sealed is None else decrypt_secret(sealed.encode("ascii"), key=key).reveal()


@contextlib.contextmanager
def writing(
    sessions: sessionmaker[Session], repository: OpenRepository, *, wait: float
) -> Iterator[GitRepository]:
    """Hold the repository's one-writer lock (waiting at most ``wait`` seconds, else
    ``ExternalServiceError``) and yield its ``GitRepository`` for fetches and pushes (a fetch
    writes the cache too). The cache is created under the lock on first use."""
    key = f"git:{repository.url}#{repository.branch}"
    with publish_lock(engine_of(sessions), key, wait=wait, activity="Git write"):
        yield GitRepository(repository.remote, repository.cache_dir)
