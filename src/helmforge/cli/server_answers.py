"""What the commands that talk to a helmforge server share (``instances``, ``values``,
``gitops``): the ``--server`` and ``--output`` options, the token from HELMFORGE_TOKEN, how a
change's answer is printed, and how a stale edit's 409 is shown (its diff on stderr, then the
one-line error of ``cli.errors``).

Not a command module: it registers nothing, and imports no service until a command runs.
"""

from __future__ import annotations

__all__ = [
    "OUTPUTS",
    "OutputOption",
    "ServerOption",
    "checked_instance",
    "print_change",
    "print_json",
    "remote_errors",
    "token",
]

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer

from helmforge.cli.errors import abort, one_of
from helmforge.core.errors import ConflictError, HelmforgeError

ServerOption = Annotated[
    str,
    typer.Option(
        "--server", envvar="HELMFORGE_SERVER", help="Server URL (the token: HELMFORGE_TOKEN)."
    ),
]
OUTPUTS = ("text", "json")
OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        envvar="HELMFORGE_OUTPUT",
        help="text or json.",
        callback=one_of(*OUTPUTS),
    ),
]


def checked_instance(instance: str) -> str:
    """The INSTANCE argument's check: four non-empty segments, else wrong usage (exit 2)
    before any call, for every command that names an instance."""
    parts = instance.split("/")
    if len(parts) != 4 or not all(parts):
        raise typer.BadParameter(
            "give PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE, e.g. shop/acme/dev/eu-1",
            param_hint="INSTANCE",
        )
    return instance


def token() -> str:
    """The API token the commands send (HELMFORGE_TOKEN; empty when unset)."""
    return os.environ.get("HELMFORGE_TOKEN", "")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


@contextlib.contextmanager
def remote_errors() -> Iterator[None]:
    """Helmforge errors as ``abort()``; a stale edit's diff (the server's 409 with the
    instance's current revision) is printed on stderr first, so the user sees what changed."""
    try:
        yield
    except ConflictError as error:
        diff = getattr(error, "diff", None)
        current = getattr(error, "current_revision", None)
        if isinstance(diff, str) and diff:
            typer.echo(diff.rstrip("\n"), err=True)
        if isinstance(current, str) and current:
            abort(f"{error} (current revision {current}; read it again and redo the edit)")
        abort(error)
    except HelmforgeError as error:
        abort(error)
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        abort(f"{where}{error.strerror or error}")


def print_change(answer: Mapping[str, Any], *, output: str, what: str) -> None:
    """A change's answer: the change request it became (202), the commit it made, or that
    nothing changed; ``what`` names the change (``values of p/c/e/i``)."""
    if output == "json":
        print_json(dict(answer))
        return
    if "change_request" in answer:
        approvals = answer.get("approvals") or []
        typer.echo(
            f"change request {answer['change_request']} awaits approval "
            f"({answer.get('kind')} on {answer.get('target')}, "
            f"{len(approvals)}/{answer.get('required')} approvals)"
        )
        diff = str(answer.get("diff") or "")
        if diff:
            typer.echo(diff.rstrip("\n"))
        return
    revision = answer.get("revision") or ""
    if not answer.get("committed"):
        typer.echo(f"{what}: unchanged at revision {revision}")
        return
    typer.echo(f"{what}: committed revision {revision}")
    diff = str(answer.get("diff") or "")
    if diff:
        typer.echo(diff.rstrip("\n"))
