"""A group of edits as one commit each and one push (``GitRepository.commit_group``), against
``git http-backend`` on loopback: the answers of an edit that refuses, of one whose answer
depended on an earlier edit of the group, and of a push the remote declines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.adapters.git import (
    CommitAuthor,
    CommitRequest,
    GitCredentials,
    GitRemote,
    GitRepository,
    PushResult,
    Snapshot,
)
from helmforge.core.errors import ConflictError, ExternalServiceError
from tests.support.git_servers import HttpGitServer, bare_repository, git, install_hook

PASSWORD = "group-test-password"
A, B = "apps/a/values.yaml", "apps/b/values.yaml"
ALICE = CommitAuthor("Alice", "alice@example.com")
BOB = CommitAuthor("Bob", "bob@example.com")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpGitServer]:
    server = HttpGitServer(tmp_path / "remotes", "helmforge", PASSWORD)
    server.root.mkdir()
    with server.running():
        yield server


@pytest.fixture
def remote_repo(http_server: HttpGitServer) -> Path:
    return bare_repository(http_server.root, "gitops", {A: "replicas: 1\n", B: "replicas: 1\n"})


def _repository(server: HttpGitServer, remote: Path, cache: Path) -> GitRepository:
    credentials = GitCredentials(username="helmforge", password=PASSWORD)
    return GitRepository(GitRemote(server.url(remote), "main", credentials), cache)


def _write(path: str, text: str, author: CommitAuthor = ALICE) -> CommitRequest:
    return CommitRequest(lambda head: {path: text.encode()}, author, f"{path}: {text.strip()}")


def _unless_changed(path: str, seen: bytes, text: str) -> CommitRequest:
    """Write ``path`` only when it still holds ``seen`` (an If-Match of the file)."""

    def changes(head: Snapshot) -> dict[str, bytes | None]:
        if head(path) != seen:
            raise ConflictError(f"{path} changed")
        return {path: text.encode()}

    return CommitRequest(changes, BOB, f"{path}: {text.strip()} if unchanged")


def _log(remote: Path) -> list[str]:
    return git("-C", str(remote), "log", "--format=%an|%s", "main").splitlines()


def test_each_edit_is_its_own_commit_in_order_and_one_push_carries_them(
    http_server: HttpGitServer, remote_repo: Path, tmp_path: Path
) -> None:
    repository = _repository(http_server, remote_repo, tmp_path / "cache")
    outcome = repository.commit_group([
        _write(A, "replicas: 2\n"),
        _unless_changed(A, b"replicas: 1\n", "replicas: 3\n"),  # the first changed A
        _unless_changed(B, b"replicas: 1\n", "replicas: 4\n"),
        _write(B, "replicas: 4\n"),  # already so: no commit
    ])  # fmt: skip
    first, stale, third, unchanged = outcome.answers
    assert isinstance(first, PushResult)
    assert first.created
    assert isinstance(stale, ConflictError)
    assert isinstance(third, PushResult)
    assert third.parent == first.commit
    assert isinstance(unchanged, PushResult)
    assert not unchanged.created
    assert unchanged.commit == third.commit
    assert outcome.fetched
    assert _log(remote_repo)[:2] == [
        f"Bob|{B}: replicas: 4 if unchanged",
        f"Alice|{A}: replicas: 2",
    ]
    assert len(http_server.received) == 1  # one push for the group
    assert repository.head() == third.commit


def test_a_declined_push_fails_the_commits_and_the_answers_that_needed_them(
    http_server: HttpGitServer, remote_repo: Path, tmp_path: Path
) -> None:
    install_hook(remote_repo, "pre-receive", "echo 'frozen' >&2\nexit 1\n")
    before = git("-C", str(remote_repo), "rev-parse", "main").strip()
    repository = _repository(http_server, remote_repo, tmp_path / "cache")
    outcome = repository.commit_group([
        _write(A, "replicas: 2\n"),
        _unless_changed(A, b"replicas: 1\n", "replicas: 3\n"),  # refused only because of it
        _unless_changed(B, b"replicas: 9\n", "replicas: 4\n"),  # refused on the remote's own
    ])  # fmt: skip
    first, depends, own = outcome.answers
    assert isinstance(first, ExternalServiceError)
    assert "frozen" in first.message
    assert depends is first  # its refusal held only if the first edit landed
    assert isinstance(own, ConflictError)
    assert own.message == f"{B} changed"
    assert git("-C", str(remote_repo), "rev-parse", "main").strip() == before
    assert repository.head() == before
