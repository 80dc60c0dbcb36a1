"""What a stored template version looks like to its callers, and the one access check every
template operation makes. Shared by the writes (``template_store``) and the reads
(``template_queries``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import TemplateVersionRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import InputError, NotFoundError, PermissionDeniedError
from helmforge.services import access

DRAFT, PUBLISHED, DEPRECATED = "draft", "published", "deprecated"
_VERSION_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,127}\Z")


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


def view_of(row: TemplateVersionRow) -> TemplateVersionView:
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


def require_template(
    sessions: sessionmaker[Session], actor: Principal, permission: str, name: str
) -> None:
    """The access check of every template operation: scoped by template name; a template the
    actor may not read is answered as missing."""
    access.require(
        sessions,
        actor,
        permission,
        Target(template=name),
        hide_as=f"template {name!r} does not exist",
    )


#: Who reads a template's drafts besides its published versions (DESIGN §9: a template-user
#: reads published templates; its creators work on the drafts, an auditor reads everything).
DRAFT_READING = "template.update"


def reads_drafts(sessions: sessionmaker[Session], actor: Principal) -> Callable[[str], bool]:
    """Whether ``actor`` may read the drafts of template ``name``, with the policy read once:
    ``DRAFT_READING`` on the name, or ``audit.read``."""
    if "audit.read" in access.held(sessions, actor, ("audit.read",)):
        return lambda _name: True
    may = access.allowed(sessions, actor, DRAFT_READING)
    return lambda name: may(Target(template=name))


def drafts_readable(
    sessions: sessionmaker[Session],
    actor: Principal,
    name: sa.SQLColumnExpression[str],
    status: sa.SQLColumnExpression[str],
) -> sa.ColumnElement[bool]:
    """``reads_drafts`` as a WHERE clause over a version's template ``name`` and ``status``:
    its published and deprecated versions for anyone who reads the template, drafts too for
    whom ``reads_drafts``."""
    if "audit.read" in access.held(sessions, actor, ("audit.read",)):
        return sa.true()
    return sa.or_(status != DRAFT, access.allowed_where(sessions, actor, DRAFT_READING, [name]))


def require_draft_reading(
    sessions: sessionmaker[Session], actor: Principal, name: str, version: str
) -> None:
    """Allow ``actor`` to read draft ``name@version``, or answer it as missing (the denial
    audited): to whoever reads only published templates a draft does not exist."""
    if reads_drafts(sessions, actor)(name):
        return
    try:
        access.require(sessions, actor, DRAFT_READING, Target(template=name))
    except PermissionDeniedError:
        raise NotFoundError(f"template {name}@{version} does not exist") from None


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
