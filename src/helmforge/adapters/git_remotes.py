"""The remote side of a GitOps repository (``adapters.git``): where it is, the credentials
that reach it, and the libgit2 callbacks of one remote operation.

``RemoteCallbacks`` hands libgit2 the credentials given (HTTPS username and password or token,
an SSH key from memory; asked twice means refused: it stops instead of looping), refuses a host
key or TLS chain that did not verify, checks the operation's total deadline in every callback,
keeps a bounded part of what the remote printed, and records the per-ref push results, which
pygit2 reports only here. Its push negotiation refuses every update that is not a fast-forward
of what the remote advertised, and a push built on the cache's head without a fetch
(``PushConfirmation``) unless the remote is exactly there.
"""

from __future__ import annotations

__all__ = [
    "MAX_REMOTE_TEXT",
    "DeadlineExceededError",
    "GitCredentials",
    "GitRemote",
    "PushConfirmation",
    "RemoteCallbacks",
    "push_ref",
    "push_refspec",
    "tracking_ref",
]

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pygit2
from pygit2.enums import CredentialType

from helmforge.core.errors import AuthenticationError, ConflictError, InputError, Location
from helmforge.core.instances.application import check_branch, check_git_url

MAX_REMOTE_TEXT = 600


class PushConfirmation(Protocol):
    """A push built on the cache's head without a fetch: the remote must advertise ``head``;
    ``confirmed`` is called when it does."""

    head: pygit2.Oid

    def confirmed(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GitCredentials:
    """HTTPS ``username``/``password`` (a token is a password), or an SSH key with the
    ``known_hosts`` lines the server's host key must match. ``repr`` never shows a secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)
    ssh_passphrase: str | None = field(default=None, repr=False)
    ssh_known_hosts: str | None = None

    def secrets(self) -> tuple[str, ...]:
        return tuple(
            secret
            for secret in (self.password, self.ssh_private_key, self.ssh_passphrase)
            if secret
        )


@dataclass(frozen=True, slots=True)
class GitRemote:
    """Where to push: the URL (no userinfo), the branch, credentials and the total deadline of
    one remote operation in seconds."""

    url: str
    branch: str
    credentials: GitCredentials = GitCredentials()
    deadline_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_git_url(self.url, source="repository.url")
        check_branch(self.branch, source="repository.branch")
        if not pygit2.reference_is_valid_name(f"refs/heads/{self.branch}"):
            raise InputError(
                f"branch {self.branch!r} is not a valid Git branch name",
                location=Location("repository.branch"),
            )

    @property
    def is_ssh(self) -> bool:
        return not self.url.startswith(("https://", "http://"))


def push_refspec(branch: str) -> str:
    """The one refspec helmforge pushes: the prepared local ref onto the branch, never ``+``."""
    return f"{push_ref(branch)}:refs/heads/{branch}"


def push_ref(branch: str) -> str:
    return f"refs/helmforge/push/{branch}"


def tracking_ref(branch: str) -> str:
    return f"refs/remotes/origin/{branch}"


def _is_zero(oid: pygit2.Oid) -> bool:
    return not any(oid.raw)


class DeadlineExceededError(Exception):
    pass


class RemoteCallbacks(pygit2.RemoteCallbacks):
    """Credentials, host key, deadline and per-ref push results of one remote operation."""

    def __init__(
        self,
        remote: GitRemote,
        repo: pygit2.Repository,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__()
        self._remote = remote
        self._repo = repo
        self._deadline = deadline
        self._clock = clock
        self._credential_attempts = 0
        self.rejected: dict[str, str] = {}
        self.accepted: set[str] = set()
        self.remote_text: list[str] = []
        self.authentication_failed = False
        self.host_key_refused = False
        #: For a push built on the cache's head without a fetch: the remote must be there.
        self.confirm: PushConfirmation | None = None

    def check_deadline(self) -> None:
        if self._clock() >= self._deadline:
            raise DeadlineExceededError

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> Any:
        self.check_deadline()
        self._credential_attempts += 1
        creds = self._remote.credentials
        if self._credential_attempts > 1:
            # libgit2 asks again when the server refused what we gave: stop, do not loop.
            self.authentication_failed = True
            raise AuthenticationError("refused")
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and creds.password is not None:
            return pygit2.UserPass(creds.username or "git", creds.password)
        if allowed_types & CredentialType.SSH_MEMORY and creds.ssh_private_key is not None:
            user = username_from_url or creds.username or "git"
            return pygit2.KeypairFromMemory(
                user, None, creds.ssh_private_key, creds.ssh_passphrase or ""
            )
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username_from_url or creds.username or "git")
        self.authentication_failed = True
        raise AuthenticationError("no credentials")

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        self.check_deadline()
        # For SSH, ``valid`` says whether the host key matched the pinned known_hosts (libgit2
        # reads it from its home directory, pointed at our folder); for HTTPS, whether the TLS
        # chain verified. Either way: no match, no connection.
        if not valid:
            self.host_key_refused = True
        return bool(valid)

    def sideband_progress(self, string: str) -> None:
        self.check_deadline()
        if sum(map(len, self.remote_text)) < MAX_REMOTE_TEXT:
            self.remote_text.append(string)

    def transfer_progress(self, stats: Any) -> None:
        self.check_deadline()

    def push_transfer_progress(
        self, objects_pushed: int, total_objects: int, bytes_pushed: int
    ) -> None:
        self.check_deadline()

    def push_negotiation(self, updates: list[Any]) -> None:
        self.check_deadline()
        for update in updates:
            old, new = update.src, update.dst
            if self.confirm is not None:
                if old != self.confirm.head:
                    # Built on the cache's head, which is not the remote's: fetch, rebuild.
                    self.rejected[update.dst_refname] = "non-fast-forward"
                    raise ConflictError(f"{update.dst_refname} moved: non-fast-forward")
                self.confirm.confirmed()
            # Refuse anything but a fast-forward of what the remote advertised: with no '+'
            # libgit2 refuses too, this makes it independent of how the refspec was written.
            if _is_zero(old) or _is_zero(new):
                if _is_zero(new):
                    raise ConflictError(f"refusing to delete {update.dst_refname}")
                continue
            # A remote head we do not have is someone else's commit: not a fast-forward.
            if old != new and (old not in self._repo or not self._repo.descendant_of(new, old)):
                self.rejected[update.dst_refname] = "non-fast-forward"
                raise ConflictError(f"{update.dst_refname} moved: non-fast-forward")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message
        else:
            self.accepted.add(refname)
