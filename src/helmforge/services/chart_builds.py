"""Chart builds: a stored, published template version + a context + values in, a recorded,
reproducible chart archive out.

Each build keeps its exact inputs (template@version, context, values), the chart's name and
versions, the SHA-256 digest of the .tgz, the archive itself, who built it and when. Previews
and effective values render the same way without recording anything.
"""

from __future__ import annotations

__all__ = [
    "ChartBuildView",
    "ChartPreview",
    "EffectiveValues",
    "build_chart",
    "build_files",
    "chart_name_of",
    "defaults_for",
    "effective_values_for",
    "generator",
    "get_archive",
    "get_build",
    "get_builds",
    "instance_chart_archive",
    "list_builds",
    "page_builds",
    "preview_chart",
    "reproduce_archive",
    "target_of",
    "values_schema_of",
]

import hashlib
import platform
import uuid
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session, defer, sessionmaker

from helmforge import __version__
from helmforge.adapters.archives import archive_file_name, pack_chart, read_chart_archive
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.charts.rendering import effective_values, render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError, NotFoundError
from helmforge.core.templates.layering import unset_required
from helmforge.core.templates.models import Template
from helmforge.core.templates.value_schemas import values_schema
from helmforge.services import access, audit
from helmforge.services.paging import Page, PageRequest, contains, fetch_page
from helmforge.services.template_store import (
    TemplateVersionView,
    find_published,
    get_version,
    parse_reference,
    parsed_template,
)


@dataclass(frozen=True, slots=True)
class ChartBuildView:
    id: str
    template: str  # name@version
    context: dict[str, Any]
    values: dict[str, Any]
    name: str
    version: str
    app_version: str
    digest: str  # sha256:<hex> of the .tgz
    size: int
    file_name: str
    created_by: str
    created_at: datetime
    #: What produced the archive's bytes (``generator()`` then); ``None``: not recorded.
    generator: dict[str, str] | None = None


def generator() -> dict[str, str]:
    """What turns a build's inputs into its bytes, beside the inputs: helmforge's version
    (its rendering, its bundled Kubernetes schemas, its archive writer) and the versions of
    what it renders and packs with (Python, zlib's deflate, PyYAML's emitter)."""
    return {
        "helmforge": __version__,
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "pyyaml": yaml.__version__,
    }


@dataclass(frozen=True, slots=True)
class ChartPreview:
    """A rendered chart that was not recorded: ``files`` maps chart-relative paths to text."""

    template: str
    name: str
    version: str
    app_version: str
    files: dict[str, str]


@dataclass(frozen=True, slots=True)
class EffectiveValues:
    """The values a chart would get, and where each leaf comes from (default, a layer, an
    override), as ``effective_values`` of the chart engine reports it."""

    template: str
    values: dict[str, Any]
    provenance: dict[str, Any]


def _view(row: ChartBuildRow) -> ChartBuildView:
    return ChartBuildView(
        id=row.id,
        template=f"{row.template_name}@{row.template_version}",
        context=dict(row.context),
        values=dict(row.values),
        name=row.chart_name,
        version=row.chart_version,
        app_version=row.app_version,
        digest=row.digest,
        size=row.size,
        file_name=archive_file_name(row.chart_name, row.chart_version),
        created_by=row.created_by,
        created_at=row.created_at,
        generator=dict(row.generator) if row.generator else None,
    )


def _inputs(context: Any, values: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not isinstance(context, Mapping):
        raise InputError(
            "context must be an object with product, customer, environment, instance and version"
        )
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise InputError("values must be an object (a mapping of value overrides)")
    return context, values


def _context_target(context: Any) -> Target:
    """The access target of a build: its validated context (``InputError`` when invalid)."""
    raw_context, _ = _inputs(context, None)
    parsed = parse_context(raw_context)
    return Target.of_context(parsed.product, parsed.customer, parsed.environment, parsed.instance)


def target_of(build: ChartBuildView) -> Target:
    """The access target of a recorded build: the context it was built for."""
    return _target_of_context(build.context)


def _stored_target(row: ChartBuildRow) -> Target:
    return _target_of_context(row.context)


def _target_of_context(context: Any) -> Target:
    context = context if isinstance(context, Mapping) else {}
    return Target.of_context(
        *(str(context.get(key, "")) for key in ("product", "customer", "environment", "instance"))
    )


def _render(
    template: Template,
    context: Any,
    values: Any,
    *,
    chart_version: str | None,
    defer_required: bool = False,
    generator_version: str = __version__,
) -> tuple[str, str, str, dict[str, bytes]]:
    raw_context, overrides = _inputs(context, values)
    parsed_context = parse_context(raw_context)
    chart = render_chart(
        template,
        parsed_context,
        schemas=load_schema_set(template.kubernetes_version),
        overrides=overrides,
        chart_version=chart_version,
        generator_version=generator_version,
        defer_required=defer_required,
    )
    return chart.name, chart.version, chart.app_version, dict(chart.files)


def reproduce_archive(template: Template, build: ChartBuildView) -> bytes:
    """The archive ``build``'s recorded inputs give today (``template`` is its parsed
    template version), rendered and packed again without recording anything: fleet
    verification compares its digest with the recorded one. Chart.yaml names the helmforge
    version the build recorded (its ``generator``), as it did then, so an upgrade that renders
    the same bytes reproduces them. Raises ``InputError`` when they no longer render."""
    name, _, _, files = _render(
        template,
        build.context,
        build.values,
        chart_version=build.version,
        defer_required=True,
        generator_version=(build.generator or {}).get("helmforge") or __version__,
    )
    return pack_chart(name, files)


def instance_chart_archive(
    template: Template, context: Mapping[str, str], *, chart_version: str | None = None
) -> tuple[str, bytes]:
    """The chart name and .tgz of an instance's chart as ``instance_upgrades.publish_chart``
    builds it (template and context only, required values left to the instance's values.yaml),
    without recording or publishing anything: what a values preview hands Helm. Raises
    ``InputError`` when the template no longer renders for the context."""
    name, _, _, files = _render(
        template, context, None, chart_version=chart_version, defer_required=True
    )
    return name, pack_chart(name, files)


def values_schema_of(template: Template) -> dict[str, Any]:
    """The values.schema.json of ``template``, checked against the Kubernetes schemas of its
    version (the web UI builds its values form from it); ``InputError`` for an unknown
    Kubernetes version."""
    return values_schema(template, schemas=load_schema_set(template.kubernetes_version))


_INSERT_BUILD = sa.insert(ChartBuildRow.metadata.tables[ChartBuildRow.__tablename__])


def build_chart(
    sessions: sessionmaker[Session],
    *,
    template: str,
    context: Any,
    values: Any = None,
    chart_version: str | None = None,
    actor: Principal,
    defer_required: bool = False,
) -> ChartBuildView:
    """Build and record a chart from the published version ``template`` (``NAME[@VERSION]``,
    the newest published one without a version). ``defer_required``: required values
    without a default may stay unset (an instance's chart: its values file in Git gives them).

    Raises ``InputError`` (bad context, values failing the schema, a missing required value),
    ``NotFoundError`` (no such template), ``ConflictError`` (version not published),
    ``PermissionDeniedError`` (no ``chart.build`` for that context).
    """
    target = _context_target(context)
    with engine_of(sessions).connect() as connection:
        # One connection and one transaction for the access check, the lookup and the record,
        # prebuilt Core statements and no unit of work: a build only adds rows.
        access.require_on(connection, sessions, actor, "chart.build", target)
        version_view, parsed = find_published(connection, template)
        name, version, app_version, files = _render(
            parsed, context, values, chart_version=chart_version, defer_required=defer_required
        )
        archive = pack_chart(name, files)
        view = ChartBuildView(
            id=uuid.uuid4().hex,
            template=f"{version_view.name}@{version_view.version}",
            context=dict(context),
            values=dict(values or {}),
            name=name,
            version=version,
            app_version=app_version,
            digest="sha256:" + hashlib.sha256(archive).hexdigest(),
            size=len(archive),
            file_name=archive_file_name(name, version),
            created_by=actor.name,
            created_at=datetime.now(UTC),
            generator=generator(),
        )
        connection.execute(
            _INSERT_BUILD,
            {
                "id": view.id,
                "template_name": version_view.name,
                "template_version": version_view.version,
                "context": view.context,
                "values": view.values,
                "chart_name": name,
                "chart_version": version,
                "app_version": app_version,
                "digest": view.digest,
                "size": view.size,
                "archive": archive,
                "created_by": view.created_by,
                "created_at": view.created_at,
                "generator": view.generator,
            },
        )
        audit.insert_now(
            connection,
            actor,
            "chart.build",
            f"chart:{view.id}",
            after={
                "template": view.template,
                "context": view.context,
                "values": view.values,
                "name": name,
                "version": version,
                "digest": view.digest,
            },
        )
        connection.commit()
    return view


def _load_any(
    sessions: sessionmaker[Session], template: str, *, actor: Principal
) -> TemplateVersionView:
    name, version = parse_reference(template)
    return get_version(sessions, name, version, actor=actor)


def preview_chart(
    sessions: sessionmaker[Session],
    *,
    template: str,
    context: Any,
    values: Any = None,
    chart_version: str | None = None,
    actor: Principal,
) -> ChartPreview:
    """Render every file of the chart without recording it (drafts too, for their authors)."""
    access.require(sessions, actor, "chart.preview", Target(template=parse_reference(template)[0]))
    view = _load_any(sessions, template, actor=actor)
    name, version, app_version, files = _render(
        parsed_template(view), context, values, chart_version=chart_version
    )
    return ChartPreview(
        template=f"{view.name}@{view.version}",
        name=name,
        version=version,
        app_version=app_version,
        files={path: data.decode("utf-8", "replace") for path, data in files.items()},
    )


def effective_values_for(
    sessions: sessionmaker[Session],
    *,
    template: str,
    context: Any,
    values: Any = None,
    actor: Principal,
) -> EffectiveValues:
    """The values a chart would get for ``context`` and ``values``, with their provenance."""
    view = _load_any(sessions, template, actor=actor)
    raw_context, overrides = _inputs(context, values)
    resolved, provenance = effective_values(
        parsed_template(view), parse_context(raw_context), overrides=overrides
    )
    return EffectiveValues(
        template=f"{view.name}@{view.version}",
        values=dict(resolved),
        provenance=dict(provenance),
    )


# Stands in for a required value nobody has set yet while the defaults are worked out.
_UNSET = "\u2060helmforge:unset\u2060"


def defaults_for(
    sessions: sessionmaker[Session], *, template: str, context: Any, actor: Principal
) -> tuple[EffectiveValues, list[tuple[str, ...]]]:
    """The effective values for ``context`` before anyone overrides anything, and the paths of
    the required values no default and no matching layer sets.

    Those are left out of ``values`` (``provenance`` still lists them): each gets a stand-in
    while the defaults and layers are worked out, so that they show even though no chart can
    be built yet. Raises ``InputError`` for a bad context, ``NotFoundError`` like
    ``effective_values_for``.
    """
    view = _load_any(sessions, template, actor=actor)
    raw_context, _ = _inputs(context, None)
    parsed = parsed_template(view)
    unset = unset_required(parsed, raw_context)
    stand_ins: dict[str, Any] = {}
    for path in unset:
        node = stand_ins
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _UNSET
    resolved, provenance = effective_values(parsed, parse_context(raw_context), overrides=stand_ins)
    values = _without_stand_ins(resolved)
    shown = EffectiveValues(
        template=f"{view.name}@{view.version}", values=values, provenance=dict(provenance)
    )
    return shown, unset


def _without_stand_ins(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _without_stand_ins(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
        if value != _UNSET
    }


def _row(
    sessions: sessionmaker[Session], session: Session, build_id: str, actor: Principal
) -> ChartBuildRow:
    """The build, if it exists and the actor may read its context (else the same 404)."""
    missing = f"chart build {build_id!r} does not exist"
    row = session.get(ChartBuildRow, build_id) if len(build_id) <= 32 else None
    if row is None:
        raise NotFoundError(missing)
    access.require(sessions, actor, "chart.read", _stored_target(row), hide_as=missing)
    return row


def chart_name_of(session: Session, build_id: str) -> str:
    """The chart name of a recorded build (no access check: for fingerprints of state)."""
    name = session.scalar(sa.select(ChartBuildRow.chart_name).where(ChartBuildRow.id == build_id))
    if name is None:
        raise NotFoundError(f"chart build {build_id!r} does not exist")
    return name


def get_build(
    sessions: sessionmaker[Session], build_id: str, *, actor: Principal
) -> ChartBuildView:
    """One recorded build; raises ``NotFoundError``."""
    with sessions() as session:
        return _view(_row(sessions, session, build_id, actor))


def get_builds(
    sessions: sessionmaker[Session], build_ids: Collection[str], *, actor: Principal
) -> dict[str, ChartBuildView]:
    """The recorded builds of ``build_ids`` that ``actor`` may read, by id, in one query
    (without their archives); an id of no such build is not among them."""
    wanted = sorted({build_id for build_id in build_ids if len(build_id) <= 32})
    if not wanted:
        return {}
    query = (
        sa.select(ChartBuildRow)
        .options(defer(ChartBuildRow.archive))
        .where(
            ChartBuildRow.id.in_(wanted),
            access.allowed_where(sessions, actor, "chart.read", _CONTEXT_FIELDS),
        )
    )
    with sessions() as session:
        return {row.id: _view(row) for row in session.scalars(query)}


def get_archive(
    sessions: sessionmaker[Session], build_id: str, *, actor: Principal
) -> tuple[str, bytes]:
    """The build's archive file name and bytes (its SHA-256 is the build's digest)."""
    with sessions() as session:
        row = _row(sessions, session, build_id, actor)
        return archive_file_name(row.chart_name, row.chart_version), row.archive


def build_files(
    sessions: sessionmaker[Session], build_id: str, *, actor: Principal
) -> dict[str, str]:
    """Every file of a recorded build's archive, by chart-relative path, as text."""
    _, archive = get_archive(sessions, build_id, actor=actor)
    files = read_chart_archive(archive, source=f"chart build {build_id}")
    return {path: data.decode("utf-8", "replace") for path, data in files.items()}


#: A build's context fields in SQL, as ``_target_of_context`` reads them (missing: empty).
_CONTEXT_FIELDS = tuple(
    sa.func.coalesce(ChartBuildRow.context[key].as_string(), "")
    for key in ("product", "customer", "environment", "instance")
)


def list_builds(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    template: str | None = None,
    limit: int = 100,
) -> list[ChartBuildView]:
    """The newest ``limit`` builds the actor may read (``chart.read`` on their context),
    newest first; ``template`` filters by template name.

    The access rule is part of the query (``access.allowed_where``), so the database applies
    it before the limit: a caller who may read a few contexts still gets a full page.
    """
    limit = max(1, min(limit, 1000))
    query = (
        sa.select(ChartBuildRow)
        .options(defer(ChartBuildRow.archive))
        .where(access.allowed_where(sessions, actor, "chart.read", _CONTEXT_FIELDS))
        .order_by(ChartBuildRow.created_at.desc(), ChartBuildRow.id.desc())
        .limit(limit)
    )
    if template:
        query = query.where(ChartBuildRow.template_name == parse_reference(template)[0])
    with sessions() as session:
        return [_view(row) for row in session.scalars(query)]


def page_builds(
    sessions: sessionmaker[Session], *, actor: Principal, page: PageRequest
) -> Page[ChartBuildView]:
    """One page of recorded builds, newest first; ``page.query`` matches the build id, chart
    name and version, template name and who built it. Only builds the actor may read count
    (the access rule is part of the query: the database counts and pages)."""
    query = (
        sa.select(ChartBuildRow)
        .options(defer(ChartBuildRow.archive))
        .where(access.allowed_where(sessions, actor, "chart.read", _CONTEXT_FIELDS))
        .order_by(ChartBuildRow.created_at.desc(), ChartBuildRow.id)
    )
    if page.query:
        query = query.where(
            contains(
                page.query,
                ChartBuildRow.id,
                ChartBuildRow.chart_name,
                ChartBuildRow.chart_version,
                ChartBuildRow.template_name,
                ChartBuildRow.created_by,
            )
        )
    with sessions() as session:
        return fetch_page(session, query, page, _view)
