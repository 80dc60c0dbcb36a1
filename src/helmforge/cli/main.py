"""The `helmforge` console script: plain pushes without Typer, everything else through it.

``PLAIN_COMMANDS`` are called directly when their arguments are plain, without Typer, Click
and the pydantic they load (``helmforge.cli.plain_arguments``): ``push`` is run over and over
by CI jobs, mostly for charts that are published already, and importing Typer alone was 7%
of the instructions of such a run (valgrind, 100 archives). Any other command line goes to the
Typer application (``helmforge.cli.application``: ``COMMAND_MODULES``, ``build_app``), which
imports only the modules of the command being run.
"""

from __future__ import annotations

__all__ = ["PLAIN_COMMANDS", "run"]

import importlib
import sys
from typing import Any

#: Commands run without Typer when their arguments are plain (see
#: ``helmforge.cli.plain_arguments``): the function named like the command in its module.
PLAIN_COMMANDS: dict[str, str] = {"push": "publishing", "versions": "publishing"}


def __getattr__(name: str) -> Any:
    # ``from helmforge.cli.main import app`` (tests, embedding) gets every command; the
    # application's names stay importable from here, loading Typer only when asked for.
    if name in ("app", "build_app", "COMMAND_MODULES"):
        from helmforge.cli import application

        return application.full_app() if name == "app" else getattr(application, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in PLAIN_COMMANDS and sys.argv[1] == command:
        from helmforge.cli.plain_arguments import call_plain

        module = importlib.import_module(f"helmforge.cli.{PLAIN_COMMANDS[command]}")
        call_plain(getattr(module, command), sys.argv[2:])  # exits unless Typer must parse
    from helmforge.cli.application import build_app

    build_app(command)()


if __name__ == "__main__":
    run()
