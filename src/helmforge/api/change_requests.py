"""``/api/v1/change-requests``: changes waiting for another person's approval (DESIGN §9).

Approving applies the change exactly as proposed once enough distinct people approved; the
requester and anyone who edited it never can. An administrator's ``break_glass`` applies it at
once and is audited as such.
"""

from __future__ import annotations

__all__ = [
    "ChangeRequestDetailPublic",
    "ChangeRequestPublic",
    "ChangeReviewPublic",
    "change_request_public",
    "router",
]

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.api.outbound import run_outbound
from helmforge.services import change_requests, instances
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.instances import RequestReview

router = APIRouter(tags=["change requests"])

RequestIdPath = Annotated[int, Path(ge=1, le=2**62)]


class ChangeRequestPublic(BaseModel):
    """A change request: ``change_request`` is its id (the 202 answer of a gated change)."""

    change_request: int
    kind: str
    target: str
    environment: str
    payload: dict[str, Any]
    diff: str
    requester: str
    required: int
    approvals: list[str]
    state: str
    rejected_by: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class ReviewProblemPublic(BaseModel):
    path: str
    message: str


class ChangeReviewPublic(BaseModel):
    """A pending instance change as approving it would apply it now: the diffs from the
    instance as Git has it (``revision``) to what it commits — values.yaml, the effective
    values, the objects Helm renders (what Argo CD will apply) — and the schema ``errors``
    of the result. ``moved``: the instance changed since the proposal, so approving finds the
    request stale. ``manifests_error``: Helm's message at the template file and line when
    the new side does not render. ``note``: why no diffs can be shown (the diffs are then
    empty). ``creates``: a creation, whose diffs are from nothing (``revision`` null) to the
    new instance: its whole values.yaml, effective values and rendered objects."""

    moved: bool
    revision: str | None
    creates: bool = False
    values_diff: str = ""
    effective_diff: str = ""
    manifests_diff: str = ""
    manifests_error: str | None = None
    errors: list[ReviewProblemPublic] = Field(default_factory=list)
    note: str | None = None


class ChangeRequestDetailPublic(ChangeRequestPublic):
    """One change request; ``review`` for a pending values update, rollback, upgrade or
    promotion of an instance (``null`` otherwise)."""

    review: ChangeReviewPublic | None = None


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)
    break_glass: bool = Field(
        default=False,
        description="administrators only: apply at once without a second person (audited)",
    )


class ChangeRequestEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(description="the whole new proposal, as the kind takes it")


class RejectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=2000)


def change_request_public(view: ChangeRequestView) -> ChangeRequestPublic:
    """The API's shape of a change request (its id as ``change_request``)."""
    return ChangeRequestPublic.model_validate({**asdict(view), "change_request": view.id})


@router.get("/change-requests")
def list_requests(
    sessions: SessionsDep,
    actor: PrincipalDep,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> list[ChangeRequestPublic]:
    """Change requests you may see (yours, and those you may approve or read), newest first."""
    views = change_requests.list_requests(sessions, actor=actor, state=state)
    return [change_request_public(view) for view in views]


def review_public(review: RequestReview) -> ChangeReviewPublic:
    """The API's shape of a change request's review."""
    preview = review.preview
    if preview is None:
        return ChangeReviewPublic(
            moved=review.moved, revision=review.revision, note=review.note, creates=review.creates
        )
    return ChangeReviewPublic(
        moved=review.moved,
        revision=review.revision,
        creates=review.creates,
        values_diff=preview.values_diff,
        effective_diff=preview.effective_diff,
        manifests_diff=preview.manifests_diff,
        manifests_error=preview.manifests_error,
        errors=[ReviewProblemPublic(path=e.path, message=e.message) for e in preview.errors],
    )


@router.get("/change-requests/{request_id}")
async def get_request(
    request_id: RequestIdPath, state: AppStateDep, sessions: SessionsDep, actor: PrincipalDep
) -> ChangeRequestDetailPublic:
    """One change request with its diff; a pending instance change also with its ``review``:
    the diffs of values.yaml, of the effective values and of Helm's rendered objects from the
    instance now to what approving commits (nothing built or recorded)."""
    workspace = state.git_workspace

    def read() -> tuple[ChangeRequestView, RequestReview | None]:
        view = change_requests.get_request(sessions, request_id, actor=actor)
        return view, instances.review_request(sessions, view, actor=actor, workspace=workspace)

    view, review = await run_outbound(state, read)
    return ChangeRequestDetailPublic.model_validate(
        {
            **change_request_public(view).model_dump(),
            "review": review_public(review) if review is not None else None,
        }
    )


@router.put("/change-requests/{request_id}")
async def edit_request(
    request_id: RequestIdPath,
    body: ChangeRequestEdit,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> ChangeRequestPublic:
    """Replace a pending request's proposal: its approvals are void and you can no longer
    approve it."""
    context = state.change_context()
    view = await anyio.to_thread.run_sync(
        lambda: change_requests.edit(
            sessions, request_id, payload=body.payload, actor=actor, context=context
        )
    )
    return change_request_public(view)


@router.post("/change-requests/{request_id}/approve")
async def approve(
    request_id: RequestIdPath,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    body: DecisionCreate | None = None,
) -> ChangeRequestPublic:
    """Approve (the body, and its ``comment``, optional); with enough approvals the change is
    applied and ``state`` is ``applied``."""
    decision = body or DecisionCreate()
    context = state.change_context()
    view = await anyio.to_thread.run_sync(
        lambda: change_requests.approve(
            sessions,
            request_id,
            actor=actor,
            comment=decision.comment,
            break_glass=decision.break_glass,
            context=context,
        )
    )
    return change_request_public(view)


@router.post("/change-requests/{request_id}/reject")
def reject(
    request_id: RequestIdPath,
    sessions: SessionsDep,
    actor: PrincipalDep,
    body: RejectCreate | None = None,
) -> ChangeRequestPublic:
    """Reject (or, as its requester, withdraw) a pending change request; the body, and its
    ``comment``, optional."""
    comment = body.comment if body is not None else ""
    view = change_requests.reject(sessions, request_id, actor=actor, comment=comment)
    return change_request_public(view)
