"""Command groups of the ``helmforge`` command, and the ``--help`` flag every group carries.

Help is Click's plain text (``rich_markup_mode=None``): Rich's help renderer alone took longer
to import than the whole ``--help`` budget (<= 150 ms), and it read ``NAME[@VERSION]`` in a
help text as a markup tag and dropped it.

A group's ``--help`` is an ordinary flag of the group's callback (default False) rather than
Typer's own (default None). Typer coerces every parameter it parses through pydantic, except a
flag that is already a bool; its own ``--help`` of each group on the way would otherwise make
``helmforge COMMAND --help`` import pydantic for a flag nobody gave.
"""

from __future__ import annotations

__all__ = ["HelpFlag", "command_group"]

from typing import Annotated

import typer


def _print_help(context: typer.Context, show: bool) -> None:
    if show:
        typer.echo(context.get_help(), color=context.color)
        raise typer.Exit()


HelpFlag = Annotated[
    bool,
    typer.Option(
        "--help",
        help="Show this message and exit.",
        is_eager=True,
        expose_value=False,
        callback=_print_help,
    ),
]


def _group_options(_help: HelpFlag = False) -> None:
    pass


def command_group(*, help_text: str) -> typer.Typer:
    """A group of commands (``helmforge template ...``, say) described by ``help_text``."""
    group = typer.Typer(
        no_args_is_help=True,
        help=help_text,
        rich_markup_mode=None,
        add_help_option=False,
    )
    group.callback()(_group_options)
    return group
