"""``helmforge argocd add-server|list-servers|remove-server`` (DESIGN §6) against a server:
the Argo CD servers instances are synced by (admins configure them). ``instances sync`` is in
``cli.instance_sync``.

The Argo CD token never travels on the command line: it comes from stdin (``--token-stdin``)
or HELMFORGE_ARGOCD_TOKEN; the server stores it encrypted and never shows it again.
"""

from __future__ import annotations

__all__ = ["argocd_app", "register"]

import os
import sys
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

if TYPE_CHECKING:
    from helmforge.core.secrets import Secret

argocd_app = command_group(help_text="The Argo CD servers of a helmforge server.")

NameArgument = Annotated[str, typer.Argument(help="The Argo CD server's name in helmforge.")]


def _argocd_token(token_stdin: bool) -> Secret:
    from helmforge.core.secrets import Secret

    if token_stdin:
        return Secret(sys.stdin.readline().rstrip("\r\n"))
    from_env = os.environ.get("HELMFORGE_ARGOCD_TOKEN")
    if not from_env:
        abort("an Argo CD server needs its API token: use --token-stdin or HELMFORGE_ARGOCD_TOKEN")
    return Secret(from_env)


def _row(item: dict[str, Any]) -> str:
    return "\t".join(
        (
            str(item.get("name")),
            str(item.get("url")),
            f"project {item.get('project')}",
            "insecure" if item.get("insecure") else "tls verified",
            "token set" if item.get("has_token") else "no token",
        )
    )


@argocd_app.command("add-server")
def add_server(
    name: NameArgument,
    *,
    server: ServerOption,
    url: Annotated[
        str,
        typer.Option(
            "--url", envvar="HELMFORGE_ARGOCD_URL", help="https://host[:port] of the Argo CD API."
        ),
    ],
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            envvar="HELMFORGE_ARGOCD_TOKEN_STDIN",
            help="Read the Argo CD API token from stdin (else HELMFORGE_ARGOCD_TOKEN).",
        ),
    ] = False,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            envvar="HELMFORGE_ARGOCD_PROJECT",
            help="The Argo CD project of the instances' Applications (default: default).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            envvar="HELMFORGE_ARGOCD_INSECURE",
            help="Do not verify the Argo CD server's TLS certificate.",
        ),
    ] = False,
    output: OutputOption = "text",
) -> None:
    """Configure an Argo CD server on the helmforge server (admins). Nothing is asked of
    Argo CD yet."""
    from helmforge.services.remote_argocd import add_server as added

    secret = _argocd_token(token_stdin)
    with remote_errors():
        answer = added(
            server=server,
            token=token(),
            name=name,
            url=url,
            argocd_token=secret,
            insecure=insecure,
            project=project,
        )
    if output == "json":
        print_json(answer)
        return
    typer.echo(_row(answer))


@argocd_app.command("list-servers")
def list_servers(*, server: ServerOption, output: OutputOption = "text") -> None:
    """List the configured Argo CD servers: name, URL, project, TLS, token (tab-separated;
    never the token itself)."""
    from helmforge.services.remote_argocd import list_servers as listed

    with remote_errors():
        items = listed(server=server, token=token())
    if output == "json":
        print_json(items)
        return
    for item in items:
        typer.echo(_row(item))


@argocd_app.command("remove-server")
def remove_server(name: NameArgument, *, server: ServerOption) -> None:
    """Forget an Argo CD server (admins); refused while instances are bound to it. Its
    Applications stay in Argo CD."""
    from helmforge.services.remote_argocd import remove_server as removed

    with remote_errors():
        removed(server=server, token=token(), name=name)
    typer.echo(f"removed Argo CD server {name}", err=True)


@argocd_app.command("applicationset")
def application_set(
    name: NameArgument,
    *,
    server: ServerOption,
    repository: Annotated[
        str,
        typer.Option(
            "--repository",
            envvar="HELMFORGE_REPOSITORY",
            help="The GitOps repository whose instances it generates.",
        ),
    ],
) -> None:
    """Print the ApplicationSet that generates every instance's Application of a repository
    from its application.yaml (apply it once: kubectl apply -f -), instead of one
    Application applied per instance (admins)."""
    from helmforge.services.remote_argocd import application_set as rendered

    with remote_errors():
        text = rendered(server=server, token=token(), name=name, repository=repository)
    typer.echo(text, nl=not text.endswith("\n"))


def register(app: typer.Typer) -> None:
    """Add the ``argocd`` group to the ``helmforge`` application."""
    app.add_typer(argocd_app, name="argocd")
