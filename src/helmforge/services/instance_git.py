"""What every instance operation shares: reading the instance under the caller's rights, the
rule that changes in an approval environment go through change requests, acting on the
caller's behalf for the chart build and publish an instance change implies, commit messages,
and turning the Git remote's refusals into errors about the remote (never about the caller).
"""

from __future__ import annotations

__all__ = [
    "READ_WAIT",
    "base_paths",
    "commit_queued",
    "commit_text",
    "delegate",
    "load_instance",
    "load_with_repository",
    "lock_wait",
    "outside_errors",
    "parse_instance_id",
    "refresh_cache",
    "require_direct",
]

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitRequest, PushResult, commit_message
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    Location,
    PermissionDeniedError,
)
from helmforge.core.instances.commit_messages import check_commit_body
from helmforge.core.instances.layout import InstanceId
from helmforge.services import access, gitops_repositories, instance_records
from helmforge.services.gitops_repositories import GitWorkspace, OpenRepository
from helmforge.services.instance_records import InstanceView

_log = logging.getLogger(__name__)
#: How long a read waits for a repository's writer before it answers from the cache.
READ_WAIT = 5.0


def parse_instance_id(text: str | InstanceId, *, source: str = "instance") -> InstanceId:
    """``p/c/e/i`` (or an ``InstanceId``) as an ``InstanceId``; ``InputError`` naming why not."""
    return text if isinstance(text, InstanceId) else InstanceId.parse(text, source=source)


def base_paths(sessions: sessionmaker[Session]) -> Callable[[str], str]:
    """The base folder of a repository by name (looked up once per name)."""
    known: dict[str, str] = {}

    def path_of(name: str) -> str:
        if name not in known:
            try:
                known[name] = gitops_repositories.check_repository(sessions, name).path
            except Exception:
                known[name] = ""
        return known[name]

    return path_of


def load_instance(
    sessions: sessionmaker[Session], instance: InstanceId, *, actor: Principal, permission: str
) -> InstanceView:
    """The ready instance once ``actor`` holds ``permission`` on it (else 403, or 404 when
    they may not even read it, as for a missing one)."""
    return instance_records.load(
        sessions, instance, actor=actor, permission=permission, base_path=base_paths(sessions)
    )


def load_with_repository(
    sessions: sessionmaker[Session],
    instance: InstanceId,
    *,
    actor: Principal,
    permission: str,
    workspace: GitWorkspace,
) -> tuple[InstanceView, Callable[[], OpenRepository]]:
    """``load_instance``, and the instance's repository opened by the same read of its row
    (``gitops_repositories.open_repository``; a values edit needs both, and the row was read
    twice). The second item returns it, or raises what opening it raised, at the point the
    caller asks: errors keep the order they had when the repository was opened later."""
    opened: dict[str, OpenRepository | Exception] = {}

    def path_of(name: str) -> str:
        if name not in opened:
            try:
                opened[name] = gitops_repositories.open_repository(
                    sessions, name, workspace=workspace
                )
            except Exception as error:  # raised when the caller asks for the repository
                opened[name] = error
        found = opened[name]
        return "" if isinstance(found, Exception) else found.path

    view = instance_records.load(
        sessions, instance, actor=actor, permission=permission, base_path=path_of
    )

    def repository() -> OpenRepository:
        found = opened[view.repository]
        if isinstance(found, Exception):
            raise found
        return found

    return view, repository


def require_direct(
    sessions: sessionmaker[Session], environment: str, approved_by: tuple[str, ...], what: str
) -> None:
    """``PermissionDeniedError`` when ``environment`` needs approval and none was given: the
    change must go through a change request (the ``..._or_propose`` functions do that)."""
    if not approved_by and access.configuration(sessions).approvals.required_for(environment):
        raise PermissionDeniedError(
            f"{what} in {environment} needs approval by another person: propose a change "
            "request (the API, the UI and the CLI do when you make the change there)"
        )


def delegate(actor: Principal) -> Principal:
    """``actor`` for the chart build and publish an instance change implies: the instance
    permission (create, upgrade) was checked and covers them, so they run unchecked, and
    their records still name ``actor``."""
    return Principal(
        name=actor.name, role=actor.role, kind="system", id=actor.id, groups=actor.groups
    )


def lock_wait(workspace: GitWorkspace) -> float:
    """How long a change waits for the repository's writer before it: a few pushes' worth."""
    return max(60.0, 4 * workspace.deadline)


def commit_text(
    workspace: GitWorkspace, subject: str, body: str, approved_by: tuple[str, ...]
) -> str:
    """The commit message: ``subject`` (names the instance and what changed), the caller's
    message as the body, one ``Approved-by: Name <email>`` trailer per approver."""
    if len(subject) > 200:
        subject = subject[:199] + "…"
    check_commit_body(body)
    return commit_message(
        subject,
        body.strip()[:4000],
        approved_by=[workspace.signature(name) for name in approved_by],
    )


def commit_queued(
    sessions: sessionmaker[Session],
    repository: OpenRepository,
    request: CommitRequest,
    *,
    workspace: GitWorkspace,
    files: Sequence[str],
) -> tuple[PushResult, str | None]:
    """Commit ``request`` in the repository's next group commit (the remote's refusals as the
    remote's, ``outside_errors``): the push result and the instance's revision after it, the
    new commit or, when nothing changed, the last commit that changed ``files``."""
    with outside_errors(repository.name):
        pushed = gitops_repositories.commit(
            sessions, repository, request, wait=lock_wait(workspace)
        )
    if pushed.created:
        return pushed, pushed.commit
    return pushed, repository.reader().last_change(files, at=pushed.commit)


@contextlib.contextmanager
def outside_errors(repository: str) -> Iterator[None]:
    """The remote refusing *our* credentials is the remote's answer, not the caller's login
    (a 401 would tell a browser to sign in again): it becomes ``ExternalServiceError``."""
    try:
        yield
    except (AuthenticationError, PermissionDeniedError) as error:
        raise ExternalServiceError(
            f"GitOps repository {repository!r}: {error.message}",
            location=error.location or Location(path="repository"),
        ) from error


def refresh_cache(
    sessions: sessionmaker[Session], repository: OpenRepository, workspace: GitWorkspace
) -> str | None:
    """Fetch the repository into its cache for a read; ``None`` when that worked, else why
    not (the remote failed, or a write held the repository past ``READ_WAIT``): the read then
    answers from the cache. Raises the remote's error when the cache holds nothing yet.
    Reads queued together share one fetch (``gitops_repositories.refresh``)."""
    try:
        with outside_errors(repository.name):
            gitops_repositories.refresh(sessions, repository, wait=READ_WAIT)
    except ExternalServiceError as error:
        if repository.reader().head() is None:
            raise
        _log.warning("repository %s: answering from the cache: %s", repository.name, error)
        return error.message
    return None
