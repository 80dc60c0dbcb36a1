"""``helmforge import``, ``helmforge catalog list|show``, ``helmforge schemas import|list`` and
``helmforge template init``.

The database comes from HELMFORGE_DATABASE_URL, else a SQLite file in HELMFORGE_DATA_DIR.
Services are imported inside each command so that ``helmforge --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["register"]

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from helmforge.cli.errors import abort, one_of, reporting_errors
from helmforge.cli.groups import command_group
from helmforge.cli.templates import template_app

if TYPE_CHECKING:
    from helmforge.core.access.principals import Principal
    from helmforge.services.stores import Store

catalog_app = command_group(help_text="Browse the imported Kubernetes objects.")
schemas_app = command_group(help_text="Import and list CRD and OpenAPI schemas.")

PathsArgument = Annotated[
    list[str],
    typer.Argument(help="Files or folders of YAML/JSON; '-' reads stdin.", show_default=False),
]
KubernetesVersionOption = Annotated[
    str,
    typer.Option(
        "--kubernetes-version",
        envvar="HELMFORGE_KUBERNETES_VERSION",
        help="Kubernetes version whose built-in schemas validate the objects.",
    ),
]


KindOption = Annotated[
    str | None, typer.Option("--kind", envvar="HELMFORGE_KIND", help="Only this kind.")
]


def _actor() -> Principal:
    from helmforge.cli.principals import local_principal

    return local_principal()


def _store() -> Store:
    from helmforge.services.catalog import open_catalog
    from helmforge.services.settings import load_settings

    return open_catalog(load_settings(os.environ).database_url)


def _print_problems(error: BaseException) -> None:
    from helmforge.core.errors import InputError

    if isinstance(error, InputError) and len(error.problems) > 1:
        for problem in error.problems:
            typer.echo(str(problem), err=True)


def import_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Files or folders of YAML/JSON; '-' reads stdin.", show_default=False),
    ] = None,
    *,
    kubernetes_version: KubernetesVersionOption = "1.31",
    allow_invalid: Annotated[
        bool,
        typer.Option(
            "--allow-invalid",
            envvar="HELMFORGE_ALLOW_INVALID",
            help="Store objects that fail their schema, flagged invalid, instead of refusing.",
        ),
    ] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            envvar="HELMFORGE_CLUSTER",
            help="Read from a live cluster (needs the kube extra).",
        ),
    ] = False,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            envvar=["HELMFORGE_KUBECONFIG", "KUBECONFIG"],
            help="Kubeconfig file (--cluster).",
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option("--context", envvar="HELMFORGE_KUBE_CONTEXT", help="Kubeconfig context."),
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            envvar="HELMFORGE_KIND",
            help="Kind to read (repeatable; KIND or GROUP/VERSION/KIND).",
        ),
    ] = None,
    namespaces: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            "-n",
            envvar="HELMFORGE_NAMESPACE",
            help="Namespace to read (repeatable; default all).",
        ),
    ] = None,
) -> None:
    """Import Kubernetes objects (files, folders, '-' for stdin, or --cluster) into the catalog.

    Cleans server-side noise, validates every object against its schema, and stores all of
    them in one transaction: on any error nothing is imported.
    """
    from helmforge.core.errors import InputError
    from helmforge.services import catalog

    if bool(paths) == cluster:
        abort("give PATH... or --cluster (not both)", code=2)
    with reporting_errors():
        sources = [] if cluster else catalog.read_paths(paths or [], stdin=sys.stdin.buffer)
        store = _store()
        try:
            if cluster:
                report = catalog.import_from_cluster(
                    store.sessions,
                    kinds=kinds or [],
                    namespaces=namespaces or [],
                    kubeconfig=kubeconfig,
                    context=context,
                    actor=_actor(),
                    kubernetes_version=kubernetes_version,
                    allow_invalid=allow_invalid,
                )
            else:
                report = catalog.import_sources(
                    store.sessions,
                    sources,
                    actor=_actor(),
                    kubernetes_version=kubernetes_version,
                    allow_invalid=allow_invalid,
                )
        except InputError as error:
            _print_problems(error)
            raise
        finally:
            store.engine.dispose()
    for skipped in report.skipped:
        typer.echo(str(skipped), err=True)
    for name, outcome in report.schemas.items():
        typer.echo(f"schema {name}: {outcome}", err=True)
    for item in report.objects:
        flag = "" if item.schema_status == "valid" else f" [{item.schema_status}]"
        typer.echo(f"{item.outcome:9} {item.reference}{flag}")
        for problem in item.problems:
            typer.echo(f"  {problem}", err=True)
    typer.echo(
        f"{report.count('created')} created, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged, {len(report.skipped)} skipped, "
        f"{len(report.without_schema)} without a known schema",
        err=True,
    )


@catalog_app.command("list")
def list_command(
    kind: KindOption = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", envvar="HELMFORGE_NAMESPACE", help="Only here."),
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector", "-l", envvar="HELMFORGE_SELECTOR", help="Label selector, as kubectl -l."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", envvar="HELMFORGE_SOURCE", help="Only from this source."),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            envvar="HELMFORGE_OUTPUT",
            help="table or json.",
            callback=one_of("table", "json"),
        ),
    ] = "table",
) -> None:
    """List catalog objects: KIND/NAMESPACE/NAME, schema status and source."""
    from helmforge.services import catalog

    with reporting_errors():
        store = _store()
        try:
            entries = catalog.list_objects(
                store.sessions,
                actor=_actor(),
                kind=kind,
                namespace=namespace,
                label_selector=selector,
                source=source,
            )
        finally:
            store.engine.dispose()
    if output == "json":
        typer.echo(
            json.dumps(
                [
                    {
                        "apiVersion": entry.api_version,
                        "kind": entry.kind,
                        "namespace": entry.namespace,
                        "name": entry.name,
                        "source": entry.source,
                        "labels": entry.labels,
                        "contentHash": entry.content_hash,
                        "schemaStatus": entry.schema_status,
                    }
                    for entry in entries
                ],
                indent=2,
            )
        )
        return
    for entry in entries:
        typer.echo(f"{entry.reference}\t{entry.schema_status}\t{entry.source}:{entry.line}")


@catalog_app.command("show")
def show_command(
    reference: Annotated[str, typer.Argument(help="Kind/name or Kind/namespace/name.")],
) -> None:
    """Print one catalog object as YAML."""
    from helmforge.core.yaml_codec import dump_yaml
    from helmforge.services import catalog

    with reporting_errors():
        store = _store()
        try:
            entry = catalog.get_object(store.sessions, reference, actor=_actor())
        finally:
            store.engine.dispose()
    typer.echo(dump_yaml(entry.body), nl=False)


@schemas_app.command("import")
def schemas_import_command(paths: PathsArgument) -> None:
    """Import CRDs (every served version), OpenAPI v3 documents or a swagger.json."""
    from helmforge.services import catalog, schemas

    with reporting_errors():
        sources = catalog.read_paths(paths, stdin=sys.stdin.buffer)
        store = _store()
        try:
            report = schemas.import_schema_sources(store.sessions, sources, actor=_actor())
        finally:
            store.engine.dispose()
    for api_version, kind in report.kinds:
        typer.echo(f"{api_version} {kind}")
    typer.echo(
        f"{report.count('created')} created, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged definitions",
        err=True,
    )


@schemas_app.command("list")
def schemas_list_command(kind: KindOption = None) -> None:
    """List imported schema definitions: apiVersion, kind (for objects), name, source."""
    from helmforge.services import schemas

    with reporting_errors():
        store = _store()
        try:
            entries = schemas.list_schema_entries(store.sessions, actor=_actor(), kind=kind)
        finally:
            store.engine.dispose()
    for entry in entries:
        typer.echo(f"{entry.api_version or '-'}\t{entry.kind or '-'}\t{entry.name}\t{entry.source}")


def init_command(
    from_paths: Annotated[
        list[str],
        typer.Option(
            "--from",
            envvar="HELMFORGE_TEMPLATE_FROM",
            help="Files or folders of objects ('-' for stdin), or catalog:KIND/[NS/]NAME entries.",
        ),
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", envvar="HELMFORGE_TEMPLATE_NAME", help="Template name (a DNS-1123 label)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar="HELMFORGE_TEMPLATE_OUT",
            help="Template file to write (default NAME.yaml); an existing one is updated.",
            dir_okay=False,
        ),
    ] = None,
    kubernetes_version: KubernetesVersionOption = "1.31",
) -> None:
    """Create a template from Kubernetes objects, or update the one in --out keeping edits."""
    from helmforge.services.template_bootstrap import init_template_file

    target = out or Path(f"{name}.yaml")
    with reporting_errors():
        result = init_template_file(
            from_paths,
            name=name,
            out=target,
            kubernetes_version=kubernetes_version,
            stdin=sys.stdin.buffer,
            open_store=_store,
            actor=_actor(),
        )
    for skipped in result.skipped:
        typer.echo(str(skipped), err=True)
    for note in result.notes:
        typer.echo(f"changed: {note}", err=True)
    for note in result.not_carried_over:
        typer.echo(f"not carried over: {note}", err=True)
    typer.echo(str(target))


def register(app: typer.Typer) -> None:
    """Add ``import``, ``catalog``, ``schemas`` and ``template init`` to the application."""
    app.command("import")(import_command)
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(schemas_app, name="schemas")
    template_app.command("init")(init_command)
