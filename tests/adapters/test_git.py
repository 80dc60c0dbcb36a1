"""The Git adapter against real remotes on loopback: smart HTTP (git http-backend) and SSH
(openssh-server), hooks included (RELIABILITY rows 25-29, 41, 49)."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helmforge.adapters.git import (
    CommitAuthor,
    GitCredentials,
    GitRemote,
    GitRepository,
    commit_message,
    push_refspec,
)
from helmforge.core.errors import AuthenticationError, ConflictError, ExternalServiceError
from helmforge.core.instances.values_edits import SetValue, apply_edits
from tests.support.git_servers import (
    HangingHook,
    HttpGitServer,
    SshGitServer,
    bare_repository,
    git,
    head_of,
    install_hook,
)

CANARY = "canary-git-Pw-51c0ffee-DO-NOT-LEAK"
VALUES = "shop/acme/prod/eu-1/values.yaml"
ALICE = CommitAuthor("Alice Example", "alice@example.com")
SEED = {VALUES: "# overrides\nreplicas: 2  # two\n", "README.md": "gitops\n"}


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[HttpGitServer]:
    server = HttpGitServer(tmp_path / "remotes", "helmforge", CANARY)
    server.root.mkdir()
    with server.running():
        yield server


@pytest.fixture
def remote_repo(http_server: HttpGitServer) -> Path:
    return bare_repository(http_server.root, "gitops", SEED)


def _remote(server: HttpGitServer, repo: Path, **overrides: object) -> GitRemote:
    fields: dict[str, object] = {
        "url": server.url(repo),
        "branch": "main",
        "credentials": GitCredentials(username="helmforge", password=CANARY),
    }
    return GitRemote(**(fields | overrides))  # type: ignore[arg-type]


def _set(
    path: tuple[str | int, ...], value: object
) -> Callable[[Callable[[str], bytes | None]], dict[str, bytes]]:
    """The structured edit, re-applied on whatever head the adapter hands in."""

    def build(read: Callable[[str], bytes | None]) -> dict[str, bytes]:
        current = (read(VALUES) or b"").decode()
        return {VALUES: apply_edits(current, [SetValue(path, value)]).text.encode()}

    return build


def _file_at_remote(repo: Path, path: str = VALUES) -> str:
    return git("-C", str(repo), "show", f"main:{path}")


def test_commit_and_push_over_http(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    before = head_of(remote_repo)
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    message = commit_message(
        "shop/acme/prod/eu-1: values replicas=3", approved_by=["Bob <bob@example.com>"]
    )
    result = repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message=message)
    assert result.created
    assert result.parent == before
    assert head_of(remote_repo) == result.commit
    assert _file_at_remote(remote_repo) == "# overrides\nreplicas: 3  # two\n"
    assert _file_at_remote(remote_repo, "README.md") == "gitops\n"  # the rest of the tree stays
    log = git("-C", str(remote_repo), "log", "-1", "--format=%an <%ae>%n%B", "main")
    assert log.startswith(
        "Alice Example <alice@example.com>\nshop/acme/prod/eu-1: values replicas=3\n\n"
        "Approved-by: Bob <bob@example.com>"
    )
    assert (
        git("-C", str(remote_repo), "interpret-trailers", "--parse", input_text=log).strip()
        == "Approved-by: Bob <bob@example.com>"
    )
    assert [update.ref for update in http_server.received] == ["refs/heads/main"]
    assert http_server.received[0].old == before


def test_history_lists_the_commits_that_changed_a_file_newest_first(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    bob = CommitAuthor("Bob", "bob@example.com")
    first = repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message="three\n")
    repository.commit_and_push(
        lambda read: {"README.md": b"changed\n"}, author=bob, message="readme\n"
    )
    second = repository.commit_and_push(_set(("replicas",), 4), author=bob, message="four\n")
    versions = repository.history(VALUES)
    assert [v.revision for v in versions] == [second.commit, first.commit, versions[2].revision]
    assert [v.message for v in versions[:2]] == ["four\n", "three\n"]
    assert versions[0].author == bob
    assert versions[0].before == b"# overrides\nreplicas: 3  # two\n"
    assert versions[0].after == b"# overrides\nreplicas: 4  # two\n"
    assert versions[2].before is None  # the seed commit created the file
    assert len(repository.history(VALUES, limit=1)) == 1


def test_the_last_change_of_files_is_remembered_by_commit_and_walks_only_what_is_new(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance's revision is the newest commit that changed its files: it was found by
    walking the whole line back to that commit on every read and edit (a repository of many
    instances walks far), and read the files of the commit it found."""
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    seed = repository.fetch()
    readme = lambda text: lambda read: {"README.md": text}  # noqa: E731
    values = repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message="v\n")
    for number in range(4):
        repository.commit_and_push(readme(f"{number}\n".encode()), author=ALICE, message="r\n")
    assert repository.last_change([VALUES]) == values.commit
    assert repository.last_change([VALUES], at=values.parent) == seed
    assert repository.last_change(["README.md", VALUES]) == repository.head()
    assert repository.last_change(["nowhere.yaml"]) is None
    assert repository.last_change([VALUES]) == repository.changes([VALUES], limit=1)[0].revision
    lookups: list[str] = []
    entry_id = GitRepository._entry_id

    def counted(self: GitRepository, commit: object, path: str) -> object:
        lookups.append(path)
        return entry_id(self, commit, path)  # type: ignore[arg-type]

    monkeypatch.setattr(GitRepository, "_entry_id", counted)
    repository.commit_and_push(readme(b"later\n"), author=ALICE, message="r\n")
    lookups.clear()
    assert repository.last_change([VALUES]) == values.commit
    assert len(lookups) == 2  # the one new commit against its parent; the rest remembered
    lookups.clear()
    assert repository.last_change([VALUES], max_commits=1) == values.commit  # remembered


def test_an_edit_that_changes_nothing_makes_no_commit(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    result = repository.commit_and_push(_set(("replicas",), 2), author=ALICE, message="noop\n")
    assert not result.created
    assert result.commit == head_of(remote_repo)
    assert http_server.received == []


def test_a_second_writer_in_between_is_retried_on_the_new_head(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git("clone", "-q", str(remote_repo), str(other))
    calls: list[str] = []
    ours = _set(("image", "tag"), "1.3")

    def build(read: Callable[[str], bytes | None]) -> dict[str, bytes]:
        calls.append((read(VALUES) or b"").decode())
        if len(calls) == 1:  # someone else pushes after our fetch, before our push
            (other / VALUES).write_text("# overrides\nreplicas: 5  # two\n")
            git("-C", str(other), "commit", "-qam", "other writer: replicas=5")
            git("-C", str(other), "push", "-q", "origin", "main")
        return ours(read)

    seed = head_of(remote_repo)
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    result = repository.commit_and_push(build, author=ALICE, message="ours: image.tag\n")
    other_head = git("-C", str(other), "rev-parse", "HEAD").strip()
    assert result.attempts == 2
    assert result.parent == other_head
    assert calls[1] == "# overrides\nreplicas: 5  # two\n"  # re-applied on the new head
    assert _file_at_remote(remote_repo) == '# overrides\nreplicas: 5  # two\nimage:\n  tag: "1.3"\n'
    assert git("-C", str(remote_repo), "rev-list", "--count", "main").strip() == "3"  # no duplicate
    # What the server received: our stale attempt was refused by the client before it sent
    # anything (push negotiation: the advertised head is not ours), then one fast-forward of
    # the new head; the other writer's commit is kept.
    assert [(u.old, u.ref) for u in http_server.received] == [(other_head, "refs/heads/main")]
    assert seed != other_head
    for update in http_server.received:
        git("-C", str(remote_repo), "merge-base", "--is-ancestor", update.old, update.new)


def test_the_push_refspec_never_forces() -> None:
    assert not push_refspec("main").startswith("+")
    assert push_refspec("release/1.x") == "refs/helmforge/push/release/1.x:refs/heads/release/1.x"


def test_a_branch_that_keeps_moving_gives_up_after_the_bound(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git("clone", "-q", str(remote_repo), str(other))

    def build(read: Callable[[str], bytes | None]) -> dict[str, bytes]:
        (other / "README.md").write_text(f"{(other / 'README.md').read_text()}again\n")
        git("-C", str(other), "commit", "-qam", "again")
        git("-C", str(other), "push", "-q", "origin", "main")
        return {VALUES: b"replicas: 9\n"}

    repository = GitRepository(
        _remote(http_server, remote_repo), tmp_path / "cache", max_attempts=3
    )
    with pytest.raises(ConflictError, match="gave up after 3 attempts, nothing was pushed"):
        repository.commit_and_push(build, author=ALICE, message="m\n")
    assert "replicas: 9" not in _file_at_remote(remote_repo)


def test_a_declining_hook_is_a_clear_error_and_nothing_is_half_saved(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_hook(
        remote_repo, "pre-receive", "echo 'policy: prod is frozen until Monday' >&2\nexit 1\n"
    )
    before = head_of(remote_repo)
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(
            ExternalServiceError,
            match=r"refused the push to main: pre-receive hook declined"
            r".*prod is frozen until Monday.*nothing was changed",
        ) as caught,
    ):
        repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message="m\n")
    assert http_server.url(remote_repo) in str(caught.value)
    assert head_of(remote_repo) == before
    assert repository.head() == before  # the cache still mirrors the remote
    assert [ref for ref in repository._repo.references if ref.startswith("refs/helmforge/")] == []
    assert CANARY not in str(caught.value) + caplog.text


def test_a_hanging_hook_meets_the_deadline_and_a_retry_makes_one_commit(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path
) -> None:
    hook = HangingHook(remote_repo)
    before = head_of(remote_repo)
    hurried = GitRepository(
        _remote(http_server, remote_repo, deadline_seconds=1.0), tmp_path / "cache"
    )
    try:
        with pytest.raises(
            ExternalServiceError, match=r"push did not finish within its deadline of 1 s"
        ):
            hurried.commit_and_push(_set(("replicas",), 3), author=ALICE, message="m\n")
    finally:
        hook.release()
    assert head_of(remote_repo) == before
    (remote_repo / "hooks" / "pre-receive").unlink()
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    first = repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message="m\n")
    again = repository.commit_and_push(_set(("replicas",), 3), author=ALICE, message="m\n")
    assert first.created
    assert not again.created
    assert git("-C", str(remote_repo), "rev-list", "--count", "main").strip() == "2"


def test_wrong_credentials_never_show_the_password(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = GitCredentials(username="helmforge", password=CANARY + "-wrong")
    assert CANARY not in repr(wrong)
    repository = GitRepository(
        _remote(http_server, remote_repo, credentials=wrong), tmp_path / "cache"
    )
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(AuthenticationError, match="refused the credentials") as caught,
    ):
        repository.fetch()
    assert CANARY not in str(caught.value) + caplog.text
    assert "helmforge@" not in str(caught.value)


def test_a_new_branch_is_created_by_the_first_push(
    http_server: HttpGitServer, tmp_path: Path
) -> None:
    empty = bare_repository(http_server.root, "empty")
    repository = GitRepository(_remote(http_server, empty), tmp_path / "cache")
    assert repository.fetch() is None
    result = repository.commit_and_push(_set(("replicas",), 1), author=ALICE, message="first\n")
    assert result.parent is None
    assert _file_at_remote(empty) == "replicas: 1\n"


# --- SSH --------------------------------------------------------------------------------


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[SshGitServer]:
    with SshGitServer(tmp_path / "sshd").running() as server:
        yield server


def _ssh_remote(server: SshGitServer, repo: Path, **credentials: str) -> GitRemote:
    fields = {"ssh_private_key": server.private_key, "ssh_known_hosts": server.known_hosts}
    return GitRemote(
        url=server.url(repo), branch="main", credentials=GitCredentials(**(fields | credentials))
    )


def test_commit_and_push_over_ssh_with_a_pinned_host_key(
    ssh_server: SshGitServer, tmp_path: Path
) -> None:
    repo = bare_repository(tmp_path, "gitops", SEED)
    install_hook(repo, "post-receive", f"touch '{tmp_path / 'hook-ran'}'\n")
    repository = GitRepository(_ssh_remote(ssh_server, repo), tmp_path / "cache")
    result = repository.commit_and_push(_set(("replicas",), 4), author=ALICE, message="ssh\n")
    assert head_of(repo) == result.commit
    assert _file_at_remote(repo) == "# overrides\nreplicas: 4  # two\n"
    assert (tmp_path / "hook-ran").exists()  # a real server, not a file path


def test_an_unpinned_ssh_host_key_is_refused(ssh_server: SshGitServer, tmp_path: Path) -> None:
    repo = bare_repository(tmp_path, "gitops", SEED)
    other_key = (
        ssh_server.known_hosts.split()[0]
        + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBeq1sH3lI1Yyf6e6u8x0nQWJvP2nF0Fq0yqYx0d2k1m\n"
    )
    repository = GitRepository(
        _ssh_remote(ssh_server, repo, ssh_known_hosts=other_key), tmp_path / "cache"
    )
    with pytest.raises(
        ExternalServiceError, match="host key does not match the pinned known_hosts"
    ) as caught:
        repository.fetch()
    assert ssh_server.private_key.splitlines()[1] not in str(caught.value)


def test_an_unknown_ssh_key_is_refused_without_showing_it(
    ssh_server: SshGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = bare_repository(tmp_path, "gitops", SEED)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")],
        check=True,
        capture_output=True,
    )
    stranger = (tmp_path / "stranger").read_text()
    repository = GitRepository(
        _ssh_remote(ssh_server, repo, ssh_private_key=stranger), tmp_path / "cache"
    )
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(AuthenticationError, match="refused the credentials for fetch") as caught,
    ):
        repository.fetch()
    assert stranger.splitlines()[1] not in str(caught.value) + caplog.text


def test_a_ref_that_moves_inside_the_server_is_retried(
    remote_repo: Path, http_server: HttpGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The other writer's commit waits on another branch; the hook moves main to it while our
    # push is being received, so receive-pack's compare-and-swap of main fails server-side
    # and the refusal arrives only through push_update_reference.
    other = tmp_path / "other"
    git("clone", "-q", str(remote_repo), str(other))
    (other / "README.md").write_text("moved by the hook\n")
    git("-C", str(other), "commit", "-qam", "other writer")
    git("-C", str(other), "push", "-q", "origin", "HEAD:refs/heads/staging")
    marker = tmp_path / "moved"
    install_hook(
        remote_repo,
        "pre-receive",
        f"[ -e '{marker}' ] && exit 0\ntouch '{marker}'\n"
        "env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES"
        " git update-ref refs/heads/main refs/heads/staging\n",
    )
    repository = GitRepository(_remote(http_server, remote_repo), tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="helmforge.adapters.git"):
        result = repository.commit_and_push(_set(("replicas",), 7), author=ALICE, message="m\n")
    assert "rejected as" in caplog.text  # the per-ref answer, not a client-side refusal
    assert result.attempts == 2
    assert result.parent == head_of(remote_repo, "staging")
    assert _file_at_remote(remote_repo, "README.md") == "moved by the hook\n"
    assert "replicas: 7" in _file_at_remote(remote_repo)
