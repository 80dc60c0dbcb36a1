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

``commit`` is the group commit on top of it: edits of one repository that arrive while a
writer of this process holds the lock and pushes wait in this process's queue of the
repository; the next writer takes the lock, commits every queued edit (one commit each, in
arrival order, each checking itself against the head the ones before it left) and pushes them
once (``GitRepository.commit_group``). Each caller gets its own edit's answer. A group builds on
the cache's head without fetching first (``trust_cache``): the push lands only if the remote
is exactly there, else the group is built again on a fetched head — so a group after our own
push (or another process's, through the shared cache) saves a fetch, and an outside writer
costs one refused push negotiation. The queue is per
process; the lock still serializes the processes, so two servers on one database each group
their own edits and take turns.
"""

from __future__ import annotations

__all__ = [
    "GitWorkspace",
    "OpenRepository",
    "RepositoryView",
    "add_repository",
    "check_repository",
    "commit",
    "delete_repository",
    "get_repository",
    "list_repositories",
    "open_repository",
    "queued",
    "refresh",
    "writing",
]

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import (
    CommitAuthor,
    CommitRequest,
    GitCredentials,
    GitRemote,
    GitRepository,
    PushResult,
)
from helmforge.adapters.secrets import decrypt_secret, encrypt_secret
from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.instances_tables import GitopsRepositoryRow, InstanceRow
from helmforge.adapters.storage.publish_locks import LockTimeoutError, publish_lock
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    Location,
    NotFoundError,
)
from helmforge.core.instances.layout import normalize_base_path
from helmforge.core.instances.ssh_keys import check_known_hosts, check_private_key
from helmforge.core.secrets import Secret
from helmforge.services import access, audit
from helmforge.services.argocd_servers import ArgoCdOptions
from helmforge.services.settings import DEFAULT_GIT_EMAIL_DOMAIN, Settings

_log = logging.getLogger(__name__)
MAX_SSH_KEY = 16 << 10
MAX_KNOWN_HOSTS = 64 << 10


@dataclass(frozen=True, slots=True)
class GitWorkspace:
    """What Git operations need beyond the database: the key of credentials at rest, the
    folder of the bare caches, the deadline of one fetch or push, how commit authors' e-mail
    addresses are formed, the deadline of registry requests (an upgrade publishes), of one
    render by Helm (a values preview), and how instances are synced by Argo CD (``argocd``:
    auto-sync environments, deadline, clock)."""

    key: bytes = field(repr=False)
    cache_root: Path
    deadline: float = 30.0
    email_domain: str = DEFAULT_GIT_EMAIL_DOMAIN
    registry_deadline: float = 30.0
    helm_deadline: float = 30.0
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
            helm_deadline=settings.helm_deadline,
            argocd=ArgoCdOptions(
                deadline=settings.argocd_deadline,
                poll_interval=settings.argocd_poll_interval,
                generated_applications=settings.argocd_applicationset,
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
        check_private_key(text)
    if ssh_known_hosts is not None and (
        len(ssh_known_hosts) > MAX_KNOWN_HOSTS or not ssh_known_hosts.strip()
    ):
        raise InputError(
            "ssh_known_hosts must hold known_hosts lines (HOST KEYTYPE KEY) under 64 KiB",
            location=Location(path="ssh_known_hosts"),
        )
    if ssh_known_hosts is not None:
        check_known_hosts(ssh_known_hosts)
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


def _lock_key(repository: OpenRepository) -> str:
    return f"git:{repository.url}#{repository.branch}"


@contextlib.contextmanager
def writing(
    sessions: sessionmaker[Session], repository: OpenRepository, *, wait: float
) -> Iterator[GitRepository]:
    """Hold the repository's one-writer lock (waiting at most ``wait`` seconds, else
    ``ExternalServiceError``) and yield its ``GitRepository`` for fetches and pushes (a fetch
    writes the cache too). The cache is created under the lock on first use."""
    with publish_lock(engine_of(sessions), _lock_key(repository), wait=wait, activity="Git write"):
        yield GitRepository(repository.remote, repository.cache_dir)


class _Job:
    """One caller's edit (or, with no ``request``, a read wanting a fetch) in a repository's
    queue, and its answer once its group ran (``None`` for a read that was fetched)."""

    __slots__ = ("answer", "done", "request")

    def __init__(self, request: CommitRequest | None) -> None:
        self.request = request
        self.done = threading.Event()
        self.answer: PushResult | BaseException | None = None

    def finish(self, answer: PushResult | BaseException | None) -> None:
        self.answer = answer
        self.done.set()


class _Queue:
    """The edits and reads of one repository waiting in this process: ``turn`` is held by
    the one thread that goes for the repository's lock and runs the group; ``mutex`` guards
    ``pending`` (in arrival order)."""

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.mutex = threading.Lock()
        self.pending: list[_Job] = []

    def take(self, *, reads_only: bool) -> list[_Job]:
        """The group: everything queued, or (for a reader's turn) only the reads, so that a
        read never waits on the pushes of others' edits."""
        with self.mutex:
            if reads_only:
                group = [job for job in self.pending if job.request is None]
                self.pending = [job for job in self.pending if job.request is not None]
            else:
                group, self.pending = self.pending, []
        return group

    def has_edits(self) -> bool:
        with self.mutex:
            return any(job.request is not None for job in self.pending)

    def withdraw(self, job: _Job) -> bool:
        """Take ``job`` out of the queue if no group has taken it yet."""
        with self.mutex:
            if job in self.pending:
                self.pending.remove(job)
                return True
        return False


_QUEUES: dict[tuple[str, str], _Queue] = {}
_QUEUES_MUTEX = threading.Lock()


def _queue_of(repository: OpenRepository) -> _Queue:
    # Keyed by the cache too: two applications in one process (tests) keep their own caches
    # and credentials, and take turns through the lock as two processes do.
    key = (str(repository.cache_dir), _lock_key(repository))
    with _QUEUES_MUTEX:
        return _QUEUES.setdefault(key, _Queue())


def queued(repository: OpenRepository, *, edits_only: bool = False) -> int:
    """How many edits and reads (``edits_only``: edits) of ``repository`` wait in this
    process for the next group."""
    queue = _queue_of(repository)
    with queue.mutex:
        return sum(1 for job in queue.pending if job.request is not None or not edits_only)


def commit(
    sessions: sessionmaker[Session],
    repository: OpenRepository,
    request: CommitRequest,
    *,
    wait: float,
) -> PushResult:
    """Commit and push ``request`` in the repository's next group (see the module's text):
    its own commit, in arrival order, pushed with the edits queued beside it.

    Waits at most ``wait`` seconds for its group to start (``LockTimeoutError`` otherwise,
    nothing committed); once a group has taken it, the answer is that group's (bounded by
    the remote's deadlines). Raises what ``request.changes`` raised (this edit alone), or
    the group's ``ConflictError``/``ExternalServiceError`` when its push failed (every edit
    of that push fails; nothing of it was saved).
    """
    job = _run(sessions, repository, _Job(request), wait=wait)
    if isinstance(job.answer, BaseException):
        raise job.answer
    assert job.answer is not None
    return job.answer


def refresh(sessions: sessionmaker[Session], repository: OpenRepository, *, wait: float) -> None:
    """Bring the repository's cache up to the remote as it is now: the next group's fetch,
    shared by every read queued for it (a group with edits answers its reads after its push).
    Raises ``LockTimeoutError`` when no fetch started within ``wait`` seconds (a write holds
    the repository), or the fetch's ``ExternalServiceError``; the cache is then as it was."""
    job = _run(sessions, repository, _Job(None), wait=wait)
    if isinstance(job.answer, BaseException):
        raise job.answer


def _run(
    sessions: sessionmaker[Session],
    repository: OpenRepository,
    job: _Job,
    *,
    wait: float,
) -> _Job:
    """Queue ``job`` and return it answered: by the group of the thread whose turn it is
    (this one, or another that took it)."""
    queue = _queue_of(repository)
    with queue.mutex:
        queue.pending.append(job)
    give_up = time.monotonic() + wait
    while not job.done.is_set():
        if not queue.turn.acquire(timeout=max(0.0, give_up - time.monotonic())):
            _timed_out(queue, repository, job, wait)
            job.done.wait()  # a group under way holds this edit: its answer is coming
            break
        deferred = False
        try:
            if job.done.is_set():
                break
            # A read never runs a group while edits wait: the group an edit runs answers it
            # after its push, and the read does not carry the others' pushes.
            deferred = job.request is None and queue.has_edits()
            if not deferred:
                _run_group(sessions, repository, queue, job, give_up - time.monotonic())
        finally:
            queue.turn.release()
        if deferred and not job.done.wait(max(0.0, give_up - time.monotonic())):
            _timed_out(queue, repository, job, wait)
    return job


def _timed_out(queue: _Queue, repository: OpenRepository, job: _Job, wait: float) -> None:
    """After ``wait`` seconds: ``LockTimeoutError`` for a job no group took (withdrawn) and
    for a read (it does not wait out a group's push); an edit a group took waits for it."""
    if job.done.is_set():  # answered just now
        return
    if job.request is None:
        queue.withdraw(job)
        raise LockTimeoutError(
            f"the fetch of repository {repository.name!r} waited over {wait:g} s: a write of "
            "it is under way"
        )
    if queue.withdraw(job):
        raise LockTimeoutError(
            f"an edit of repository {repository.name!r} waited over {wait:g} s for its "
            "turn; nothing was committed, try again later"
        )


def _run_group(
    sessions: sessionmaker[Session],
    repository: OpenRepository,
    queue: _Queue,
    job: _Job,
    wait: float,
) -> None:
    """Take the repository's lock, then what is queued by then, and run it as one group:
    one fetch, the edits' commits and one push. Every job taken is answered, whatever
    happens; when the lock is not had, the caller's own job is answered with why and the
    others stay queued for the next turn."""
    group: list[_Job] = []
    answers: list[PushResult | BaseException | None] | None = None
    try:
        with writing(sessions, repository, wait=max(0.0, wait)) as git:
            group = queue.take(reads_only=job.request is None)
            answers = _answers(git, group)
    except BaseException as error:  # it becomes the answer of the jobs it hit
        if not group:
            queue.withdraw(job)
            job.finish(error)
        elif answers is None:
            answers = [error] * len(group)
        else:  # the answers stand; releasing the lock failed after them
            _log.warning(
                "repository %s: releasing the write lock failed: %s", repository.name, error
            )
    finally:
        for member, answer in zip(group, answers or [], strict=False):
            member.finish(answer)


def _answers(git: GitRepository, group: list[_Job]) -> list[PushResult | BaseException | None]:
    requests = [member.request for member in group if member.request is not None]
    if requests:
        outcome = git.commit_group(requests, trust_cache=True)
        edits = iter(outcome.answers)
        fetch_error: BaseException | None = None
        if not outcome.fetched:
            fetch_error = next((a for a in outcome.answers if isinstance(a, Exception)), None)
    else:
        edits = iter(())
        fetch_error = None
        try:
            git.fetch()
        except HelmforgeError as error:
            fetch_error = error
    return [fetch_error if member.request is None else next(edits) for member in group]
