"""``helmforge instances sync INSTANCE`` (DESIGN §6) against a server.

It joins the ``instances`` group of ``cli.instances``: the server syncs the instance's exact
pushed chart version and commit with Argo CD (auto-sync environments: Argo CD syncs after a
refresh) and answers once Argo CD reports it ``Succeeded`` and ``Healthy``.
"""

from __future__ import annotations

__all__ = ["register"]

import typer

from helmforge.cli.instances import InstanceArgument, instances_app
from helmforge.cli.server_answers import (
    OutputOption,
    ServerOption,
    print_json,
    remote_errors,
    token,
)


@instances_app.command("sync")
def sync(
    instance: InstanceArgument, *, server: ServerOption, output: OutputOption = "text"
) -> None:
    """Sync the instance with Argo CD: the exact chart version and commit helmforge pushed
    (auto-sync environments: Argo CD syncs after a refresh); waits until Argo CD reports it
    Succeeded and Healthy, or the server's deadline passes."""
    from helmforge.services.remote_argocd import sync_instance

    with remote_errors():
        answer = sync_instance(server=server, token=token(), instance=instance)
    if output == "json":
        print_json(answer)
        return
    typer.echo(
        f"{answer.get('instance')}: {answer.get('mode')} sync of chart "
        f"{answer.get('chart_version')} at revision {answer.get('revision')} on "
        f"{answer.get('server')}: {answer.get('phase')}, {answer.get('health')}"
    )


def register(app: typer.Typer) -> None:
    """Nothing of its own: ``sync`` is a command of the ``instances`` group, which
    ``cli.instances`` adds to the application."""
