"""Reading stored templates: one version, the published version a build uses, every version of
a template, the templates an actor may read (filtered and paged by the database), diffs and
exports. The writes are in ``template_store``."""

from __future__ import annotations

import difflib
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.server_tables import TemplateRow, TemplateVersionRow
from helmforge.core.access.principals import Principal
from helmforge.core.errors import ConflictError, NotFoundError
from helmforge.core.templates.models import Template
from helmforge.core.versions import semver_key
from helmforge.services import access
from helmforge.services.paging import Page, PageRequest, contains, fetch_page
from helmforge.services.template_texts import parse_cached
from helmforge.services.template_views import (
    DRAFT,
    PUBLISHED,
    TemplateSummary,
    TemplateVersionView,
    drafts_readable,
    parse_reference,
    reads_drafts,
    require_draft_reading,
    require_template,
    view_of,
)


def get_version(
    sessions: sessionmaker[Session], name: str, version: str | None = None, *, actor: Principal
) -> TemplateVersionView:
    """One version; without ``version`` the newest published one (else the newest draft). A
    draft is missing to whoever reads only published versions (``require_draft_reading``)."""
    require_template(sessions, actor, "template.read", name)
    with engine_of(sessions).connect() as connection:
        view = _lookup(connection, name, version)
    if view.status == DRAFT:
        require_draft_reading(sessions, actor, name, view.version)
    return view


def load_published(
    sessions: sessionmaker[Session], reference: str, *, actor: Principal
) -> tuple[TemplateVersionView, Template]:
    """The published version named by ``NAME[@VERSION]`` and its parsed template.

    Raises ``NotFoundError``, ``ConflictError`` when that version is a draft or deprecated.
    """
    require_template(sessions, actor, "template.read", parse_reference(reference)[0])
    with engine_of(sessions).connect() as connection:
        return find_published(connection, reference)


_VERSIONS = TemplateVersionRow.__table__
_TEMPLATES = TemplateRow.__table__
# Built once (every chart build asks): plain columns named as TemplateVersionView's fields.
_VERSIONS_OF_NAME = (
    sa.select(
        _TEMPLATES.c.name,
        _VERSIONS.c.version,
        _VERSIONS.c.status,
        _VERSIONS.c.revision,
        _VERSIONS.c.content,
        _VERSIONS.c.created_at,
        _VERSIONS.c.created_by,
        _VERSIONS.c.updated_at,
        _VERSIONS.c.updated_by,
    )
    .join_from(_VERSIONS, _TEMPLATES, _VERSIONS.c.template_id == _TEMPLATES.c.id)
    .where(_TEMPLATES.c.name == sa.bindparam("name"))
    .order_by(_VERSIONS.c.id)
)
_ONE_VERSION = _VERSIONS_OF_NAME.where(_VERSIONS.c.version == sa.bindparam("version"))


def find_published(connection: Connection, reference: str) -> tuple[TemplateVersionView, Template]:
    """``load_published`` on the caller's Core connection (one connection for a whole build):
    ``NAME@VERSION`` exactly, ``NAME`` its newest published version."""
    name, version = parse_reference(reference)
    view = _lookup(connection, name, version)
    if view.status != PUBLISHED:
        raise ConflictError(
            f"template {name}@{view.version} is {view.status}; charts are built from published "
            "versions only"
        )
    return view, parsed_template(view)


def _lookup(connection: Connection, name: str, version: str | None) -> TemplateVersionView:
    """``name@version``; without a version the newest published one (else the newest)."""
    if version is not None:
        row = connection.execute(_ONE_VERSION, {"name": name, "version": version}).first()
        if row is None:
            raise NotFoundError(f"template {name}@{version} does not exist")
        return TemplateVersionView(**row._mapping)
    rows = sorted(
        connection.execute(_VERSIONS_OF_NAME, {"name": name}),
        key=lambda candidate: semver_key(candidate.version),
    )
    if not rows:
        raise NotFoundError(f"template {name!r} does not exist")
    published = [candidate for candidate in rows if candidate.status == PUBLISHED]
    return TemplateVersionView(**(published or rows)[-1]._mapping)


def parsed_template(view: TemplateVersionView) -> Template:
    """The parsed template of a stored version (cached by the digest of its text)."""
    return parse_cached(view.content, source=f"{view.name}@{view.version}")


def _rows_of(session: Session, name: str) -> list[TemplateVersionRow]:
    rows = list(
        session.scalars(
            sa.select(TemplateVersionRow)
            .join(TemplateRow)
            .where(TemplateRow.name == name)
            .order_by(TemplateVersionRow.id)
        )
    )
    if not rows:
        raise NotFoundError(f"template {name!r} does not exist")
    return sorted(rows, key=lambda row: semver_key(row.version))


def list_versions(
    sessions: sessionmaker[Session], name: str, *, actor: Principal
) -> list[TemplateVersionView]:
    """Every version of a template the actor may read, oldest SemVer first (drafts only for
    whom ``reads_drafts``); raises ``NotFoundError``, also when nothing is left to them."""
    require_template(sessions, actor, "template.read", name)
    with sessions() as session:
        views = [view_of(row) for row in _rows_of(session, name)]
    if reads_drafts(sessions, actor)(name):
        return views
    shown = [view for view in views if view.status != DRAFT]
    if not shown:
        require_draft_reading(sessions, actor, name, views[-1].version)
    return shown


def _summaries(session: Session, chosen: sa.ColumnElement[bool]) -> list[TemplateSummary]:
    rows = session.execute(
        sa.select(TemplateRow.name, TemplateVersionRow.version, TemplateVersionRow.status)
        .join(TemplateVersionRow, TemplateVersionRow.template_id == TemplateRow.id)
        .where(chosen)
        .order_by(TemplateRow.name)
    ).all()
    grouped: dict[str, list[tuple[str, str]]] = {}
    for name, version, status in rows:
        grouped.setdefault(name, []).append((version, status))
    summaries = []
    for name, versions in grouped.items():
        versions.sort(key=lambda item: semver_key(item[0]))
        published = [v for v, s in versions if s == PUBLISHED]
        summaries.append(
            TemplateSummary(name, tuple(versions), published[-1] if published else None)
        )
    return summaries


def _readable(sessions: sessionmaker[Session], actor: Principal) -> sa.ColumnElement[bool]:
    """The template versions the actor may read (a WHERE clause over a version joined with
    its template): of templates they read, drafts only for whom ``reads_drafts``."""
    return sa.and_(
        access.allowed_where(sessions, actor, "template.read", [TemplateRow.name]),
        drafts_readable(sessions, actor, TemplateRow.name, TemplateVersionRow.status),
    )


def latest_published_in(session: Session, names: Collection[str] | None = None) -> dict[str, str]:
    """The newest published version of each template named (all without ``names``), by name,
    in one query of the caller's session; no access check (instance views say whether a newer
    version exists)."""
    chosen = sa.true() if names is None else TemplateRow.name.in_(sorted(set(names)))
    return {
        summary.name: summary.latest_published
        for summary in _summaries(session, chosen)
        if summary.latest_published is not None
    }


def list_templates(sessions: sessionmaker[Session], *, actor: Principal) -> list[TemplateSummary]:
    """Every template the actor may read, by name, with its versions and statuses."""
    readable = _readable(sessions, actor)
    with sessions() as session:
        return _summaries(session, readable)


def page_templates(
    sessions: sessionmaker[Session], *, actor: Principal, page: PageRequest
) -> Page[TemplateSummary]:
    """One page of the templates the actor may read, by name, with their versions;
    ``page.query`` matches the name. The database filters by access, counts and pages."""
    readable = _readable(sessions, actor)
    shown = (
        sa.select(TemplateVersionRow.id)
        .where(TemplateVersionRow.template_id == TemplateRow.id, readable)
        .exists()
    )
    query = sa.select(TemplateRow).where(shown).order_by(TemplateRow.name)
    if page.query:
        query = query.where(contains(page.query, TemplateRow.name))
    with sessions() as session:
        ids = fetch_page(session, query, page, lambda row: row.id)
        chosen = sa.and_(TemplateRow.id.in_(ids.items), readable)
        found = _summaries(session, chosen) if ids.items else []
    return Page(tuple(found), ids.number, ids.size, ids.total, ids.query)


def diff_versions(
    sessions: sessionmaker[Session], name: str, old: str, new: str, *, actor: Principal
) -> str:
    """A unified diff of the YAML of two versions (empty when identical)."""
    old_view = get_version(sessions, name, old, actor=actor)
    new_view = get_version(sessions, name, new, actor=actor)
    return "".join(
        difflib.unified_diff(
            old_view.content.splitlines(keepends=True),
            new_view.content.splitlines(keepends=True),
            fromfile=f"{name}@{old}",
            tofile=f"{name}@{new}",
        )
    )


def export_yaml(
    sessions: sessionmaker[Session], name: str, version: str, *, actor: Principal
) -> str:
    """The stored YAML text of a version, byte for byte as saved."""
    return get_version(sessions, name, version, actor=actor).content
