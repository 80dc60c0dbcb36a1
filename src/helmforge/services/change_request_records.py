"""The stored change requests (DESIGN §9): the kinds of change and the operation applying
each, the views, who may see which request, and the reads (one, a list, a page).

A request is visible to its requester and to whoever holds its operation's approver or reader
permission at its target; the lists ask the database with that rule
(``change_request_targets.visible_where``), one request is checked in hand (``may_see``).
Proposing and deciding are ``services.change_requests``, which re-exports these names.
"""

from __future__ import annotations

__all__ = [
    "OPERATIONS",
    "STATES",
    "ChangeRequestView",
    "Operation",
    "Proposal",
    "changed_since_proposal",
    "get_request",
    "hidden_request",
    "list_requests",
    "locked_row",
    "may_see",
    "missing_message",
    "operation_of",
    "page_requests",
    "payload_fields",
    "record_denial",
    "record_of",
    "view_of",
]

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import ChangeRequestRow
from helmforge.core.access import changes
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, NotFoundError
from helmforge.services import access, audit
from helmforge.services.change_request_targets import target_of, text_of, visible_where
from helmforge.services.paging import Page, PageRequest, contains, fetch_page

#: Operation kind -> the module whose ``OPERATION`` applies it (imported when first needed).
#: ``module:NAME`` names another attribute than ``OPERATION`` (one module, several kinds).
OPERATIONS: Mapping[str, str] = {
    "chart.publish": "helmforge.services.publish_requests",
    "template.publish": "helmforge.services.template_reviews",
    "instance.create": "helmforge.services.instance_requests:CREATE",
    "values.update": "helmforge.services.instance_requests:VALUES_UPDATE",
    "instance.rollback": "helmforge.services.instance_requests:ROLLBACK",
    "instance.upgrade": "helmforge.services.instance_requests:UPGRADE",
    "instance.promote": "helmforge.services.instance_requests:PROMOTE",
}
STATES = (
    changes.PENDING,
    changes.APPROVED,
    changes.APPLIED,
    changes.FAILED,
    changes.REJECTED,
    changes.STALE,
)


@dataclass(frozen=True, slots=True)
class Proposal:
    """What an operation proposes: where, the diff to review, and the state it starts from."""

    target: Target
    diff: str
    base: str
    required: int = 1


class Operation(Protocol):
    """One kind of change that can wait for approval. ``approver_permission`` is what an
    approver must hold at the target (``change.approve`` for changes in an environment,
    ``template.publish`` for a template review); ``reader_permission`` lets others see it."""

    approver_permission: str
    reader_permission: str

    def propose(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        actor: Principal,
        context: Mapping[str, Any],
    ) -> Proposal:
        """Check the payload and describe it (raises like the direct operation would);
        ``context`` is what the server passes applying too (keys, the Git workspace)."""
        ...

    def base(self, sessions: sessionmaker[Session], payload: Mapping[str, Any]) -> str:
        """A fingerprint of the state the change applies to, now."""
        ...

    def apply(
        self,
        sessions: sessionmaker[Session],
        payload: Mapping[str, Any],
        *,
        requester: Principal,
        approved_by: tuple[str, ...],
        context: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Do the change as ``requester`` with the approvers recorded; returns its result."""
        ...


@dataclass(frozen=True, slots=True)
class ChangeRequestView:
    id: int
    kind: str
    target: str
    environment: str
    payload: dict[str, Any]
    diff: str
    requester: str
    required: int
    state: str
    approvals: tuple[str, ...]
    editors: tuple[str, ...]
    rejected_by: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


def payload_fields(payload: Mapping[str, Any], *names: str, kind: str) -> tuple[str, ...]:
    """The text fields ``names`` of a ``kind`` change's payload, in order; ``InputError`` naming
    them when one is missing or not text (an operation module's reading of its payload)."""
    values = tuple(payload.get(name) for name in names)
    if not all(isinstance(value, str) for value in values):
        raise InputError(f"a {kind} change names its {' and '.join(names)}")
    return tuple(str(value) for value in values)


def operation_of(kind: str) -> Operation:
    """The operation applying ``kind`` (its module imported now); ``InputError`` naming the
    known kinds for another."""
    named = OPERATIONS.get(kind)
    if named is None:
        raise InputError(f"unknown change kind {kind!r}; known: {', '.join(sorted(OPERATIONS))}")
    module, _, attribute = named.partition(":")
    operation: Operation = getattr(importlib.import_module(module), attribute or "OPERATION")
    return operation


def view_of(row: ChangeRequestRow) -> ChangeRequestView:
    """A stored request as callers see it."""
    return ChangeRequestView(
        id=row.id,
        kind=row.kind,
        target=row.target,
        environment=row.environment,
        payload=dict(row.payload),
        diff=row.diff,
        requester=row.requester,
        required=row.required,
        state=row.state,
        approvals=tuple(row.approvals),
        editors=tuple(row.editors),
        rejected_by=row.rejected_by,
        result=row.result,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def record_of(row: ChangeRequestRow) -> changes.ChangeRequest:
    """A stored request as the four-eyes rules of ``core/access/changes`` read it."""
    return changes.ChangeRequest(
        id=row.id,
        kind=row.kind,
        target=row.target,
        payload=row.payload,
        diff=row.diff,
        base=row.base,
        requester=row.requester,
        required=row.required,
        state=row.state,
        editors=tuple(row.editors),
        approvals=tuple(row.approvals),
        rejected_by=row.rejected_by,
    )


def locked_row(session: Session, request_id: int) -> ChangeRequestRow:
    """Request ``request_id``, locked for update in ``session``; ``NotFoundError`` without."""
    row = (
        session.get(ChangeRequestRow, request_id, with_for_update=True)
        if 0 < request_id < 2**62
        else None
    )
    if row is None:
        raise NotFoundError(f"change request {request_id} does not exist")
    return row


def missing_message(request_id: int) -> str:
    """What a missing request, and one the caller may not see, are answered with."""
    return f"change request {request_id} does not exist"


def may_see(
    sessions: sessionmaker[Session], actor: Principal
) -> Callable[[ChangeRequestRow], bool]:
    """Whether ``actor`` may see a request in hand: theirs, or one whose operation's approver
    or reader permission they hold at its target (each permission's policy read once)."""
    predicates: dict[str, Callable[[Target], bool]] = {}

    def allowed(permission: str) -> Callable[[Target], bool]:
        if permission not in predicates:
            predicates[permission] = access.allowed(sessions, actor, permission)
        return predicates[permission]

    def visible(row: ChangeRequestRow) -> bool:
        if row.requester == actor.name:
            return True
        operation = operation_of(row.kind)
        target = target_of(row)
        return allowed(operation.approver_permission)(target) or allowed(
            operation.reader_permission
        )(target)

    return visible


def hidden_request(
    sessions: sessionmaker[Session], actor: Principal, row: ChangeRequestRow
) -> NotFoundError:
    """The answer to ``actor`` about a request ``may_see`` hides from them: the error a
    missing one gets, once their denial is audited (DESIGN §9: every denial is)."""
    operation = operation_of(row.kind)
    reason = (
        f"not its requester, and holds neither {operation.approver_permission} nor "
        f"{operation.reader_permission} on {text_of(target_of(row))}"
    )
    record_denial(sessions, actor, row.id, permission=operation.approver_permission, reason=reason)
    return NotFoundError(missing_message(row.id))


def record_denial(
    sessions: sessionmaker[Session],
    actor: Principal,
    request_id: int,
    *,
    permission: str,
    reason: str,
) -> None:
    """Audit ``actor``'s refused ``permission`` on change request ``request_id`` (its own
    transaction: the refused change's is rolled back), as ``access.require`` audits its own."""
    with sessions.begin() as session:
        audit.record(
            session,
            actor,
            "access.deny",
            f"change:{request_id}",
            after={"permission": permission, "reason": reason},
        )


def _visible_query(
    sessions: sessionmaker[Session], actor: Principal, state: str | None
) -> sa.Select[ChangeRequestRow]:
    """The requests ``actor`` may see (``may_see`` as a WHERE clause), newest first."""
    if state is not None and state not in STATES:
        raise InputError(f"state {state!r} is unknown; use one of {', '.join(STATES)}")
    readers = {
        kind: (operation.approver_permission, operation.reader_permission)
        for kind, operation in ((kind, operation_of(kind)) for kind in OPERATIONS)
    }
    query = (
        sa.select(ChangeRequestRow)
        .where(visible_where(sessions, actor, readers))
        .order_by(ChangeRequestRow.id.desc())
    )
    if state is not None:
        query = query.where(ChangeRequestRow.state == state)
    return query


def list_requests(
    sessions: sessionmaker[Session], *, actor: Principal, state: str | None = None
) -> list[ChangeRequestView]:
    """The newest 500 change requests the actor may see (their own, those they may approve
    or read), newest first, optionally in one ``state`` (pending, applied, rejected, stale).
    The access rule is part of the query. Raises ``InputError`` for an unknown state."""
    query = _visible_query(sessions, actor, state).limit(500)
    with sessions() as session:
        return [view_of(row) for row in session.scalars(query)]


def page_requests(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    page: PageRequest,
    state: str | None = None,
) -> Page[ChangeRequestView]:
    """One page of the change requests the actor may see, newest first, optionally in one
    ``state``; ``page.query`` matches the kind, the target and the requester. The database
    filters, counts and pages. Raises ``InputError`` for an unknown state."""
    query = _visible_query(sessions, actor, state)
    if page.query:
        query = query.where(
            contains(
                page.query,
                ChangeRequestRow.kind,
                ChangeRequestRow.target,
                ChangeRequestRow.requester,
            )
        )
    with sessions() as session:
        return fetch_page(session, query, page, view_of)


def get_request(
    sessions: sessionmaker[Session], request_id: int, *, actor: Principal
) -> ChangeRequestView:
    """One change request; one the actor may not see is answered as missing."""
    visible = may_see(sessions, actor)
    with sessions() as session:
        row = locked_row(session, request_id)
        if not visible(row):
            raise hidden_request(sessions, actor, row)
        return view_of(row)


def changed_since_proposal(sessions: sessionmaker[Session], view: ChangeRequestView) -> bool:
    """True when the object ``view`` was proposed against changed since (its operation's
    ``base`` moved): approving a pending request would then find it stale."""
    with sessions() as session:
        proposed = session.scalar(
            sa.select(ChangeRequestRow.base).where(ChangeRequestRow.id == view.id)
        )
    return operation_of(view.kind).base(sessions, view.payload) != proposed
