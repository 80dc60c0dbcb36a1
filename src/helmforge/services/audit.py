"""The audit trail: who did what to which thing, when, with the state before and after.

``record`` adds the event to the caller's session, so it commits (or rolls back) in the same
transaction as the change it describes. Events are append-only: nothing in helmforge updates or
deletes them, and database triggers refuse it (RELIABILITY 38).
"""

from __future__ import annotations

__all__ = ["AuditEvent", "insert_now", "list_events", "record"]

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import Principal


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


def record(
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    """Add an audit event to ``session`` (committed with the change it describes).

    ``action`` is ``<resource>.<verb>`` (``template.publish``); ``target`` names the object
    (``web-service@1.2.0``); ``before``/``after`` are JSON-ready and never hold a secret.
    """
    session.add(AuditEventRow(**_event(actor, action, target, before, after)))


def _event(actor: Principal, action: str, target: str, before: Any, after: Any) -> dict[str, Any]:
    """The columns of one audit event, stamped now."""
    return {
        "at": datetime.now(UTC),
        "actor": actor.name,
        "actor_kind": actor.kind,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
    }


_INSERT = sa.insert(AuditEventRow.metadata.tables[AuditEventRow.__tablename__])


def insert_now(
    connection: Connection,
    actor: Principal,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    """``record`` for hot paths (a chart build) that only add rows: one prebuilt INSERT on the
    caller's Core connection, in its transaction, without a Session or reading back the id."""
    connection.execute(_INSERT, _event(actor, action, target, before, after))


def _view(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor=row.actor,
        actor_kind=row.actor_kind,
        action=row.action,
        target=row.target,
        before=row.before,
        after=row.after,
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
    # Every signed-in principal may read the trail until access control arrives.
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
