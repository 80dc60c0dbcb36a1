"""Stored templates: create from YAML, edit drafts with optimistic concurrency, validate, diff,
publish, deprecate, list and export.

A version is a draft until published; a published version never changes (only its status may
move on to ``deprecated``). Every edit names the revision it started from: a stale revision
raises ``StaleRevisionError`` carrying the current state, so nobody overwrites silently.
"""

from __future__ import annotations

__all__ = [
    "DEPRECATED",
    "DRAFT",
    "MAX_TEMPLATE_BYTES",
    "PUBLISHED",
    "RESERVED_NAMES",
    "NewDraft",
    "ProblemView",
    "StaleRevisionError",
    "TemplateSummary",
    "TemplateVersionView",
    "check_template_text",
    "create_version",
    "delete_draft",
    "deprecate_version",
    "diff_versions",
    "export_yaml",
    "find_published",
    "get_version",
    "list_templates",
    "list_versions",
    "load_published",
    "new_draft_from",
    "page_templates",
    "parse_reference",
    "parsed_template",
    "publish_version",
    "seed_template",
    "update_draft",
]

import difflib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from helmforge.adapters.storage.database import engine_of, insert_if_absent
from helmforge.adapters.storage.server_tables import TemplateRow, TemplateVersionRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    ConflictError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.templates.models import Template
from helmforge.core.templates.versioning import with_metadata_version
from helmforge.core.versions import is_semver, parse_semver, semver_key
from helmforge.services import access, audit
from helmforge.services.paging import Page, PageRequest, contains, fetch_page
from helmforge.services.template_texts import (
    MAX_TEMPLATE_BYTES,
    ProblemView,
    check_template_text,
    parse_cached,
    parse_valid_text,
)

DRAFT, PUBLISHED, DEPRECATED = "draft", "published", "deprecated"
#: Names a template cannot take because its page address is another page's.
RESERVED_NAMES = frozenset({"new"})
_VERSION_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,127}\Z")
_STATUS_ACTIONS = {PUBLISHED: "template.publish", DEPRECATED: "template.deprecate"}


@dataclass(frozen=True, slots=True)
class TemplateVersionView:
    name: str
    version: str
    status: str
    revision: int
    content: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    name: str
    versions: tuple[tuple[str, str], ...]  # (version, status), oldest first
    latest_published: str | None


class StaleRevisionError(ConflictError):
    """The draft changed since the caller read it; ``current`` is its state now."""

    def __init__(self, message: str, *, current: TemplateVersionView) -> None:
        self.current = current
        super().__init__(message)


def _view(row: TemplateVersionRow) -> TemplateVersionView:
    return TemplateVersionView(
        name=row.template.name,
        version=row.version,
        status=row.status,
        revision=row.revision,
        content=row.content,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _require(sessions: sessionmaker[Session], actor: Principal, permission: str, name: str) -> None:
    """The access check of every template operation: scoped by template name; a template the
    actor may not read is answered as missing."""
    access.require(
        sessions,
        actor,
        permission,
        Target(template=name),
        hide_as=f"template {name!r} does not exist",
    )


def parse_reference(reference: str) -> tuple[str, str | None]:
    """Split ``NAME[@VERSION]``; raises ``InputError`` for an empty name or version."""
    name, _, version = reference.partition("@")
    if (
        not is_dns_label(name)
        or (reference.count("@") and not _VERSION_TEXT.match(version))
        or reference.count("@") > 1
    ):
        raise InputError(
            f"template reference {reference[:200]!r} must be NAME or NAME@VERSION "
            "(NAME a DNS-1123 label, VERSION such as 1.2.0)"
        )
    return name, version or None


def _version_row(
    session: Session, name: str, version: str, *, lock: bool = False
) -> TemplateVersionRow:
    query = (
        sa.select(TemplateVersionRow)
        .join(TemplateRow)
        .where(TemplateRow.name == name, TemplateVersionRow.version == version)
    )
    if lock:
        query = query.with_for_update(of=TemplateVersionRow)
    row = session.scalar(query)
    if row is None:
        raise NotFoundError(f"template {name}@{version} does not exist")
    return row


def create_version(
    sessions: sessionmaker[Session],
    content: str,
    *,
    actor: Principal,
    source: str = "template.yaml",
    environments: Sequence[str] | None = None,
) -> TemplateVersionView:
    """Store a template text as a new draft (of a new or an existing template); with
    ``environments`` (the configured ones) every ``when.environment`` must name one.

    Raises ``InputError`` with every problem (and its line) or for a reserved name,
    ``ConflictError`` when that name@version already exists.
    """
    template = parse_valid_text(content, source=source, environments=environments)
    if template.name in RESERVED_NAMES:
        raise InputError(
            f"metadata.name {template.name!r} is reserved: /templates/{template.name} is the "
            "page that creates templates; choose another name",
            location=Location(source, path="metadata.name"),
        )
    now = datetime.now(UTC)
    access.require(sessions, actor, "template.create", Target(template=template.name))
    try:
        with sessions.begin() as session:
            parent = _template_row(session, template.name, now=now, actor=actor)
            row = TemplateVersionRow(
                template_id=parent.id,
                version=template.version,
                content=content,
                status=DRAFT,
                revision=1,
                created_at=now,
                created_by=actor.name,
                updated_at=now,
                updated_by=actor.name,
            )
            row.template = parent
            session.add(row)
            session.flush()
            view = _view(row)
            audit.record(
                session,
                actor,
                "template.create",
                f"template:{template.name}@{template.version}",
                after={"status": DRAFT, "revision": 1, "content": content},
            )
    except IntegrityError as error:
        raise ConflictError(
            f"template {template.name}@{template.version} already exists; "
            "edit its draft or choose a new version"
        ) from error
    return view


def _template_row(session: Session, name: str, *, now: datetime, actor: Principal) -> TemplateRow:
    """The template's row, inserted when absent. Two first versions of one template created
    at once both insert it: the second insert does nothing instead of failing, so it is no
    conflict (only the same name@version is)."""
    query = sa.select(TemplateRow).where(TemplateRow.name == name)
    parent = session.scalar(query)
    if parent is None:
        values = {"name": name, "created_at": now, "created_by": actor.name}
        session.execute(
            insert_if_absent(TemplateRow, values, dialect=session.get_bind().dialect.name)
        )
        parent = session.scalars(query).one()
    return parent


def update_draft(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    content: str,
    *,
    expected_revision: int,
    actor: Principal,
    environments: Sequence[str] | None = None,
) -> TemplateVersionView:
    """Replace the text of a draft that is still at ``expected_revision`` (``environments`` as
    in ``create_version``).

    Raises ``NotFoundError``, ``InputError`` (invalid text, or a changed name/version),
    ``ConflictError`` when the version is no longer a draft, ``StaleRevisionError`` (with the
    current state) when someone saved in between.
    """
    _require(sessions, actor, "template.update", name)
    template = parse_valid_text(content, source=f"{name}@{version}", environments=environments)
    if (template.name, template.version) != (name, version):
        raise InputError(
            f"metadata.name/version must stay {name}/{version} in this draft "
            f"(found {template.name}/{template.version}); create a new version instead"
        )
    try:
        with sessions.begin() as session:
            row = _version_row(session, name, version, lock=True)
            if row.status != DRAFT:
                raise ConflictError(
                    f"template {name}@{version} is {row.status}: a published version never "
                    "changes; create a new version instead"
                )
            if row.revision != expected_revision:
                raise StaleRevisionError(
                    f"template {name}@{version} was saved by {row.updated_by} in between "
                    f"(revision {row.revision}, you edited revision {expected_revision}); "
                    "merge your change into the current text and save again",
                    current=_view(row),
                )
            before = {"revision": row.revision, "content": row.content}
            row.content = content
            row.updated_at = datetime.now(UTC)
            row.updated_by = actor.name
            session.flush()  # UPDATE ... WHERE revision = the one read; bumps the revision
            audit.record(
                session,
                actor,
                "template.update",
                f"template:{name}@{version}",
                before=before,
                after={"revision": row.revision, "content": content},
            )
            view = _view(row)
    except StaleDataError:
        raise _stale(sessions, name, version, expected_revision) from None
    return view


def _stale(
    sessions: sessionmaker[Session], name: str, version: str, expected: int | None
) -> StaleRevisionError:
    # Another transaction saved between our read and our write (the row lock does not hold
    # on SQLite); the conditional UPDATE noticed, and the caller gets the state now.
    with sessions() as session:
        current = _view(_version_row(session, name, version))
    return StaleRevisionError(
        f"template {name}@{version} was changed by {current.updated_by} at the same moment "
        f"(revision {current.revision}, you edited revision {expected})",
        current=current,
    )


def delete_draft(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    *,
    expected_revision: int,
    actor: Principal,
) -> None:
    """Delete a draft still at ``expected_revision`` (a template without versions goes too).

    Raises ``NotFoundError``, ``ConflictError`` for a published or deprecated version (those
    stay forever), ``StaleRevisionError`` when someone saved in between.
    """
    _require(sessions, actor, "template.delete", name)
    try:
        with sessions.begin() as session:
            row = _version_row(session, name, version, lock=True)
            if row.status != DRAFT:
                raise ConflictError(
                    f"template {name}@{version} is {row.status}; only drafts can be deleted"
                )
            if row.revision != expected_revision:
                raise StaleRevisionError(
                    f"template {name}@{version} was saved by {row.updated_by} in between "
                    f"(revision {row.revision}, you saw revision {expected_revision})",
                    current=_view(row),
                )
            parent = row.template
            before = {"status": row.status, "revision": row.revision, "content": row.content}
            session.delete(row)
            session.flush()  # DELETE ... WHERE revision = the one read
            remaining = session.scalar(
                sa.select(sa.func.count())
                .select_from(TemplateVersionRow)
                .where(TemplateVersionRow.template_id == parent.id)
            )
            if not remaining:
                session.delete(parent)
            audit.record(
                session, actor, "template.delete", f"template:{name}@{version}", before=before
            )
    except StaleDataError:
        raise _stale(sessions, name, version, expected_revision) from None


def _change_status(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    *,
    allowed_from: tuple[str, ...],
    to: str,
    expected_revision: int | None,
    actor: Principal,
    reviewed_by: tuple[str, ...] | None = None,
) -> TemplateVersionView:
    # Without an expected revision the caller means "whatever it is now": when a save lands
    # between our read and our write, read again (a few times) instead of failing.
    for _attempt in range(3):
        try:
            return _change_status_once(
                sessions,
                name,
                version,
                allowed_from=allowed_from,
                to=to,
                expected_revision=expected_revision,
                actor=actor,
                reviewed_by=reviewed_by,
            )
        except StaleDataError:
            if expected_revision is not None:
                raise _stale(sessions, name, version, expected_revision) from None
    raise _stale(sessions, name, version, expected_revision)


def _change_status_once(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    *,
    allowed_from: tuple[str, ...],
    to: str,
    expected_revision: int | None,
    actor: Principal,
    reviewed_by: tuple[str, ...] | None = None,
) -> TemplateVersionView:
    with sessions.begin() as session:
        row = _version_row(session, name, version, lock=True)
        if row.status == to:
            return _view(row)
        if row.status not in allowed_from:
            raise ConflictError(
                f"template {name}@{version} is {row.status}; only a "
                f"{' or '.join(allowed_from)} version can become {to}"
            )
        if expected_revision is not None and row.revision != expected_revision:
            raise StaleRevisionError(
                f"template {name}@{version} changed in between (revision {row.revision}, "
                f"you saw {expected_revision})",
                current=_view(row),
            )
        before = {"status": row.status, "revision": row.revision}
        row.status = to
        row.updated_at = datetime.now(UTC)
        row.updated_by = actor.name
        session.flush()
        audit.record(
            session,
            actor,
            _STATUS_ACTIONS[to],
            f"template:{name}@{version}",
            before=before,
            after={
                "status": to,
                "revision": row.revision,
                **({"reviewed_by": list(reviewed_by)} if reviewed_by else {}),
            },
        )
        return _view(row)


def publish_version(
    sessions: sessionmaker[Session],
    name: str,
    version: str,
    *,
    actor: Principal,
    expected_revision: int | None = None,
    reviewed_by: tuple[str, ...] | None = None,
) -> TemplateVersionView:
    """Publish a draft; from then on its text never changes. Publishing twice is a no-op.

    With ``HELMFORGE_TEMPLATE_REVIEW`` on, only a reviewed change request publishes
    (``reviewed_by`` names the reviewers, recorded in the audit event); a direct publish
    raises ``PermissionDeniedError`` saying to propose one (``services.template_reviews``).
    Raises ``NotFoundError``, ``ConflictError`` (deprecated), ``StaleRevisionError``.
    """
    _require(sessions, actor, "template.publish", name)
    if reviewed_by is None and access.configuration(sessions).template_review:
        raise PermissionDeniedError(
            f"publishing {name}@{version} needs review by another template creator: propose "
            "it as a change request (the API and the UI do when you publish)"
        )
    return _change_status(
        sessions,
        name,
        version,
        allowed_from=(DRAFT,),
        to=PUBLISHED,
        expected_revision=expected_revision,
        actor=actor,
        reviewed_by=reviewed_by,
    )


def deprecate_version(
    sessions: sessionmaker[Session], name: str, version: str, *, actor: Principal
) -> TemplateVersionView:
    """Mark a published version deprecated (new charts are no longer built from it)."""
    _require(sessions, actor, "template.deprecate", name)
    return _change_status(
        sessions,
        name,
        version,
        allowed_from=(PUBLISHED,),
        to=DEPRECATED,
        expected_revision=None,
        actor=actor,
    )


def get_version(
    sessions: sessionmaker[Session], name: str, version: str | None = None, *, actor: Principal
) -> TemplateVersionView:
    """One version; without ``version`` the newest published one (else the newest draft)."""
    _require(sessions, actor, "template.read", name)
    with engine_of(sessions).connect() as connection:
        return _lookup(connection, name, version)


@dataclass(frozen=True, slots=True)
class NewDraft:
    """The text a new draft starts from: a copy of ``source_version`` moved to ``version``."""

    name: str
    source_version: str
    version: str
    content: str


def new_draft_from(
    sessions: sessionmaker[Session], name: str, version: str, *, actor: Principal
) -> NewDraft:
    """The text of ``name@version`` with ``metadata.version`` set to the next free patch
    version (0.2.0 gives 0.2.1, or 0.2.2 when 0.2.1 exists), ready to save as a new draft.

    A version that is no SemVer, or a text whose version line cannot be found, is copied
    unchanged. Raises ``NotFoundError`` when the template or version does not exist.
    """
    versions = list_versions(sessions, name, actor=actor)
    source = next((view for view in versions if view.version == version), None)
    if source is None:
        raise NotFoundError(f"template {name!r} has no version {version!r}")
    if not is_semver(version):
        return NewDraft(name, version, version, source.content)
    taken = {view.version for view in versions}
    candidate = parse_semver(version).next_patch()
    while str(candidate) in taken:
        candidate = candidate.next_patch()
    moved = with_metadata_version(source.content, str(candidate))
    if moved is None:
        return NewDraft(name, version, version, source.content)
    return NewDraft(name, version, str(candidate), moved)


def load_published(
    sessions: sessionmaker[Session], reference: str, *, actor: Principal
) -> tuple[TemplateVersionView, Template]:
    """The published version named by ``NAME[@VERSION]`` and its parsed template.

    Raises ``NotFoundError``, ``ConflictError`` when that version is a draft or deprecated.
    """
    _require(sessions, actor, "template.read", parse_reference(reference)[0])
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
    """Every version of a template, oldest SemVer first; raises ``NotFoundError``."""
    _require(sessions, actor, "template.read", name)
    with sessions() as session:
        return [_view(row) for row in _rows_of(session, name)]


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
    return access.allowed_where(sessions, actor, "template.read", [TemplateRow.name])


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
    query = sa.select(TemplateRow).where(_readable(sessions, actor)).order_by(TemplateRow.name)
    if page.query:
        query = query.where(contains(page.query, TemplateRow.name))
    with sessions() as session:
        ids = fetch_page(session, query, page, lambda row: row.id)
        found = _summaries(session, TemplateRow.id.in_(ids.items)) if ids.items else []
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


def seed_template(
    sessions: sessionmaker[Session], path: Path, *, actor: Principal
) -> TemplateVersionView | None:
    """On an empty store, import the template at ``path`` and publish it; else do nothing.

    Returns the published version, or ``None`` when templates already exist (or another server
    seeded it at the same moment).
    """
    with sessions() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(TemplateRow)):
            return None
    try:
        view = create_version(sessions, path.read_text("utf-8"), actor=actor, source=path.name)
    except ConflictError:
        return None
    # The bundled example is the server's own, with no author whose work another must review.
    return publish_version(sessions, view.name, view.version, actor=actor, reviewed_by=())
