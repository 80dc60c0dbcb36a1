"""The `helmforge` command: a Typer application whose commands call the services."""

from __future__ import annotations

import typer

from helmforge.cli import catalog, charts, publishing, server, templates

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="helmforge: governed Helm charts."
)


@app.callback()
def main() -> None:
    """helmforge: governed Helm charts at fleet scale."""


templates.register(app)
charts.register(app)
publishing.register(app)
server.register(app)
catalog.register(app)


def run() -> None:
    """Console-script entry point."""
    app()
