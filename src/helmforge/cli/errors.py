"""How CLI commands fail: the one ``abort()`` and the one map from error classes to exit codes.

Exit codes: 0 success; 1 bad input or a failure the user can act on, with one line on stderr
saying why; 2 wrong usage (Typer/Click answers that itself, before a command runs).
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "USAGE_EXIT",
    "abort",
    "exit_code_for",
    "one_of",
    "report_error",
    "reporting_errors",
]

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

USAGE_EXIT = 2
#: The one place error classes become exit codes; the first matching class (MRO order) wins.
EXIT_CODES: dict[type[HelmforgeError], int] = {
    InputError: 1,
    NotFoundError: 1,
    ConflictError: 1,
    AuthenticationError: 1,
    PermissionDeniedError: 1,
    ExternalServiceError: 1,
    HelmforgeError: 1,
}


def one_of(*choices: str) -> Callable[[str], str]:
    """A Typer callback for an option taking one of ``choices``: any other value is wrong
    usage (exit 2, naming the option and the choices) before the command runs."""

    def check(value: str) -> str:
        if value not in choices:
            import typer

            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def exit_code_for(error: HelmforgeError) -> int:
    """The exit code for ``error``, looked up along its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def report_error(message: str | HelmforgeError) -> None:
    """Print ``helmforge: error: <message>`` as one line on stderr (and carry on)."""
    text = " ".join(str(message).split("\n"))
    # Written without Typer, which a command run by helmforge.cli.plain_arguments never loads.
    sys.stderr.write(f"helmforge: error: {text}\n")
    sys.stderr.flush()


def abort(message: str | HelmforgeError, *, code: int = 1) -> NoReturn:
    """Print ``helmforge: error: <message>`` as one line on stderr and exit with ``code``."""
    if isinstance(message, HelmforgeError):
        code = exit_code_for(message)
    report_error(message)
    raise SystemExit(code)


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn helmforge errors (and OS errors such as a full disk) into ``abort()``."""
    try:
        yield
    except HelmforgeError as error:
        abort(error)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        abort(f"{where}{error.strerror or error}")
