"""Change requests (DESIGN §9): a change in an environment that requires approval is proposed,
approved by other people, then applied exactly as proposed.

The mechanism is generic. An *operation* (``Operation``) knows, for its ``payload``: the
target and environment, a fingerprint of the current state (``base``), the diff to show, and
how to apply it. Operations live in their own small modules, named in ``OPERATIONS`` by kind
(``change_request_records``); adding a kind is one module and one line there. The four-eyes
rules are the pure functions of ``core/access/changes.py``; this module proposes, edits and
decides requests and checks who may do what: ``change.approve`` on the target (and never the
requester or an editor), or an administrator's break-glass, which applies at once and is
audited as ``change.break_glass``.

The service API of change requests: API, UI and other services import its names from here,
the reads and views of ``change_request_records`` included.
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

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.access_tables import ChangeRequestRow
from helmforge.core.access import changes
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import HelmforgeError, InputError, PermissionDeniedError
from helmforge.services import access, audit
from helmforge.services.change_request_records import (
    OPERATIONS,
    ChangeRequestView,
    Operation,
    Proposal,
    changed_since_proposal,
    get_request,
    hidden_request,
    list_requests,
    locked_row,
    may_see,
    operation_of,
    page_requests,
    payload_fields,
    record_denial,
    record_of,
    view_of,
)
from helmforge.services.change_request_targets import columns_of, parse_target, target_of, text_of

_log = logging.getLogger(__name__)


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
    operation = operation_of(kind)
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
        return view_of(row)


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
    visible = may_see(sessions, actor)
    with sessions() as session:
        row = locked_row(session, request_id)
        if not visible(row):
            raise hidden_request(sessions, actor, row)
        target, kind, payload = target_of(row), row.kind, dict(row.payload)
    if break_glass:
        access.require(sessions, actor, "policy.manage")
    else:
        access.require(sessions, actor, operation_of(kind).approver_permission, target)
    operation = operation_of(kind)
    current_base = operation.base(sessions, payload)
    try:
        approved, requester, stale = _add_approval(
            sessions, request_id, actor, comment, current_base, break_glass=break_glass
        )
    except PermissionDeniedError as error:  # four eyes: its requester or an editor approving
        permission = operation.approver_permission
        record_denial(sessions, actor, request_id, permission=permission, reason=error.message)
        raise
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
        row = locked_row(session, request_id)
        request = record_of(row)
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
        row = locked_row(session, request_id)
        row.state = state
        row.result = result
        row.updated_at = datetime.now(UTC)
        action = "change.apply" if state == changes.APPLIED else "change.fail"
        audit.record(session, actor, action, f"change:{row.id}", after={"result": result})
        return view_of(row)


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
    visible = may_see(sessions, actor)
    with sessions() as session:
        row = locked_row(session, request_id)
        if not visible(row):
            raise hidden_request(sessions, actor, row)
        kind, target = row.kind, row.target
    proposal = operation_of(kind).propose(
        sessions, payload, actor=actor, context=dict(context or {})
    )
    if text_of(proposal.target) != target:
        raise InputError(
            f"change request {request_id} is for {target}; an edit cannot move it to "
            f"{text_of(proposal.target)} (propose that separately)"
        )
    with sessions.begin() as session:
        row = locked_row(session, request_id)
        edited = changes.edit(record_of(row), actor.name, payload=dict(payload), diff=proposal.diff)
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
        return view_of(row)


def reject(
    sessions: sessionmaker[Session], request_id: int, *, actor: Principal, comment: str = ""
) -> ChangeRequestView:
    """Reject a pending request: anyone who may approve it, or its requester (a withdrawal).
    Raises ``PermissionDeniedError``, ``ConflictError`` (not pending), ``NotFoundError``."""
    if len(comment) > 2000:
        raise InputError("comment: at most 2,000 characters")
    visible = may_see(sessions, actor)
    with sessions() as session:
        row = locked_row(session, request_id)
        if not visible(row):
            raise hidden_request(sessions, actor, row)
        target, requester, kind = target_of(row), row.requester, row.kind
    if actor.name != requester:
        access.require(sessions, actor, operation_of(kind).approver_permission, target)
    with sessions.begin() as session:
        row = locked_row(session, request_id)
        rejected = changes.reject(record_of(row), actor.name)
        row.state = rejected.state
        row.rejected_by = actor.name
        row.updated_at = datetime.now(UTC)
        audit.record(
            session, actor, "change.reject", f"change:{row.id}", after={"comment": comment}
        )
        return view_of(row)


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
    permission = operation_of(view.kind).approver_permission
    may_approve = access.allowed(sessions, actor, permission)(target)
    involved = actor.name == view.requester or actor.name in view.editors
    return OfferedDecisions(
        approve=may_approve and not involved and actor.name not in view.approvals,
        reject=may_approve or actor.name == view.requester,
        break_glass=access.allowed(sessions, actor, "policy.manage")(Target()),
        edit=involved,
    )
