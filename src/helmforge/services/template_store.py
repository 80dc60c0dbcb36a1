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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from helmforge.adapters.storage.database import insert_if_absent
from helmforge.adapters.storage.server_tables import TemplateRow, TemplateVersionRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    ConflictError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.templates.versioning import with_metadata_version
from helmforge.core.versions import is_semver, parse_semver
from helmforge.services import access, audit
from helmforge.services.template_queries import (
    diff_versions,
    export_yaml,
    find_published,
    get_version,
    list_templates,
    list_versions,
    load_published,
    page_templates,
    parsed_template,
)
from helmforge.services.template_texts import (
    MAX_TEMPLATE_BYTES,
    ProblemView,
    check_template_text,
    parse_valid_text,
)
from helmforge.services.template_views import (
    DEPRECATED,
    DRAFT,
    PUBLISHED,
    TemplateSummary,
    TemplateVersionView,
    parse_reference,
    require_template,
    view_of,
)

#: Names a template cannot take because its page address is another page's.
RESERVED_NAMES = frozenset({"new"})
_VERSION_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,127}\Z")
_STATUS_ACTIONS = {PUBLISHED: "template.publish", DEPRECATED: "template.deprecate"}


class StaleRevisionError(ConflictError):
    """The draft changed since the caller read it; ``current`` is its state now."""

    def __init__(self, message: str, *, current: TemplateVersionView) -> None:
        self.current = current
        super().__init__(message)


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
            view = view_of(row)
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
    require_template(sessions, actor, "template.update", name)
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
                    current=view_of(row),
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
            view = view_of(row)
    except StaleDataError:
        raise _stale(sessions, name, version, expected_revision) from None
    return view


def _stale(
    sessions: sessionmaker[Session], name: str, version: str, expected: int | None
) -> StaleRevisionError:
    # Another transaction saved between our read and our write (the row lock does not hold
    # on SQLite); the conditional UPDATE noticed, and the caller gets the state now.
    with sessions() as session:
        current = view_of(_version_row(session, name, version))
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
    require_template(sessions, actor, "template.delete", name)
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
                    current=view_of(row),
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
            return view_of(row)
        if row.status not in allowed_from:
            raise ConflictError(
                f"template {name}@{version} is {row.status}; only a "
                f"{' or '.join(allowed_from)} version can become {to}"
            )
        if expected_revision is not None and row.revision != expected_revision:
            raise StaleRevisionError(
                f"template {name}@{version} changed in between (revision {row.revision}, "
                f"you saw {expected_revision})",
                current=view_of(row),
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
        return view_of(row)


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
    require_template(sessions, actor, "template.publish", name)
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
    require_template(sessions, actor, "template.deprecate", name)
    return _change_status(
        sessions,
        name,
        version,
        allowed_from=(PUBLISHED,),
        to=DEPRECATED,
        expected_revision=None,
        actor=actor,
    )


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
