"""The `helmforge` command: a thin registry of command modules whose commands call the services.

Each module under ``helmforge.cli`` has ``register(app)``; ``COMMAND_MODULES`` says which
top-level commands it adds. ``run()`` imports only the module of the command being run (all of
them for ``--help`` or an unknown name), and each command imports its services inside its
function, so one ``helmforge generate`` does not pay for the imports of ``push`` or ``serve``
(DESIGN goal: one chart from a cold process in <= 300 ms, ``--help`` in <= 150 ms).
Adding a command module: write its ``register`` and add one line to ``COMMAND_MODULES``.

Help is plain text, and every group's ``--help`` is its own flag: see ``helmforge.cli.groups``.
``PLAIN_COMMANDS`` are called directly when their arguments are plain, without Typer's parser
and the pydantic it loads (``helmforge.cli.plain_arguments``).
Uncaught errors print Python's own traceback, not Rich's.
"""

from __future__ import annotations

__all__ = ["COMMAND_MODULES", "PLAIN_COMMANDS", "build_app", "run"]

import functools
import importlib
import sys
from typing import Annotated, Any

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
#: Commands run without Typer's parser when their arguments are plain (see
#: ``helmforge.cli.plain_arguments``): the function named like the command in its module.
#: ``push`` is run over and over by CI jobs, mostly for charts that are published already.
PLAIN_COMMANDS: dict[str, str] = {"push": "publishing", "versions": "publishing"}


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
def _full_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> Any:
    # ``from helmforge.cli.main import app`` (tests, embedding) gets every command.
    if name == "app":
        return _full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in PLAIN_COMMANDS and sys.argv[1] == command:
        from helmforge.cli.plain_arguments import call_plain

        module = importlib.import_module(f"helmforge.cli.{PLAIN_COMMANDS[command]}")
        call_plain(getattr(module, command), sys.argv[2:])  # exits unless Typer must parse
    build_app(command)()


if __name__ == "__main__":
    run()
