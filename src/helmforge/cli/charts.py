"""``helmforge generate``, ``helmforge package`` and ``helmforge lint``.

Services are imported inside each command, so that ``helmforge --help`` and a single
``generate`` start quickly (DESIGN goal: one chart from a cold process in <= 300 ms).
"""

from __future__ import annotations

__all__ = ["register"]

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from helmforge.cli.errors import abort, reporting_errors

if TYPE_CHECKING:
    from helmforge.core.contexts import Context
    from helmforge.services.generation import GenerationResult, TemplateSource

OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        envvar="HELMFORGE_OUT",
        help="Folder to write into (created when missing); on error nothing is left in it.",
        file_okay=False,
    ),
]


def _label_option(name: str, what: str) -> Any:
    return typer.Option(f"--{name}", envvar=f"HELMFORGE_{name.upper()}", help=what)


def _progress_reporter(total_hint: int) -> tuple[Any, Any]:
    """A progress callback drawing a rich bar on a terminal, and a function closing it.

    The bar starts on the first callback, after worker processes exist (rich draws from a
    thread, and forking a threaded process is unsafe).
    """
    if total_hint < 2 or not sys.stderr.isatty():
        return None, lambda: None
    state: dict[str, Any] = {}

    def on_progress(done: int, total: int) -> None:
        if "bar" not in state:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            bar = Progress(
                "generating",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("charts", total=total)
        state["bar"].update(state["task"], completed=done)

    def close() -> None:
        if "bar" in state:
            state["bar"].stop()

    return on_progress, close


def _contexts(contexts_file: Path | None, labels: dict[str, str | None]) -> list[Context]:
    from helmforge.core.contexts import contexts_from_document, parse_context
    from helmforge.core.errors import InputError, Location
    from helmforge.core.yaml_codec import load_single

    given = [f"--{key}" for key, value in labels.items() if value is not None]
    if contexts_file is not None:
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} cannot be combined with --contexts", param_hint="--contexts"
            )
        try:
            content = contexts_file.read_bytes()
        except OSError as error:
            raise InputError(
                f"cannot read contexts file: {error.strerror}",
                location=Location(str(contexts_file)),
            ) from None
        document = load_single(content, source=str(contexts_file)).data
        return contexts_from_document(document, source=str(contexts_file))
    missing = [f"--{key}" for key, value in labels.items() if value is None]
    if missing:
        raise typer.BadParameter(
            f"give {', '.join(missing)} (one context) or --contexts FILE (a fleet)",
            param_hint=", ".join(missing),
        )
    return [parse_context(labels, location=Location("command line"))]


def _template_source(template: str, server: str | None) -> TemplateSource:
    """The file, or the stored template (local store, or ``server``), that TEMPLATE names.

    A stored deprecated version named explicitly is used with a warning on stderr. An
    existing file is returned before the store modules are imported (cold start).
    """
    if template and Path(template).exists():
        return Path(template)
    from helmforge.services.template_sources import (
        classify_template_argument,
        load_from_local_store,
        load_from_server,
    )

    source = classify_template_argument(template)
    if isinstance(source, Path):
        return source
    if server:
        token = os.environ.get("HELMFORGE_TOKEN", "")
        resolved = load_from_server(source, server=server, token=token)
    else:
        resolved = load_from_local_store(source, environ=os.environ)
    if resolved.warning is not None:
        typer.echo(f"helmforge: warning: {resolved.warning}", err=True)
    return resolved.template


def _summary(result: GenerationResult, *, package: bool) -> str:
    what = "archive" if package else "chart"
    count = len(result.paths)
    plural = "" if count == 1 else "s"
    processes = "" if result.workers == 1 else f" on {result.workers} processes"
    return f"generated {count} {what}{plural} in {result.seconds:.2f} s{processes}"


def generate(
    template: Annotated[
        str,
        typer.Argument(
            help="Template file, or NAME[@VERSION] of a published template in the store "
            "(the local one, or --server's); without @VERSION the newest published."
        ),
    ],
    *,
    out: OutOption,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="HELMFORGE_SERVER",
            help="Read NAME[@VERSION] from this helmforge server (token: HELMFORGE_TOKEN) "
            "instead of the local store; the chart is still rendered here.",
        ),
    ] = None,
    product: Annotated[str | None, _label_option("product", "Context: product.")] = None,
    customer: Annotated[str | None, _label_option("customer", "Context: customer.")] = None,
    environment: Annotated[
        str | None, _label_option("environment", "Context: environment.")
    ] = None,
    instance: Annotated[str | None, _label_option("instance", "Context: instance.")] = None,
    version: Annotated[
        str | None, _label_option("version", "Context: the application version.")
    ] = None,
    contexts: Annotated[
        Path | None,
        typer.Option(
            "--contexts",
            envvar="HELMFORGE_CONTEXTS",
            help="CONTEXTS.yaml (matrix and/or list): one chart per context.",
            dir_okay=False,
        ),
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            envvar="HELMFORGE_SET",
            help="Override a value, Helm style: a.b=1, list[0]=x, a={x,y}. Repeatable.",
        ),
    ] = None,
    value_files: Annotated[
        list[Path] | None,
        typer.Option(
            "-f",
            "--values",
            envvar="HELMFORGE_VALUES",
            help="YAML file of value overrides, applied in order before --set. Repeatable.",
            dir_okay=False,
        ),
    ] = None,
    chart_version: Annotated[
        str | None,
        typer.Option(
            "--chart-version",
            envvar="HELMFORGE_CHART_VERSION",
            help="Chart version (SemVer); default: the app version when it is SemVer.",
        ),
    ] = None,
    package: Annotated[
        bool,
        typer.Option(
            "--package",
            envvar="HELMFORGE_PACKAGE",
            help="Write only DIR/<chart>-<version>.tgz archives, no folders.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            envvar="HELMFORGE_WORKERS",
            help="Processes for a fleet (default: one per CPU for large fleets).",
            min=1,
        ),
    ] = None,
) -> None:
    """Generate a chart for one context, or a fleet of charts from --contexts."""
    labels = {
        "product": product,
        "customer": customer,
        "environment": environment,
        "instance": instance,
        "version": version,
    }
    with reporting_errors():
        from helmforge.services.generation import generate_charts
        from helmforge.services.overrides import build_overrides

        targets = _contexts(contexts, labels)
        overrides = build_overrides(value_files=value_files or (), assignments=set_values or ())
        source = _template_source(template, server)
        on_progress, close = _progress_reporter(len(targets))
        try:
            result = generate_charts(
                source,
                targets,
                out_dir=out,
                overrides=overrides,
                chart_version=chart_version,
                package=package,
                workers=workers,
                on_progress=on_progress,
            )
        finally:
            close()
    typer.echo("\n".join(str(path) for path in result.paths))
    if contexts is not None:
        typer.echo(_summary(result, package=package), err=True)


def package(
    chart_dir: Annotated[Path, typer.Argument(help="Chart folder to pack.")],
    out: OutOption,
) -> None:
    """Pack a chart folder into a byte-reproducible DIR/<name>-<version>.tgz."""
    with reporting_errors():
        from helmforge.services.generation import package_chart_folder

        path = package_chart_folder(chart_dir, out_dir=out)
    typer.echo(str(path))


def lint(
    chart: Annotated[Path, typer.Argument(help="Chart folder or .tgz.")],
) -> None:
    """Check a chart: helmforge's own checks, then Helm lint (when helm-sdkpy is installed)."""
    with reporting_errors():
        from helmforge.services.chart_checks import lint_chart

        report = lint_chart(chart)
    for problem in report.problems:
        typer.echo(f"{chart}: {problem}")
    for finding in report.helm.findings:
        if finding.severity < 2:  # info: Helm gives no message, only the file
            continue
        typer.echo(f"{chart}: helm lint {finding.severity_name}: {finding.path}")
    if not report.helm.ran:
        typer.echo(f"helmforge: note: {report.helm.note}", err=True)
    if not report.ok:
        errors = len(report.helm.errors)
        abort(f"{chart}: lint failed: {len(report.problems)} problem(s), {errors} Helm error(s)")
    typer.echo(f"{chart}: ok")


def register(app: typer.Typer) -> None:
    """Add generate, package and lint to the ``helmforge`` application."""
    app.command("generate")(generate)
    app.command("package")(package)
    app.command("lint")(lint)
