"""``helmforge fleet verify|impact`` (DESIGN §10): fleet work on a server, as a job."""

from __future__ import annotations

__all__ = ["register"]

import os
from typing import Annotated, Any

import typer

from helmforge.cli.errors import reporting_errors
from helmforge.cli.groups import command_group

fleet_app = command_group(help_text="Fleet operations over the instances you may read.")

Server = Annotated[str, typer.Option("--server", envvar="HELMFORGE_SERVER", help="Server URL.")]
Product = Annotated[
    str | None, typer.Option("--product", envvar="HELMFORGE_PRODUCT", help="Only this product.")
]
Customer = Annotated[
    str | None,
    typer.Option("--customer", envvar="HELMFORGE_CUSTOMER", help="Only this customer."),
]
Environment = Annotated[
    str | None,
    typer.Option("--environment", envvar="HELMFORGE_ENVIRONMENT", help="Only this environment."),
]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        envvar="HELMFORGE_WAIT",
        help="Wait for the job and print its result (else print the job's id).",
    ),
]


def _filter(product: str | None, customer: str | None, environment: str | None) -> dict[str, Any]:
    chosen = {"product": product, "customer": customer, "environment": environment}
    return {key: value for key, value in chosen.items() if value}


def _run(action: str, body: dict[str, Any], *, server: str, wait: bool) -> None:
    from helmforge.cli.jobs import print_job
    from helmforge.services.remote_jobs import start_fleet_job, wait_job

    token = os.environ.get("HELMFORGE_TOKEN", "")
    with reporting_errors():
        job_id = start_fleet_job(server=server, token=token, action=action, body=body)
        if not wait:
            typer.echo(job_id)
            return
        job = wait_job(server=server, token=token, job_id=job_id)
    print_job(job)


@fleet_app.command("verify")
def verify(
    *,
    server: Server,
    product: Product = None,
    customer: Customer = None,
    environment: Environment = None,
    wait: Wait = False,
) -> None:
    """Verify the instances: charts re-derived from their recorded inputs against the
    registry's tags and application.yaml, values.yaml against helmforge's last commit."""
    body: dict[str, Any] = {}
    chosen = _filter(product, customer, environment)
    if chosen:
        body["filter"] = chosen
    _run("verify", body, server=server, wait=wait)


@fleet_app.command("impact")
def impact(
    template: Annotated[
        str, typer.Argument(help="NAME@VERSION: the published version to look at.")
    ],
    *,
    server: Server,
    product: Product = None,
    customer: Customer = None,
    environment: Environment = None,
    wait: Wait = False,
) -> None:
    """What moving every instance of the template to TEMPLATE would change: per instance
    identical, values, manifests or breaking, with the diffs and why it is blocked."""
    body: dict[str, Any] = {"template": template}
    chosen = _filter(product, customer, environment)
    if chosen:
        body["filter"] = chosen
    _run("impact", body, server=server, wait=wait)


def register(app: typer.Typer) -> None:
    """Add ``fleet`` to the ``helmforge`` application."""
    app.add_typer(fleet_app, name="fleet")
