"""What a GitOps commit is made of and what reading or pushing one reports (``adapters.git``):
the author as Git records them, the message with its ``Approved-by:`` trailers, one file's or
several files' versions in the history, and a push's outcome."""

from __future__ import annotations

__all__ = ["CommitAuthor", "CommitChange", "FileVersion", "PushResult", "commit_message"]

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pygit2

from helmforge.core.errors import InputError, Location


@dataclass(frozen=True, slots=True)
class CommitAuthor:
    """The acting user as Git records them."""

    name: str
    email: str

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("email", self.email)):
            if not value.strip() or any(char in value for char in "<>\n\r\0"):
                raise InputError(
                    f"the commit author's {label} {value!r} cannot be written to Git: it must "
                    "be non-empty without '<', '>' or line breaks",
                    location=Location("author", path=label),
                )

    def signature(self) -> pygit2.Signature:
        return pygit2.Signature(self.name, self.email)


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One commit that changed a file: who, when (UTC), why, and the file before and after
    (None where it did not exist)."""

    revision: str
    author: CommitAuthor
    at: datetime.datetime
    message: str
    before: bytes | None
    after: bytes | None


@dataclass(frozen=True, slots=True)
class CommitChange:
    """One commit that changed some of the files asked about: ``files`` maps each changed
    path to its bytes before and after (None where it did not exist)."""

    revision: str
    author: CommitAuthor
    at: datetime.datetime
    message: str
    files: Mapping[str, tuple[bytes | None, bytes | None]]


@dataclass(frozen=True, slots=True)
class PushResult:
    """``commit`` is the branch head after the operation; ``created`` is False when the edit
    changed nothing on the head (no commit, nothing pushed)."""

    commit: str
    parent: str | None
    created: bool
    attempts: int


def commit_message(subject: str, body: str = "", *, approved_by: Iterable[str] = ()) -> str:
    """``subject`` (one line), an optional body and one ``Approved-by:`` trailer per approver
    (``Name <email>``), separated by blank lines as ``git interpret-trailers`` reads them."""
    if not subject.strip() or "\n" in subject:
        raise InputError(
            "a commit subject is one non-empty line", location=Location("message", path="subject")
        )
    parts = [subject.strip()]
    if body.strip():
        parts.append(body.strip())
    trailers = [f"Approved-by: {approver}" for approver in approved_by]
    for approver in approved_by:
        if "\n" in approver or not approver.strip():
            raise InputError(f"approver {approver!r} is not one line", location=Location("message"))
    if trailers:
        parts.append("\n".join(trailers))
    return "\n\n".join(parts) + "\n"
