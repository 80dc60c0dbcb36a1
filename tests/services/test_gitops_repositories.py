"""services.gitops_repositories on SQLite and PostgreSQL: credentials encrypted at rest and
never shown, SSH only with a pinned host key, who may see repositories, the one-writer lock,
and the migration of the instances branch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.secrets import new_key
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    PermissionDeniedError,
)
from helmforge.core.secrets import Secret
from helmforge.services import accounts, gitops_repositories
from helmforge.services.gitops_repositories import GitWorkspace
from tests.support.git_servers import ed25519_key_pair

CANARY = "canary-repo-Pw-0ddba11-DO-NOT-LEAK"
# A real deploy key (it is read as a key) and host key; the key's body is the canary.
KEY_CANARY, _HOST_KEY = ed25519_key_pair()
KEY_BODY = KEY_CANARY.splitlines()[2]
KNOWN_HOST = f"git.example.com {_HOST_KEY}\n"


def _user(sessions: sessionmaker[Session], name: str, role: str) -> Principal:
    accounts.create_user(sessions, name, role=role, password="a long enough password", actor=SYSTEM)
    return Principal(name=name, role=role, kind="user", id=1)


def test_credentials_are_encrypted_at_rest_and_never_in_a_view(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with engine.connect() as connection:
        heads = {
            r[0] for r in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        }
    assert "instances_0001" in heads
    key = new_key()
    https = gitops_repositories.add_repository(
        sessions,
        name="gitops",
        url="https://git.example.com/platform/gitops.git",
        key=key,
        actor=SYSTEM,
        path="/clusters/eu/",
        username="bot",
        password=Secret(CANARY),
    )
    ssh = gitops_repositories.add_repository(
        sessions,
        name="over-ssh",
        url="git@git.example.com:platform/gitops.git",
        key=key,
        actor=SYSTEM,
        ssh_private_key=Secret(KEY_CANARY),
        ssh_known_hosts=KNOWN_HOST,
    )
    assert (https.path, https.has_password, https.has_ssh_key) == ("clusters/eu", True, False)
    assert (ssh.has_password, ssh.has_ssh_key) == (False, True)
    assert CANARY not in repr(https) + repr(ssh)
    with engine.connect() as connection:
        stored = repr(connection.execute(sa.text("SELECT * FROM gitops_repositories")).all())
        audit = repr(connection.execute(sa.text("SELECT * FROM audit_events")).all())
    assert CANARY not in stored + audit
    assert KEY_BODY not in stored + audit
    workspace = GitWorkspace(key=key, cache_root=tmp_path / "git")
    opened = gitops_repositories.open_repository(sessions, "gitops", workspace=workspace)
    assert opened.remote.credentials.password == CANARY
    assert CANARY not in repr(opened)
    with pytest.raises(ExternalServiceError, match="cannot be decrypted") as caught:
        gitops_repositories.open_repository(
            sessions, "gitops", workspace=GitWorkspace(key=new_key(), cache_root=tmp_path)
        )
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"url": "https://bot:secret-pw@git.example.com/g.git"}, "must not contain credentials"),
        ({"url": "ftp://git.example.com/g.git"}, "is not valid"),
        ({"branch": "main..x"}, "not a valid Git branch name"),
        ({"path": "../outside"}, "is not valid"),
        ({"url": "ssh://git@git.example.com/g.git"}, "needs ssh_private_key"),
        (
            {"url": "ssh://git@git.example.com/g.git", "ssh_private_key": Secret(KEY_CANARY)},
            "ssh_known_hosts",
        ),
        ({"ssh_private_key": Secret(KEY_CANARY)}, "is for ssh://"),
        ({"name": "Bad_Name"}, "is invalid"),
    ],
)
def test_bad_repositories_are_refused_naming_the_field(
    sessions: sessionmaker[Session], fields: dict[str, object], match: str
) -> None:
    arguments: dict[str, object] = {
        "name": "gitops",
        "url": "https://git.example.com/g.git",
        "key": new_key(),
        "actor": SYSTEM,
    }
    with pytest.raises(InputError, match=match) as caught:
        gitops_repositories.add_repository(sessions, **(arguments | fields))  # type: ignore[arg-type]
    assert "secret-pw" not in str(caught.value)
    assert "canary-key" not in str(caught.value)


def test_names_are_unique_and_only_admins_manage_repositories(
    sessions: sessionmaker[Session],
) -> None:
    key = new_key()
    gitops_repositories.add_repository(
        sessions, name="gitops", url="https://git.example.com/g.git", key=key, actor=SYSTEM
    )
    with pytest.raises(ConflictError, match="already exists"):
        gitops_repositories.add_repository(
            sessions, name="gitops", url="https://git.example.com/h.git", key=key, actor=SYSTEM
        )
    operator = _user(sessions, "olga", "operator")
    creator = _user(sessions, "tina", "template-creator")
    with pytest.raises(PermissionDeniedError):
        gitops_repositories.add_repository(
            sessions, name="mine", url="https://git.example.com/m.git", key=key, actor=operator
        )
    with pytest.raises(PermissionDeniedError):
        gitops_repositories.delete_repository(sessions, "gitops", actor=operator)
    # Whoever may read or create instances sees the repositories (no secrets); others do not.
    assert [r.name for r in gitops_repositories.list_repositories(sessions, actor=operator)] == [
        "gitops"
    ]
    with pytest.raises(PermissionDeniedError):
        gitops_repositories.list_repositories(sessions, actor=creator)
    gitops_repositories.delete_repository(sessions, "gitops", actor=SYSTEM)
    assert gitops_repositories.list_repositories(sessions, actor=SYSTEM) == []


def test_one_writer_per_repository_across_threads(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    key = new_key()
    gitops_repositories.add_repository(
        sessions, name="gitops", url="https://git.example.com/g.git", key=key, actor=SYSTEM
    )
    workspace = GitWorkspace(key=key, cache_root=tmp_path / "git")
    repository = gitops_repositories.open_repository(sessions, "gitops", workspace=workspace)
    inside = threading.Event()
    release = threading.Event()
    outcome: list[str] = []

    def holder() -> None:
        with gitops_repositories.writing(sessions, repository, wait=5):
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(30)
    try:
        with gitops_repositories.writing(sessions, repository, wait=0.2):
            outcome.append("entered")
    except ExternalServiceError as error:
        outcome.append(str(error))
    finally:
        release.set()
        thread.join(30)
    assert outcome == [
        "another Git write of git:https://git.example.com/g.git#main has been under way for "
        "over 0.2 s; try again later"
    ]
    with gitops_repositories.writing(sessions, repository, wait=5) as git:
        assert git.head() is None  # the cache was created under the lock, nothing fetched
