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


def _recording(path: str, text: str, kinds: list[bool]) -> CommitRequest:
    """Write ``path``, noting for each call whether its head was known to be the remote's."""

    def changes(head: Snapshot) -> dict[str, bytes | None]:
        kinds.append(head.confirmed)
        return {path: text.encode()}

    return CommitRequest(changes, ALICE, f"{path}: {text.strip()}")


def _outside_push(remote: Path, folder: Path, path: str, text: str) -> str:
    git("clone", "-q", str(remote), str(folder))
    (folder / path).write_text(text)
    git("-C", str(folder), "commit", "-qam", f"outside: {path}")
    git("-C", str(folder), "push", "-q", "origin", "main")
    return git("-C", str(folder), "rev-parse", "HEAD").strip()


def test_a_trusted_cache_is_pushed_on_without_a_fetch_when_the_remote_is_there(
    http_server: HttpGitServer, remote_repo: Path, tmp_path: Path
) -> None:
    repository = _repository(http_server, remote_repo, tmp_path / "cache")
    seed = repository.fetch()
    kinds: list[bool] = []
    outcome = repository.commit_group([_recording(A, "replicas: 2\n", kinds)], trust_cache=True)
    (answer,) = outcome.answers
    assert isinstance(answer, PushResult)
    assert answer.parent == seed
    assert kinds == [False]  # asked once, on the cache's head: no fetch, no second call
    assert outcome.fetched  # the push landing on the head confirms the cache
    assert [(u.old, u.new) for u in http_server.received] == [(seed, answer.commit)]
    assert repository.head() == answer.commit


def test_an_outside_push_makes_a_trusted_group_fetch_and_ask_every_edit_again(
    http_server: HttpGitServer, remote_repo: Path, tmp_path: Path
) -> None:
    repository = _repository(http_server, remote_repo, tmp_path / "cache")
    repository.fetch()
    outside = _outside_push(remote_repo, tmp_path / "other", A, "replicas: 7\n")
    kinds: list[bool] = []
    outcome = repository.commit_group(
        [
            _unless_changed(A, b"replicas: 1\n", "replicas: 3\n"),  # fine on the stale cache
            _recording(B, "replicas: 4\n", kinds),
        ],
        trust_cache=True,
    )
    stale, written = outcome.answers
    assert isinstance(stale, ConflictError)  # checked again on the fetched head
    assert isinstance(written, PushResult)
    assert written.parent == outside
    assert kinds == [False, True]
    # The attempt on the cache's head was refused before anything was sent; the one push
    # fast-forwards the outside writer's commit, which is kept.
    assert [(u.old, u.new) for u in http_server.received] == [(outside, written.commit)]
    subjects = git("-C", str(remote_repo), "log", "--format=%s", "main").splitlines()
    assert subjects[:2] == [f"{B}: replicas: 4", f"outside: {A}"]


def test_a_trusted_group_that_commits_nothing_answers_on_a_fetched_head(
    http_server: HttpGitServer, remote_repo: Path, tmp_path: Path
) -> None:
    repository = _repository(http_server, remote_repo, tmp_path / "cache")
    repository.fetch()
    outside = _outside_push(remote_repo, tmp_path / "other", A, "replicas: 7\n")
    seen: list[bytes | None] = []

    def read_only(head: Snapshot) -> dict[str, bytes | None]:
        seen.append(head(A))
        return {}

    outcome = repository.commit_group([CommitRequest(read_only, BOB, "nothing")], trust_cache=True)
    (answer,) = outcome.answers
    assert isinstance(answer, PushResult)
    assert not answer.created
    assert answer.commit == outside  # no push could confirm the cache: the remote was asked
    assert seen == [b"replicas: 1\n", b"replicas: 7\n"]
    assert http_server.received == []
