"""Change requests (DESIGN §9): a change in an environment that requires approval is proposed,
approved by other people, then applied exactly as proposed.

The mechanism is generic. An *operation* (``Operation``) knows, for its ``payload``: the
target and environment, a fingerprint of the current state (``base``), the diff to show, and
how to apply it. Operations live in their own small modules, named in ``OPERATIONS`` by kind;
adding a kind is one module and one line here. The four-eyes rules are the pure functions of
``core/access/changes.py``; this module stores requests and checks who may do what:
``change.approve`` on the target (and never the requester or an editor), or an administrator's
break-glass, which applies at once and is audited as ``change.break_glass``.
"""

from __future__ import annotations

__all__ = [
    "OPERATIONS",
    "ChangeRequestView",
    "OfferedDecisions",
    "Operation",
    "Proposal",
    "approve",
    "changed_since_proposal",
    "edit",
    "get_request",
    "list_requests",
    "offered_decisions",
    "page_requests",
    "payload_fields",
    "propose",
    "reject",
    "required_approvals",
]

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import ChangeRequestRow
from helmforge.core.access import changes
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    HelmforgeError,
    InputError,
    NotFoundError,
)
from helmforge.services import access, audit
from helmforge.services.change_request_targets import (
    columns_of,
    parse_target,
    target_of,
    text_of,
    visible_where,
)
from helmforge.services.paging import Page, PageRequest, contains, fetch_page

_log = logging.getLogger(__name__)

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
_STATES = (
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


def _operation(kind: str) -> Operation:
    named = OPERATIONS.get(kind)
    if named is None:
        raise InputError(f"unknown change kind {kind!r}; known: {', '.join(sorted(OPERATIONS))}")
    module, _, attribute = named.partition(":")
    operation: Operation = getattr(importlib.import_module(module), attribute or "OPERATION")
    return operation


def _view(row: ChangeRequestRow) -> ChangeRequestView:
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


def _record(row: ChangeRequestRow) -> changes.ChangeRequest:
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


def required_approvals(sessions: sessionmaker[Session], environment: str) -> int:
    """How many approvers a change in ``environment`` needs under the store's settings."""
    return access.configuration(sessions).approvals.required_for(environment)


def propose(
    sessions: sessionmaker[Session],
    *,
    kind: str,
    payload: Mapping[str, Any],
    actor: Principal,
    context: Mapping[str, Any] | None = None,
) -> ChangeRequestView:
    """Record ``payload`` as a pending change request of ``kind`` by ``actor``.

    The operation checks the payload first, so a request that could never be applied is not
    stored; ``context`` is what it may need for that (as for ``approve``). Raises what the
    operation raises.
    """
    operation = _operation(kind)
    proposal = operation.propose(sessions, payload, actor=actor, context=dict(context or {}))
    environment = proposal.target.context[2] if proposal.target.context else ""
    target = text_of(proposal.target)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        row = ChangeRequestRow(
            kind=kind,
            target=target,
            environment=environment,
            **columns_of(target),
            payload=dict(payload),
            diff=proposal.diff,
            base=proposal.base,
            requester=actor.name,
            requester_groups=list(actor.groups),
            required=max(1, proposal.required),
            state=changes.PENDING,
            editors=[],
            approvals=[],
            rejected_by=None,
            result=None,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor,
            "change.propose",
            f"change:{row.id}",
            after={"kind": kind, "target": row.target, "required": row.required},
        )
        return _view(row)


def _row(session: Session, request_id: int) -> ChangeRequestRow:
    row = (
        session.get(ChangeRequestRow, request_id, with_for_update=True)
        if 0 < request_id < 2**62
        else None
    )
    if row is None:
        raise NotFoundError(f"change request {request_id} does not exist")
    return row


def _missing(request_id: int) -> str:
    return f"change request {request_id} does not exist"


def _may_see(
    sessions: sessionmaker[Session], actor: Principal
) -> Callable[[ChangeRequestRow], bool]:
    predicates: dict[str, Callable[[Target], bool]] = {}

    def allowed(permission: str) -> Callable[[Target], bool]:
        if permission not in predicates:
            predicates[permission] = access.allowed(sessions, actor, permission)
        return predicates[permission]

    def visible(row: ChangeRequestRow) -> bool:
        if row.requester == actor.name:
            return True
        operation = _operation(row.kind)
        target = target_of(row)
        return allowed(operation.approver_permission)(target) or allowed(
            operation.reader_permission
        )(target)

    return visible


def _visible_query(
    sessions: sessionmaker[Session], actor: Principal, state: str | None
) -> sa.Select[ChangeRequestRow]:
    """The requests ``actor`` may see (``_may_see`` as a WHERE clause), newest first."""
    if state is not None and state not in _STATES:
        raise InputError(f"state {state!r} is unknown; use one of {', '.join(_STATES)}")
    readers = {
        kind: (operation.approver_permission, operation.reader_permission)
        for kind, operation in ((kind, _operation(kind)) for kind in OPERATIONS)
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
        return [_view(row) for row in session.scalars(query)]


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
        return fetch_page(session, query, page, _view)


def get_request(
    sessions: sessionmaker[Session], request_id: int, *, actor: Principal
) -> ChangeRequestView:
    """One change request; one the actor may not see is answered as missing."""
    visible = _may_see(sessions, actor)
    with sessions() as session:
        row = _row(session, request_id)
        if not visible(row):
            raise NotFoundError(_missing(request_id))
        return _view(row)


def changed_since_proposal(sessions: sessionmaker[Session], view: ChangeRequestView) -> bool:
    """True when the object ``view`` was proposed against changed since (its operation's
    ``base`` moved): approving a pending request would then find it stale."""
    with sessions() as session:
        proposed = session.scalar(
            sa.select(ChangeRequestRow.base).where(ChangeRequestRow.id == view.id)
        )
    return _operation(view.kind).base(sessions, view.payload) != proposed


def approve(
    sessions: sessionmaker[Session],
    request_id: int,
    *,
    actor: Principal,
    comment: str = "",
    break_glass: bool = False,
    context: Mapping[str, Any] | None = None,
) -> ChangeRequestView:
    """Add ``actor``'s approval; once enough distinct people approved, apply the change as the
    requester with the approvers recorded (``context`` carries what applying needs, e.g. the
    registry key). ``break_glass`` (administrators only) applies at once, whoever asked.

    Raises ``PermissionDeniedError`` (no ``change.approve`` there; the requester or an editor
    approving), ``ConflictError`` (not pending, approved twice by one person, stale: the
    object changed since the proposal, and the request is marked stale), ``NotFoundError``.
    """
    if len(comment) > 2000:
        raise InputError("comment: at most 2,000 characters")
    visible = _may_see(sessions, actor)
    with sessions() as session:
        row = _row(session, request_id)
        if not visible(row):
            raise NotFoundError(_missing(request_id))
        target, kind, payload = target_of(row), row.kind, dict(row.payload)
    if break_glass:
        access.require(sessions, actor, "policy.manage")
    else:
        access.require(sessions, actor, _operation(kind).approver_permission, target)
    operation = _operation(kind)
    current_base = operation.base(sessions, payload)
    approved, requester, stale = _add_approval(
        sessions, request_id, actor, comment, current_base, break_glass=break_glass
    )
    if stale is not None:
        raise stale
    if break_glass:
        _log.warning(
            "BREAK-GLASS: %s applied change request %s (%s on %s) without a second person",
            actor.name,
            request_id,
            kind,
            text_of(target),
        )
    if not (break_glass or approved.ready) or not _claim(sessions, request_id):
        return get_request(sessions, request_id, actor=actor)
    # The change is the requester's: applied in their name, with their rights checked again by
    # the operation (a binding removed meanwhile stops it), and the approvers recorded beside.
    try:
        result = operation.apply(
            sessions,
            payload,
            requester=requester,
            approved_by=approved.approvals,
            context=dict(context or {}),
        )
    except HelmforgeError as error:
        _finish(sessions, request_id, actor, changes.FAILED, {"error": error.message})
        raise
    return _finish(sessions, request_id, actor, changes.APPLIED, result)


def _add_approval(
    sessions: sessionmaker[Session],
    request_id: int,
    actor: Principal,
    comment: str,
    current_base: str,
    *,
    break_glass: bool,
) -> tuple[changes.ChangeRequest, Principal, changes.StaleRequestError | None]:
    """Record the approval (or mark the request stale) in one transaction."""
    with sessions.begin() as session:
        row = _row(session, request_id)
        request = _record(row)
        requester = Principal(
            name=row.requester, role="", kind="user", id=0, groups=tuple(row.requester_groups)
        )
        try:
            if break_glass:
                approved = changes.break_glass(request, actor.name)
            else:
                approved = changes.approve(request, actor.name, current_base=current_base)
        except changes.StaleRequestError as error:
            row.state = changes.STALE
            row.updated_at = datetime.now(UTC)
            audit.record(session, actor, "change.stale", f"change:{row.id}")
            return request, requester, error
        row.approvals = list(approved.approvals)
        row.updated_at = datetime.now(UTC)
        audit.record(
            session,
            actor,
            "change.break_glass" if break_glass else "change.approve",
            f"change:{row.id}",
            after={"comment": comment, "approvals": row.approvals, "required": row.required},
        )
    return approved, requester, None


def _claim(sessions: sessionmaker[Session], request_id: int) -> bool:
    """Move a pending request to ``approved`` unless another approval got there first (a
    conditional UPDATE, so two approvers at once apply it once, on SQLite and PostgreSQL)."""
    with sessions.begin() as session:
        claimed = session.execute(
            sa.update(ChangeRequestRow)
            .where(ChangeRequestRow.id == request_id, ChangeRequestRow.state == changes.PENDING)
            .values(state=changes.APPROVED, updated_at=datetime.now(UTC))
            .returning(ChangeRequestRow.id)
        ).first()
        return claimed is not None


def _finish(
    sessions: sessionmaker[Session],
    request_id: int,
    actor: Principal,
    state: str,
    result: dict[str, Any],
) -> ChangeRequestView:
    with sessions.begin() as session:
        row = _row(session, request_id)
        row.state = state
        row.result = result
        row.updated_at = datetime.now(UTC)
        action = "change.apply" if state == changes.APPLIED else "change.fail"
        audit.record(session, actor, action, f"change:{row.id}", after={"result": result})
        return _view(row)


def edit(
    sessions: sessionmaker[Session],
    request_id: int,
    *,
    payload: Mapping[str, Any],
    actor: Principal,
    context: Mapping[str, Any] | None = None,
) -> ChangeRequestView:
    """Replace a pending request's proposal with ``payload``: the operation checks it (and the
    editor's right to propose it) as for a new request, every approval so far is void, and the
    editor joins those who may never approve it. An edit cannot move the request to another
    target. Raises what the operation raises, ``InputError`` (another target),
    ``ConflictError`` (not pending), ``NotFoundError``."""
    visible = _may_see(sessions, actor)
    with sessions() as session:
        row = _row(session, request_id)
        if not visible(row):
            raise NotFoundError(_missing(request_id))
        kind, target = row.kind, row.target
    proposal = _operation(kind).propose(sessions, payload, actor=actor, context=dict(context or {}))
    if text_of(proposal.target) != target:
        raise InputError(
            f"change request {request_id} is for {target}; an edit cannot move it to "
            f"{text_of(proposal.target)} (propose that separately)"
        )
    with sessions.begin() as session:
        row = _row(session, request_id)
        edited = changes.edit(_record(row), actor.name, payload=dict(payload), diff=proposal.diff)
        row.payload = dict(edited.payload)
        row.diff = edited.diff
        row.base = proposal.base
        row.editors = list(edited.editors)
        row.approvals = []
        row.updated_at = datetime.now(UTC)
        audit.record(
            session,
            actor,
            "change.edit",
            f"change:{row.id}",
            after={"approvals_reset": True, "editors": row.editors},
        )
        return _view(row)


def reject(
    sessions: sessionmaker[Session], request_id: int, *, actor: Principal, comment: str = ""
) -> ChangeRequestView:
    """Reject a pending request: anyone who may approve it, or its requester (a withdrawal).
    Raises ``PermissionDeniedError``, ``ConflictError`` (not pending), ``NotFoundError``."""
    if len(comment) > 2000:
        raise InputError("comment: at most 2,000 characters")
    visible = _may_see(sessions, actor)
    with sessions() as session:
        row = _row(session, request_id)
        if not visible(row):
            raise NotFoundError(_missing(request_id))
        target, requester, kind = target_of(row), row.requester, row.kind
    if actor.name != requester:
        access.require(sessions, actor, _operation(kind).approver_permission, target)
    with sessions.begin() as session:
        row = _row(session, request_id)
        rejected = changes.reject(_record(row), actor.name)
        row.state = rejected.state
        row.rejected_by = actor.name
        row.updated_at = datetime.now(UTC)
        audit.record(
            session, actor, "change.reject", f"change:{row.id}", after={"comment": comment}
        )
        return _view(row)


@dataclass(frozen=True, slots=True)
class OfferedDecisions:
    """What ``actor`` may do with one change request, for the pages to offer exactly that:
    the same rules ``approve`` and ``reject`` enforce (a forged post is refused there)."""

    approve: bool
    reject: bool
    break_glass: bool
    #: Replace the proposal (``edit``): offered to its requester and earlier editors.
    edit: bool = False


def offered_decisions(
    sessions: sessionmaker[Session], view: ChangeRequestView, *, actor: Principal
) -> OfferedDecisions:
    """Approve: pending, the operation's approver permission at its target (``change.approve``,
    or ``template.publish`` for a template review), and ``actor`` neither requested, edited nor
    already approved it. Reject: pending, and that permission there or the requester.
    Break-glass: pending and ``policy.manage`` (administrators). Edit: pending, and ``actor``
    requested or edited it (``edit`` still checks their right to propose the new version)."""
    if view.state != changes.PENDING:
        return OfferedDecisions(approve=False, reject=False, break_glass=False)
    target = parse_target(view.target)
    permission = _operation(view.kind).approver_permission
    may_approve = access.allowed(sessions, actor, permission)(target)
    involved = actor.name == view.requester or actor.name in view.editors
    return OfferedDecisions(
        approve=may_approve and not involved and actor.name not in view.approvals,
        reject=may_approve or actor.name == view.requester,
        break_glass=access.allowed(sessions, actor, "policy.manage")(Target()),
        edit=involved,
    )
