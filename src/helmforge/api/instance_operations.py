"""``/api/v1/instances/{p}/{c}/{e}/{i}/...`` (DESIGN §6): an instance's history, rollback,
upgrade, promotion to the next environment, and the Argo CD sync of the exact pushed revision.

The instance itself (create, list, read) and its values (``PUT .../values``, the preview) are
``api.instances``; these routes share its path, answers and 202 of a change request. Routes
that reach Git, a registry or Argo CD run on the outbound threads (``api.outbound``).
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.change_requests import ChangeRequestPublic, change_request_public
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.api.instances import ACCEPTED, ChangePublic, InstancePath, change_public
from helmforge.api.outbound import run_outbound
from helmforge.services import instances
from helmforge.services.change_requests import ChangeRequestView

router = APIRouter(prefix="/instances", tags=["instances"])


class SyncPublic(BaseModel):
    """A finished Argo CD sync: chart ``chart_version`` with the values of ``revision`` runs;
    ``mode`` ``manual`` (those revisions were asked for) or ``auto`` (Argo CD synced by
    itself); ``phase``, ``health`` and ``status`` as Argo CD reports them."""

    model_config = ConfigDict(from_attributes=True)

    instance: str
    app_name: str
    server: str
    mode: str
    revision: str
    chart_version: str
    synced_revision: str | None
    phase: str | None
    health: str | None
    status: str | None
    busy_retries: int


class HistoryEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    revision: str
    author: str
    email: str
    at: datetime
    message: str
    diff: str


class HistoryPublic(BaseModel):
    items: list[HistoryEntryPublic]


class RollbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: str = Field(min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=4000)


class UpgradeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(default=None, min_length=1, max_length=200)
    version: str | None = Field(default=None, min_length=1, max_length=128)
    message: str | None = Field(default=None, max_length=4000)


class PromoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="target environment; default the next one of HELMFORGE_ENVIRONMENTS",
    )
    values: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list,
        max_length=200,
        description="value paths (image.tag, env[0].value) whose overrides are copied too",
    )
    message: str | None = Field(default=None, max_length=4000)


@router.get("/{product}/{customer}/{environment}/{instance}/history")
async def history(
    instance_id: InstancePath,
    *,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> HistoryPublic:
    """The commits that changed the instance, newest first: who, when, message, diff."""
    workspace = state.git_workspace
    entries = await run_outbound(
        state,
        lambda: instances.history(
            sessions,
            instance_id,
            actor=actor,
            workspace=workspace,
            limit=limit,
        ),
    )
    return HistoryPublic(items=[HistoryEntryPublic.model_validate(e) for e in entries])


@router.post("/{product}/{customer}/{environment}/{instance}/rollback", responses=ACCEPTED)
async def rollback(
    instance_id: InstancePath,
    *,
    body: RollbackCreate,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> ChangePublic | ChangeRequestPublic:
    """A new commit restoring values.yaml as it was at ``revision``."""
    workspace = state.git_workspace
    outcome = await run_outbound(
        state,
        lambda: instances.rollback_or_propose(
            sessions,
            instance_id,
            body.revision,
            actor=actor,
            workspace=workspace,
            message=body.message,
        ),
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return change_public(outcome, response)


@router.post("/{product}/{customer}/{environment}/{instance}/upgrade", responses=ACCEPTED)
async def upgrade(
    instance_id: InstancePath,
    *,
    body: UpgradeCreate,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> ChangePublic | ChangeRequestPublic:
    """Build and publish the chart of another template and/or app version, and bump
    application.yaml's chart version, in one commit."""
    workspace = state.git_workspace
    outcome = await run_outbound(
        state,
        lambda: instances.upgrade_or_propose(
            sessions,
            instance_id,
            actor=actor,
            workspace=workspace,
            template=body.template,
            version=body.version,
            message=body.message,
        ),
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return change_public(outcome, response)


@router.post("/{product}/{customer}/{environment}/{instance}/promote", responses=ACCEPTED)
async def promote(
    instance_id: InstancePath,
    *,
    body: PromoteCreate,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> ChangePublic | ChangeRequestPublic:
    """Copy this instance's template and app version (and its overrides at ``values``) to
    the same instance in the next environment (or ``to``): its chart is built and
    published, and the target's files changed, in one commit in the target's folder. The
    answer's ``instance`` is the target; 202 with the change request where the target's
    environment needs approval."""
    workspace = state.git_workspace
    environments = state.settings.environments
    outcome = await run_outbound(
        state,
        lambda: instances.promote_or_propose(
            sessions,
            instance_id,
            actor=actor,
            workspace=workspace,
            environments=environments,
            to=body.to,
            values=body.values,
            message=body.message,
        ),
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return change_public(outcome, response)


@router.post("/{product}/{customer}/{environment}/{instance}/sync")
async def sync(
    instance_id: InstancePath,
    *,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> SyncPublic:
    """Roll the instance out with Argo CD: the exact chart version and commit helmforge
    pushed (auto-sync environments: refresh, Argo CD syncs), answered once Argo CD reports it
    synced, ``Succeeded`` and ``Healthy`` (bounded by ``HELMFORGE_ARGOCD_DEADLINE``)."""
    workspace = state.git_workspace
    result = await run_outbound(
        state,
        lambda: instances.sync_instance(sessions, instance_id, actor=actor, workspace=workspace),
    )
    return SyncPublic.model_validate(result)
