"""Reading the audit trail (``audit.read``): newest first, filtered, paged.

Recording lives in ``services/audit.py``, which the access seam uses to audit denials; reading
asks the access seam first, so the two halves sit in two modules and import one way.
"""

from __future__ import annotations

__all__ = ["AuditEvent", "list_events", "page_events"]

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import Principal
from helmforge.services import access
from helmforge.services.audit import MAX_DIFF_CHARS, MAX_STATE_BYTES, bounded_state
from helmforge.services.paging import Page, PageRequest, contains, fetch_page


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    actor_kind: str
    action: str
    target: str
    before: Any
    after: Any


_LEGACY_STATE_BYTES = MAX_STATE_BYTES + 4 * MAX_DIFF_CHARS


def _as_read(state: Any) -> Any:
    if state is None or isinstance(state, (bool, int, float)):
        return state
    size = len(json.dumps(state, separators=(",", ":"), default=str))
    return bounded_state(state) if size > _LEGACY_STATE_BYTES else state


def _view(row: AuditEventRow) -> AuditEvent:
    # Events recorded before states were bounded may hold whole documents.
    before, after = _as_read(row.before), _as_read(row.after)
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        actor_kind=row.actor_kind,
        action=row.action,
        target=row.target,
        before=before,
        after=after,
    )


def list_events(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    action: str | None = None,
    target: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """The newest events first, optionally filtered by exact ``action``/``target``; page with
    ``before_id`` (the smallest id of the previous page). ``limit`` is clamped to 1..1000."""
    access.require(sessions, actor, "audit.read")
    query = sa.select(AuditEventRow).order_by(AuditEventRow.id.desc())
    if action:
        query = query.where(AuditEventRow.action == action)
    if target:
        query = query.where(AuditEventRow.target == target)
    if before_id is not None:
        query = query.where(AuditEventRow.id < before_id)
    query = query.limit(max(1, min(limit, 1000)))
    with sessions() as session:
        return [_view(row) for row in session.scalars(query)]


def page_events(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    page: PageRequest,
    who: str = "",
    action: str = "",
    target: str = "",
) -> Page[AuditEvent]:
    """One page of events, newest first; ``page.query`` matches who, the action and the
    object (case-insensitive); ``who``, ``action`` and ``target`` each keep only the events
    with exactly that actor, action or recorded object. Raises ``PermissionDeniedError``
    without ``audit.read``."""
    access.require(sessions, actor, "audit.read")
    query = sa.select(AuditEventRow).order_by(AuditEventRow.id.desc())
    for column, wanted in (
        (AuditEventRow.actor, who),
        (AuditEventRow.action, action),
        (AuditEventRow.target, target),
    ):
        if wanted:
            query = query.where(column == wanted)
    if page.query:
        query = query.where(
            contains(page.query, AuditEventRow.actor, AuditEventRow.action, AuditEventRow.target)
        )
    with sessions() as session:
        return fetch_page(session, query, page, _view)
