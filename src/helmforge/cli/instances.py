"""``helmforge instances create|list|show|upgrade|promote`` (DESIGN §6) against a server.

Each command calls the REST API with the token in HELMFORGE_TOKEN; the server checks the
caller's rights and the values, commits and pushes. A change in an environment that needs
approval prints ``change request N awaits approval``. Other modules add commands to this
group through ``instances_app`` (``instances sync``, in ``cli.instance_sync``).
"""

from __future__ import annotations

__all__ = ["instances_app", "register"]

from pathlib import Path
from typing import Annotated, Any

import typer

from helmforge.cli.groups import command_group
from helmforge.cli.server_answers import (
    OutputOption,
    ServerOption,
    checked_instance,
    print_change,
    print_json,
    remote_errors,
    token,
)

instances_app = command_group(
    help_text="Deployed instances PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE on a helmforge server."
)

InstanceArgument = Annotated[
    str,
    typer.Argument(
        metavar="INSTANCE",
        help="PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE, e.g. shop/acme/dev/eu-1.",
        callback=checked_instance,
    ),
]
MessageOption = Annotated[
    str | None,
    typer.Option("--message", "-m", envvar="HELMFORGE_MESSAGE", help="Why (the commit's body)."),
]
SEGMENTS = ("product", "customer", "environment", "instance")


def _segments(instance: str) -> dict[str, str]:
    parts = instance.split("/")
    if len(parts) != 4 or not all(parts):
        raise typer.BadParameter(
            "give PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE, e.g. shop/acme/dev/eu-1",
            param_hint="INSTANCE",
        )
    return dict(zip(SEGMENTS, parts, strict=True))


@instances_app.command("create")
def create(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    template: Annotated[
        str,
        typer.Option("--template", envvar="HELMFORGE_TEMPLATE", help="NAME[@VERSION], published."),
    ],
    version: Annotated[
        str, typer.Option("--version", envvar="HELMFORGE_VERSION", help="The app version.")
    ],
    registry: Annotated[
        str,
        typer.Option("--registry", envvar="HELMFORGE_REGISTRY", help="Configured registry."),
    ],
    repository: Annotated[
        str,
        typer.Option(
            "--repository", envvar="HELMFORGE_REPOSITORY", help="Configured GitOps repository."
        ),
    ],
    argocd: Annotated[
        str | None,
        typer.Option("--argocd", envvar="HELMFORGE_ARGOCD", help="Configured Argo CD server."),
    ] = None,
    value_files: Annotated[
        list[Path] | None,
        typer.Option(
            "-f",
            "--values",
            envvar="HELMFORGE_VALUES",
            help="YAML file of overrides, applied in order before --set. Repeatable.",
            dir_okay=False,
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            envvar="HELMFORGE_SET",
            help="Override a value, Helm style: a.b=1, list[0]=x. Repeatable.",
        ),
    ] = None,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Create an instance: the server builds and publishes its chart, writes values.yaml
    (the overrides) and application.yaml in one commit, and pushes it."""
    body: dict[str, Any] = {
        **_segments(instance),
        "template": template,
        "version": version,
        "registry": registry,
        "repository": repository,
        "argocd": argocd,
    }
    from helmforge.services.overrides import build_overrides
    from helmforge.services.remote_instances import create_instance

    with remote_errors():
        body["values"] = build_overrides(
            value_files=value_files or [], assignments=assignments or []
        )
        if message:
            body["message"] = message
        answer = create_instance(server=server, token=token(), body=body)
    if output == "json" or "change_request" in answer:
        print_change(answer, output=output, what=instance)
        return
    typer.echo(
        f"{answer.get('id')}: created, chart {answer.get('chart')} {answer.get('chart_version')}, "
        f"revision {answer.get('revision')}"
    )


def _row(item: dict[str, Any]) -> str:
    outdated = f"outdated (latest {item.get('latest_template_version')})"
    return "\t".join(
        (
            str(item.get("id")),
            str(item.get("template")),
            f"{item.get('chart')}:{item.get('chart_version')}",
            str(item.get("revision") or "-")[:12],
            outdated if item.get("outdated") else "current",
        )
    )


@instances_app.command("list")
def list_command(
    *,
    server: ServerOption,
    product: Annotated[str | None, typer.Option("--product", envvar="HELMFORGE_PRODUCT")] = None,
    customer: Annotated[str | None, typer.Option("--customer", envvar="HELMFORGE_CUSTOMER")] = None,
    environment: Annotated[
        str | None, typer.Option("--environment", envvar="HELMFORGE_ENVIRONMENT")
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", envvar="HELMFORGE_TEMPLATE", help="Template name."),
    ] = None,
    outdated: Annotated[
        bool | None,
        typer.Option(
            "--outdated/--current",
            envvar="HELMFORGE_OUTDATED",
            help="Only those a newer template version exists for (or only the others).",
        ),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option("--search", "-q", envvar="HELMFORGE_SEARCH", help="Part of id or name."),
    ] = None,
    output: OutputOption = "text",
) -> None:
    """List the instances you may read: id, template, chart:version, revision and whether a
    newer template version is published (tab-separated, by id)."""
    from helmforge.services.remote_instances import list_instances

    filters = {
        "product": product,
        "customer": customer,
        "environment": environment,
        "template": template,
        "outdated": None if outdated is None else str(outdated).lower(),
        "q": search,
    }
    with remote_errors():
        items = list_instances(server=server, token=token(), filters=filters)
    if output == "json":
        print_json(items)
        return
    for item in items:
        typer.echo(_row(item))


def _describe(shown: dict[str, Any]) -> str:
    latest = shown.get("latest_template_version")
    template = str(shown.get("template"))
    if shown.get("outdated"):
        template += f" (outdated: {latest} is published)"
    lines = [
        str(shown.get("id")),
        f"  template     {template}",
        f"  app version  {shown.get('app_version')}",
        f"  chart        {shown.get('chart')} {shown.get('chart_version')} "
        f"(registry {shown.get('registry')})",
        f"  repository   {shown.get('repository')}: {shown.get('values_path')}",
        f"  application  {shown.get('app_name')} in namespace {shown.get('namespace')}"
        + (f" (Argo CD {shown['argocd']})" if shown.get("argocd") else ""),
        f"  revision     {shown.get('revision') or '-'}",
        f"  updated      {shown.get('updated_at')} by {shown.get('updated_by')}",
    ]
    sync = shown.get("sync")
    if isinstance(sync, dict) and sync.get("error"):
        lines.append(f"  argo cd      cannot tell: {sync['error']}")
    elif isinstance(sync, dict):
        lines.append(
            f"  argo cd      {sync.get('status') or 'unknown'}, {sync.get('health') or 'unknown'}"
            f" at {sync.get('revision') or '-'}"
        )
    if not shown.get("fetched", True):
        lines.append(f"  (from the cache: {shown.get('fetch_error')})")
    if shown.get("values_error"):
        lines.append(f"  values.yaml cannot be read: {shown['values_error']}")
    elif shown.get("values_yaml") is not None:
        lines.append("values.yaml:")
        text = str(shown["values_yaml"]).rstrip("\n")
        lines.extend(f"  {line}" for line in text.split("\n") if text)
    return "\n".join(lines)


@instances_app.command("show")
def show(
    instance: InstanceArgument, *, server: ServerOption, output: OutputOption = "text"
) -> None:
    """Show one instance: template, chart, repository, revision and its values.yaml."""
    _segments(instance)
    from helmforge.services.remote_instances import show_instance

    with remote_errors():
        shown = show_instance(server=server, token=token(), instance=instance)
    if output == "json":
        print_json(shown)
        return
    typer.echo(_describe(shown))


@instances_app.command("upgrade")
def upgrade(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            envvar="HELMFORGE_TEMPLATE",
            help="NAME@VERSION to move to (NAME: its newest published version).",
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", envvar="HELMFORGE_VERSION", help="The new app version."),
    ] = None,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Upgrade to another template version and/or app version: a new chart is built and
    published, and application.yaml's chart version bumped, in one commit."""
    _segments(instance)
    body = {
        key: value
        for key, value in (("template", template), ("version", version), ("message", message))
        if value is not None
    }
    _act(instance, "upgrade", body, server=server, output=output)


@instances_app.command("promote")
def promote(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            envvar="HELMFORGE_TO",
            help="Target environment; default the next one (dev -> sit -> uat -> prod).",
        ),
    ] = None,
    values: Annotated[
        list[str] | None,
        typer.Option(
            "--values",
            envvar="HELMFORGE_PROMOTE_VALUES",
            help="A value path (image.tag, env[0].value) whose override is copied too. Repeatable.",
        ),
    ] = None,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Promote INSTANCE's template and app version (and the overrides at --values paths) to
    the same instance in the next environment: one reviewed commit in the target's folder."""
    _segments(instance)
    from helmforge.services.remote_instances import paths_text

    with remote_errors():
        body: dict[str, Any] = {"values": paths_text(values or [])}
    if to is not None:
        body["to"] = to
    if message is not None:
        body["message"] = message
    _act(instance, "promote", body, server=server, output=output)


def _act(instance: str, action: str, body: dict[str, Any], *, server: str, output: str) -> None:
    from helmforge.services.remote_instances import instance_action

    with remote_errors():
        answer = instance_action(
            server=server, token=token(), instance=instance, action=action, body=body
        )
    shown = answer.get("instance")
    what = str(shown.get("id")) if isinstance(shown, dict) else instance
    print_change(answer, output=output, what=what)


def register(app: typer.Typer) -> None:
    """Add the ``instances`` group to the ``helmforge`` application."""
    app.add_typer(instances_app, name="instances")
