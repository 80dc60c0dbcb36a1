"""The helmforge error tree.

Every error a user can cause or meet derives from ``HelmforgeError``. The classes below map to
HTTP status codes in one place, ``HTTP_STATUS`` here (shared by the API, the web pages and the
CLI's server client, which reads it backwards), and to CLI exit codes in one place,
``helmforge.cli.errors.EXIT_CODES``.

    HelmforgeError
     ├── InputError               bad input from the user: exit 1, HTTP 422
     │    ├── TooLargeError       input over a size/count budget: exit 1, HTTP 413
     │    └── PreconditionRequiredError  a change without the revision it was made on
     │                            (If-Match): exit 1, HTTP 428
     ├── NotFoundError            a named thing does not exist: exit 1, HTTP 404
     ├── ConflictError            the state changed or a version is taken: exit 1, HTTP 409
     ├── AuthenticationError      who you are is unknown: exit 1, HTTP 401
     ├── PermissionDeniedError    you may not do this: exit 1, HTTP 403
     └── ExternalServiceError     a registry, Git remote or database failed: exit 1, HTTP 502
          └── UnavailableError    busy for now (a locked database), retry: exit 1, HTTP 503

Messages name the exact file, line, field or path and say what would be valid. They never
contain a secret: adapters redact credentials before raising.
"""

from __future__ import annotations

__all__ = [
    "HTTP_STATUS",
    "AuthenticationError",
    "ConflictError",
    "ExternalServiceError",
    "HelmforgeError",
    "InputError",
    "Location",
    "NotFoundError",
    "PermissionDeniedError",
    "PreconditionRequiredError",
    "TooLargeError",
    "UnavailableError",
    "error_class_for_http_status",
    "http_status_for",
]

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: a file (or other source name), a 1-based line and a dotted path."""

    source: str | None = None
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(self.source if self.line is None else f"{self.source}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)


class HelmforgeError(Exception):
    """Base of every error helmforge raises on purpose.

    ``message`` says what is wrong and what would be valid; ``location`` says where.
    """

    def __init__(self, message: str, *, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.location) if self.location else ""
        return f"{where}: {self.message}" if where else self.message


class InputError(HelmforgeError):
    """The user's input is invalid; ``problems`` holds every problem when there are several."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        problems: tuple[HelmforgeError, ...] = (),
    ) -> None:
        self.problems = problems
        super().__init__(message, location=location)


class TooLargeError(InputError):
    """The input exceeds a size, depth, node or file-count budget."""


class PreconditionRequiredError(InputError):
    """A change that must name the revision it was made on (``If-Match``) did not."""


class NotFoundError(HelmforgeError):
    """A named template, chart, user, registry or object does not exist (or is out of scope)."""


class ConflictError(HelmforgeError):
    """Someone changed the thing in between, or a published version would change."""


class AuthenticationError(HelmforgeError):
    """The caller could not be authenticated."""


class PermissionDeniedError(HelmforgeError):
    """The caller is authenticated but may not perform this action."""


class ExternalServiceError(HelmforgeError):
    """A registry, Git remote, cluster or database failed or could not be reached."""


class UnavailableError(ExternalServiceError):
    """A resource is busy for now (SQLite locked by another process): retrying will work."""


#: The one place error classes become HTTP status codes; the first class along an error's MRO
#: wins, so ``TooLargeError`` answers 413 although it is an ``InputError``.
HTTP_STATUS: Mapping[type[HelmforgeError], int] = MappingProxyType(
    {
        TooLargeError: 413,
        PreconditionRequiredError: 428,
        UnavailableError: 503,
        InputError: 422,
        NotFoundError: 404,
        ConflictError: 409,
        AuthenticationError: 401,
        PermissionDeniedError: 403,
        ExternalServiceError: 502,
    }
)
#: The status of a helmforge error no class above covers: still the caller's fault.
_UNMAPPED_STATUS = 400
_ERROR_BY_STATUS: Mapping[int, type[HelmforgeError]] = MappingProxyType(
    {_UNMAPPED_STATUS: InputError} | {status: kind for kind, status in HTTP_STATUS.items()}
)


def http_status_for(error: HelmforgeError) -> int:
    """The HTTP status of ``error``, looked up along its class hierarchy (400 when unmapped)."""
    for kind in type(error).__mro__:
        status = HTTP_STATUS.get(kind)
        if status is not None:
            return status
    return _UNMAPPED_STATUS


def error_class_for_http_status(status: int) -> type[HelmforgeError]:
    """``HTTP_STATUS`` read backwards, for a client of helmforge's own API: the error class an
    error ``status`` stands for (``ExternalServiceError`` for one helmforge never answers)."""
    return _ERROR_BY_STATUS.get(status, ExternalServiceError)
