"""``helmforge template ...``: commands on template files.

``template_app`` is the ``template`` command group; other modules may add commands to it
(``template init`` comes with the catalog import).
"""

from __future__ import annotations

__all__ = ["register", "template_app"]

from pathlib import Path
from typing import Annotated

import typer

from helmforge.cli.errors import abort, reporting_errors
from helmforge.cli.groups import command_group

template_app = command_group(help_text="Validate and create templates.")


@template_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Template files to check.")],
) -> None:
    """Check template files: format, placeholders, and resources against their Kubernetes schema.

    Prints every problem as FILE:LINE: PATH: MESSAGE; warnings (such as an unknown CRD kind)
    do not fail the check.
    """
    with reporting_errors():
        from helmforge.core.errors import InputError
        from helmforge.services.generation import check_template_file

        failed = 0
        for path in files:
            try:
                problems = check_template_file(path)
            except InputError as error:
                failed += 1
                for item in error.problems or (error,):
                    typer.echo(str(item), err=True)
                continue
            for problem in problems:
                typer.echo(str(problem), err=True)
            if any(problem.is_error for problem in problems):
                failed += 1
            else:
                typer.echo(f"{path}: ok")
    if failed:
        abort(f"{failed} of {len(files)} template file(s) have errors")


def register(app: typer.Typer) -> None:
    """Add the ``template`` command group to the ``helmforge`` application."""
    app.add_typer(template_app, name="template")
