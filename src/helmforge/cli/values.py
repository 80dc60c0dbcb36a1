"""``helmforge values get|set|edit|history|rollback INSTANCE`` (DESIGN §6) against a server.

Every change names the revision it was made on (``If-Match``): ``--if-match REV``, or else the
revision read just before the change is computed, so a change someone made in between is
refused with its diff (exit 1) instead of being overwritten. A change in an environment that
needs approval prints ``change request N awaits approval``.
"""

from __future__ import annotations

__all__ = ["register", "values_app"]

from typing import Annotated

import typer

from helmforge.cli.errors import abort, one_of
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

values_app = command_group(help_text="The values (overrides) of an instance, in its Git folder.")

InstanceArgument = Annotated[
    str,
    typer.Argument(
        metavar="INSTANCE",
        help="PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE, e.g. shop/acme/dev/eu-1.",
        callback=checked_instance,
    ),
]
IfMatchOption = Annotated[
    str | None,
    typer.Option(
        "--if-match",
        envvar="HELMFORGE_IF_MATCH",
        help="The revision you edited (values get prints it); default: the current one.",
    ),
]
MessageOption = Annotated[
    str | None,
    typer.Option("--message", "-m", envvar="HELMFORGE_MESSAGE", help="Why (the commit's body)."),
]


@values_app.command("get")
def get(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    effective: Annotated[
        bool,
        typer.Option(
            "--effective",
            envvar="HELMFORGE_EFFECTIVE",
            help="The values Helm gets (chart defaults and overrides merged).",
        ),
    ] = False,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            envvar="HELMFORGE_OUTPUT",
            help="yaml or json.",
            callback=one_of("yaml", "json"),
        ),
    ] = "yaml",
) -> None:
    """Print the instance's values.yaml as it is in Git (or --effective values); its
    revision goes to stderr (give it to set or edit as --if-match)."""
    from helmforge.core.yaml_codec import dump_yaml
    from helmforge.services.remote_instances import show_instance, values_of

    with remote_errors():
        shown = show_instance(server=server, token=token(), instance=instance)
        revision, values, text = values_of(shown)
        if effective:
            merged = shown.get("effective_values")
            if not isinstance(merged, dict):
                abort(f"the server could not merge the values of {instance} with its chart")
            values, text = merged, dump_yaml(merged)
    typer.echo(f"revision {revision}", err=True)
    if output == "json":
        print_json({"revision": revision, "values": values})
        return
    typer.echo(text, nl=False)


@values_app.command("set")
def set_command(
    instance: InstanceArgument,
    assignments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATH=VALUE...",
            help="A dotted path (image.tag, env[0].value, a\\.b) and a YAML value: 3, '3', "
            "true, [a, b], {cpu: 1}.",
            show_default=False,
        ),
    ] = None,
    *,
    server: ServerOption,
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            envvar="HELMFORGE_UNSET",
            help="Remove the override at PATH (the chart's default applies again). Repeatable.",
        ),
    ] = None,
    if_match: IfMatchOption = None,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Set values at paths of the instance's overrides: one commit, comments kept."""
    if not assignments and not unset:
        raise typer.BadParameter(
            "name at least one PATH=VALUE to set (or --unset PATH)", param_hint="PATH=VALUE..."
        )
    from helmforge.services.remote_instances import set_values

    with remote_errors():
        answer = set_values(
            server=server,
            token=token(),
            instance=instance,
            assignments=assignments or [],
            unset=unset or [],
            if_match=if_match,
            message=message,
        )
    print_change(answer, output=output, what=f"values of {instance}")


@values_app.command("edit")
def edit(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    file: Annotated[
        str,
        typer.Option(
            "-f",
            "--file",
            envvar="HELMFORGE_VALUES_FILE",
            help="values.yaml of the whole overrides (- for stdin), committed as written.",
        ),
    ],
    if_match: IfMatchOption = None,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Replace the instance's values.yaml with FILE as written (its comments and key order;
    strings YAML 1.1 would misread are quoted): one commit."""
    from helmforge.services.remote_instances import edit_values, read_values_file

    with remote_errors():
        values = read_values_file(file)
        answer = edit_values(
            server=server,
            token=token(),
            instance=instance,
            values=values,
            if_match=if_match,
            message=message,
        )
    print_change(answer, output=output, what=f"values of {instance}")


@values_app.command("history")
def history(
    instance: InstanceArgument,
    *,
    server: ServerOption,
    limit: Annotated[
        int,
        typer.Option("--limit", envvar="HELMFORGE_LIMIT", min=1, max=500, help="Newest N."),
    ] = 20,
    diff: Annotated[
        bool, typer.Option("--diff", envvar="HELMFORGE_DIFF", help="Show each commit's diff.")
    ] = False,
    output: OutputOption = "text",
) -> None:
    """The commits that changed the instance, newest first: revision, when, who, subject."""
    from helmforge.services.remote_instances import values_history

    with remote_errors():
        entries = values_history(server=server, token=token(), instance=instance, limit=limit)
    if output == "json":
        print_json(entries)
        return
    for entry in entries:
        subject = str(entry.get("message") or "").split("\n", 1)[0]
        typer.echo(f"{entry.get('revision')}\t{entry.get('at')}\t{entry.get('author')}\t{subject}")
        if diff and entry.get("diff"):
            typer.echo(str(entry["diff"]).rstrip("\n"))


@values_app.command("rollback")
def rollback(
    instance: InstanceArgument,
    revision: Annotated[str, typer.Argument(help="The revision whose values.yaml to restore.")],
    *,
    server: ServerOption,
    message: MessageOption = None,
    output: OutputOption = "text",
) -> None:
    """Restore values.yaml as it was at REVISION, as a new commit (history stays)."""
    from helmforge.services.remote_instances import instance_action

    body = {"revision": revision, **({"message": message} if message else {})}
    with remote_errors():
        answer = instance_action(
            server=server, token=token(), instance=instance, action="rollback", body=body
        )
    print_change(answer, output=output, what=f"values of {instance}")


def register(app: typer.Typer) -> None:
    """Add the ``values`` group to the ``helmforge`` application."""
    app.add_typer(values_app, name="values")
