"""Separation of duties (DESIGN §9): which changes need approval, and the four-eyes rules of a
change request, as pure functions over immutable records.

A *change request* holds the exact proposed operation (``kind`` and ``payload``), its diff, and
the *base*: a fingerprint of the state it was proposed against. Approving it applies it exactly
as proposed, provided the base still holds. The requester and everyone who edited the request
can never approve it; approvals count distinct people; any edit resets them.
"""

from __future__ import annotations

__all__ = [
    "APPLIED",
    "APPROVED",
    "FAILED",
    "PENDING",
    "REJECTED",
    "STALE",
    "ApprovalRules",
    "ChangeRequest",
    "StaleRequestError",
    "approve",
    "break_glass",
    "edit",
    "parse_approval_rules",
    "reject",
]

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from helmforge.core.errors import ConflictError, InputError, Location, PermissionDeniedError

PENDING = "pending"
APPROVED = "approved"
APPLIED = "applied"
FAILED = "failed"
REJECTED = "rejected"
STALE = "stale"
_OPEN = frozenset({PENDING})


class StaleRequestError(ConflictError):
    """The object changed since the change was proposed: it must be proposed again."""


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """How many distinct approvers a change in each environment needs (0: none)."""

    by_environment: Mapping[str, int] = field(default_factory=lambda: {"prod": 1})

    def required_for(self, environment: str) -> int:
        return self.by_environment.get(environment, 0)


def parse_approval_rules(text: str, *, source: str = "HELMFORGE_APPROVALS") -> ApprovalRules:
    """Read ``prod=1,uat=0`` (environment=approvers, comma separated; empty: nobody needs
    approval). Raises ``InputError`` naming the bad entry."""
    rules: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        environment, sep, count = entry.partition("=")
        if not sep or not environment.strip() or not count.strip().isdigit():
            raise InputError(
                f"{entry!r} is not ENVIRONMENT=APPROVERS (such as prod=1)",
                location=Location(path=source),
            )
        approvers = int(count.strip())
        if approvers > 10:
            raise InputError(f"{entry!r}: at most 10 approvers", location=Location(path=source))
        rules[environment.strip()] = approvers
    return ApprovalRules(by_environment=rules)


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One proposed change and who has looked at it."""

    id: int
    kind: str
    target: str
    payload: Mapping[str, Any]
    diff: str
    base: str
    requester: str
    required: int
    state: str = PENDING
    editors: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    rejected_by: str | None = None

    @property
    def excluded(self) -> frozenset[str]:
        """Who may never approve it: the requester and everyone who edited it."""
        return frozenset({self.requester, *self.editors})

    @property
    def ready(self) -> bool:
        """Enough distinct approvals to apply it."""
        return self.state == PENDING and len(set(self.approvals)) >= self.required


def _open(request: ChangeRequest) -> None:
    if request.state not in _OPEN:
        raise ConflictError(f"change request {request.id} is {request.state}, not pending")


def approve(request: ChangeRequest, approver: str, *, current_base: str) -> ChangeRequest:
    """``request`` with ``approver``'s approval added.

    Raises ``PermissionDeniedError`` when ``approver`` proposed or edited it (four eyes),
    ``ConflictError`` when it is not pending, already approved by them, or stale: the object
    changed since it was proposed (``current_base`` differs), so it must be proposed again.
    """
    _open(request)
    if approver in request.excluded:
        role = "requested" if approver == request.requester else "edited"
        raise PermissionDeniedError(
            f"{approver} {role} change request {request.id} and cannot approve it: "
            "another person must"
        )
    if approver in request.approvals:
        raise ConflictError(f"{approver} already approved change request {request.id}")
    if current_base != request.base:
        raise StaleRequestError(
            f"change request {request.id} is stale: {request.target} changed since it was "
            "proposed; propose the change again"
        )
    return replace(request, approvals=(*request.approvals, approver))


def break_glass(request: ChangeRequest, administrator: str) -> ChangeRequest:
    """``request`` approved by ``administrator`` alone, whoever asked and whatever changed
    since: the emergency path, which the caller must audit loudly. ``ConflictError`` when it
    is not pending."""
    _open(request)
    approvals = request.approvals
    if administrator not in approvals:
        approvals = (*approvals, administrator)
    return replace(request, approvals=approvals)


def reject(request: ChangeRequest, rejecter: str) -> ChangeRequest:
    """``request`` rejected by ``rejecter`` (anyone allowed to approve may reject, and so may
    the requester, who withdraws it). Raises ``ConflictError`` when it is not pending."""
    _open(request)
    return replace(request, state=REJECTED, rejected_by=rejecter)


def edit(
    request: ChangeRequest, editor: str, *, payload: Mapping[str, Any], diff: str
) -> ChangeRequest:
    """``request`` with a new proposal by ``editor``: every approval so far is void, and the
    editor joins those who may not approve. Raises ``ConflictError`` when it is not pending."""
    _open(request)
    editors = request.editors if editor in request.editors else (*request.editors, editor)
    return replace(request, payload=payload, diff=diff, editors=editors, approvals=())
