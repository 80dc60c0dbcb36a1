"""``helmforge fleet verify|impact|rollout`` (DESIGN §10): fleet work on a server, as jobs."""

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


def _wave(text: str) -> dict[str, Any]:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (keys product, customer, environment, and
    ``max_parallel``: how many of the wave's instances are upgraded at once)."""
    name, _, rest = text.partition(":")
    chosen: dict[str, str] = {}
    wave: dict[str, Any] = {"name": name, "filter": chosen}
    for part in filter(None, rest.split(",")):
        key, equals, value = part.partition("=")
        if not equals:
            raise typer.BadParameter(f"{part!r} in --wave {text!r} is not KEY=VALUE")
        if key.strip() == "max_parallel":
            # A number goes as one; anything else as typed, for the server to name.
            number = value.strip()
            wave["max_parallel"] = int(number) if number.isdecimal() else number
        else:
            chosen[key.strip()] = value.strip()
    return wave


@fleet_app.command("rollout")
def rollout(
    template: Annotated[str, typer.Argument(help="NAME@VERSION: the version to roll out.")],
    *,
    server: Server,
    waves: Annotated[
        list[str],
        typer.Option(
            "--wave",
            envvar="HELMFORGE_WAVES",
            help="A wave, in order: NAME or NAME:environment=dev,customer=acme (repeat); "
            "max_parallel=N among them upgrades N of its instances at once (1 to 20).",
        ),
    ],
    version: Annotated[
        str | None,
        typer.Option("--version", envvar="HELMFORGE_VERSION", help="New app version."),
    ] = None,
    stop_on: Annotated[
        str,
        typer.Option("--stop-on", envvar="HELMFORGE_STOP_ON", help="failure or unhealthy."),
    ] = "failure",
    wait: Wait = False,
) -> None:
    """Upgrade the template's instances to TEMPLATE wave by wave; prints the rollout (JSON),
    or with --wait waits for its job and prints the rollout as it ended."""
    import json

    from helmforge.services.remote_jobs import rollout as remote_rollout
    from helmforge.services.remote_jobs import wait_job

    body: dict[str, Any] = {
        "template": template,
        "waves": [_wave(wave) for wave in waves],
        "stop_on": stop_on,
    }
    if version:
        body["version"] = version
    token = os.environ.get("HELMFORGE_TOKEN", "")
    with reporting_errors():
        started = remote_rollout(server=server, token=token, rollout_id=None, body=body)
        if wait:
            wait_job(server=server, token=token, job_id=str(started["job"]))
            started = remote_rollout(server=server, token=token, rollout_id=started["rollout"])
    typer.echo(json.dumps(started, indent=2, sort_keys=True))
    if started.get("state") in ("failed", "aborted"):
        raise typer.Exit(1)


@fleet_app.command("rollout-control")
def rollout_control(
    rollout_id: Annotated[str, typer.Argument(help="The rollout's id.")],
    action: Annotated[str, typer.Argument(help="show, pause, resume, abort or rollback.")],
    *,
    server: Server,
    wave: Annotated[
        str | None,
        typer.Option("--wave", envvar="HELMFORGE_WAVE", help="rollback: only this wave."),
    ] = None,
) -> None:
    """Show a rollout or pause, resume, abort or roll it back; prints it (JSON)."""
    import json

    from helmforge.services.remote_jobs import rollout as remote_rollout

    token = os.environ.get("HELMFORGE_TOKEN", "")
    with reporting_errors():
        found = remote_rollout(
            server=server,
            token=token,
            rollout_id=rollout_id,
            action=None if action == "show" else action,
            body={"wave": wave} if wave else None,
        )
    typer.echo(json.dumps(found, indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    """Add ``fleet`` to the ``helmforge`` application."""
    app.add_typer(fleet_app, name="fleet")
