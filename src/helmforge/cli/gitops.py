"""``helmforge gitops add-repository|list-repositories|remove-repository`` (DESIGN §6) against
a server: the GitOps repositories instances are committed to (admins configure them).

Secrets never travel on the command line: the HTTPS password or token comes from stdin
(``--password-stdin``) or HELMFORGE_GIT_PASSWORD, an SSH key from a file; the server stores
them encrypted and never shows them again.
"""

from __future__ import annotations

__all__ = ["gitops_app", "register"]

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from helmforge.cli.errors import abort
from helmforge.cli.groups import command_group
from helmforge.cli.server_answers import (
    OutputOption,
    ServerOption,
    print_json,
    remote_errors,
    token,
)
from helmforge.core.errors import InputError, Location

if TYPE_CHECKING:
    from helmforge.core.secrets import Secret

gitops_app = command_group(help_text="The GitOps repositories of a helmforge server.")

NameArgument = Annotated[str, typer.Argument(help="The repository's name in helmforge.")]


def _password(username: str | None, password_stdin: bool) -> Secret | None:
    from helmforge.core.secrets import Secret

    if password_stdin:
        return Secret(sys.stdin.readline().rstrip("\r\n"))
    if username is None:
        return None
    from_env = os.environ.get("HELMFORGE_GIT_PASSWORD")
    if not from_env:
        abort(f"user {username!r} needs a password: use --password-stdin or HELMFORGE_GIT_PASSWORD")
    return Secret(from_env)


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot read the {what} ({type(error).__name__})", location=Location(str(path))
        ) from None


def _row(item: dict[str, Any]) -> str:
    secrets = [name for name in ("password", "ssh_key") if item.get(f"has_{name}")]
    return "\t".join(
        (
            str(item.get("name")),
            str(item.get("url")),
            str(item.get("branch")),
            str(item.get("path") or "/"),
            ",".join(secrets) or "no credentials",
        )
    )


@gitops_app.command("add-repository")
def add_repository(
    name: NameArgument,
    *,
    server: ServerOption,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            envvar="HELMFORGE_GIT_URL",
            help="https://host/path, ssh://user@host/path or user@host:path (no credentials).",
        ),
    ],
    branch: Annotated[
        str, typer.Option("--branch", envvar="HELMFORGE_GIT_BRANCH", help="Branch to commit to.")
    ] = "main",
    path: Annotated[
        str | None,
        typer.Option("--path", envvar="HELMFORGE_GIT_PATH", help="Base folder (default: root)."),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--username", envvar="HELMFORGE_GIT_USERNAME", help="HTTPS user."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            envvar="HELMFORGE_GIT_PASSWORD_STDIN",
            help="Read the HTTPS password or token from stdin (else HELMFORGE_GIT_PASSWORD).",
        ),
    ] = False,
    ssh_key_file: Annotated[
        Path | None,
        typer.Option(
            "--ssh-key-file",
            envvar="HELMFORGE_GIT_SSH_KEY_FILE",
            help="The deploy key (OpenSSH private key file).",
            dir_okay=False,
        ),
    ] = None,
    known_hosts_file: Annotated[
        Path | None,
        typer.Option(
            "--known-hosts-file",
            envvar="HELMFORGE_GIT_KNOWN_HOSTS_FILE",
            help="The server's host key(s) in known_hosts form, pinned.",
            dir_okay=False,
        ),
    ] = None,
    output: OutputOption = "text",
) -> None:
    """Configure a GitOps repository on the server (admins). Nothing is fetched yet."""
    from helmforge.core.secrets import Secret
    from helmforge.services.remote_gitops import add_repository as added

    password = _password(username, password_stdin)
    with remote_errors():
        key = _read(ssh_key_file, "SSH key file")
        answer = added(
            server=server,
            token=token(),
            name=name,
            url=url,
            branch=branch,
            path=path,
            username=username,
            password=password,
            ssh_private_key=Secret(key) if key is not None else None,
            ssh_known_hosts=_read(known_hosts_file, "known hosts file"),
        )
    if output == "json":
        print_json(answer)
        return
    typer.echo(_row(answer))


@gitops_app.command("list-repositories")
def list_repositories(*, server: ServerOption, output: OutputOption = "text") -> None:
    """List the configured repositories: name, URL, branch, base folder, credentials kind
    (tab-separated; never a secret)."""
    from helmforge.services.remote_gitops import list_repositories as listed

    with remote_errors():
        items = listed(server=server, token=token())
    if output == "json":
        print_json(items)
        return
    for item in items:
        typer.echo(_row(item))


@gitops_app.command("remove-repository")
def remove_repository(name: NameArgument, *, server: ServerOption) -> None:
    """Forget a repository (admins); refused while instances are bound to it. Git keeps
    every file."""
    from helmforge.services.remote_gitops import remove_repository as removed

    with remote_errors():
        removed(server=server, token=token(), name=name)
    typer.echo(f"removed repository {name}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``gitops`` group to the ``helmforge`` application."""
    app.add_typer(gitops_app, name="gitops")
