"""The Typer application of the `helmforge` command: a thin registry of command modules.

Each module under ``helmforge.cli`` has ``register(app)``; ``COMMAND_MODULES`` says which
top-level commands it adds. ``build_app(command)`` imports only the modules of the command
being run (all of them for ``--help`` or an unknown name), and each command imports its
services inside its function, so one ``helmforge generate`` does not pay for the imports of
``push`` or ``serve`` (DESIGN goal: one chart from a cold process in <= 300 ms, ``--help`` in
<= 150 ms). Adding a command module: write its ``register`` and add one line to
``COMMAND_MODULES``.

Help is plain text, and every group's ``--help`` is its own flag: see ``helmforge.cli.groups``.
Uncaught errors print Python's own traceback, not Rich's.
"""

from __future__ import annotations

__all__ = ["COMMAND_MODULES", "build_app", "full_app"]

import functools
import importlib
from typing import Annotated

import typer

from helmforge.cli.groups import HelpFlag

#: Command module (under helmforge.cli) -> the top-level commands its ``register`` adds.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "templates": ("template",),
    "charts": ("generate", "package", "lint"),
    "publishing": ("push", "versions"),
    "server": ("serve", "migrate", "build", "users", "tokens"),
    "catalog": ("import", "catalog", "schemas", "template"),  # adds `template init`
    "access": ("bindings", "policy", "can", "changes"),
    "instances": ("instances",),
    "values": ("values",),
    "gitops": ("gitops",),
    "argocd": ("argocd",),
    "instance_sync": ("instances",),  # adds `instances sync` to the group of instances
    "jobs": ("jobs",),
    "fleet": ("fleet",),
}


def _print_version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"helmforge {version('helmforge')}")
        raise typer.Exit()


def _main(
    _help: HelpFlag = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print helmforge's version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """helmforge: governed Helm charts at fleet scale."""


def build_app(command: str | None = None) -> typer.Typer:
    """The application with the modules that register ``command`` (all modules for ``None``
    or an unknown command)."""
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="helmforge: governed Helm charts.",
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_help_option=False,  # _main's own --help (HelpFlag): see helmforge.cli.groups
    )
    app.callback()(_main)
    modules = [name for name, commands in COMMAND_MODULES.items() if command in commands]
    for name in modules or COMMAND_MODULES:
        importlib.import_module(f"helmforge.cli.{name}").register(app)
    return app


@functools.cache
def full_app() -> typer.Typer:
    """The application with every command (built once)."""
    return build_app()
