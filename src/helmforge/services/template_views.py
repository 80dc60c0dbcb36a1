"""What a stored template version looks like to its callers, and the one access check every
template operation makes. Shared by the writes (``template_store``) and the reads
(``template_queries``)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import TemplateVersionRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import InputError
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
