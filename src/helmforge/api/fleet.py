"""``/api/v1/fleet``: work over many instances at once, as jobs (DESIGN §10).

``POST /fleet/verify {"filter"?}`` answers 202 ``{"job"}``; follow it at ``/api/v1/jobs/{id}``.
Its result lists, per instance the caller may read, ``"ok"`` or the drift found.
``POST /fleet/impact {"template": "name@version", "filter"?}`` answers 202 ``{"job"}``; its
result lists, per instance of that template, the kind of change (identical, values,
manifests, breaking), the values diff, the manifest diff and why it is blocked.
``POST /fleet/rollouts`` answers 202 with the rollout and its job; ``GET /fleet/rollouts/{id}``
shows it; ``POST .../pause | /resume | /abort | /rollback`` control it.
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.jobs import JobAccepted
from helmforge.services import fleet_impact, fleet_rollouts, fleet_verification
from helmforge.services.fleet_rollouts import RolloutView

router = APIRouter(prefix="/fleet", tags=["fleet"])


class FleetFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str | None = Field(default=None, max_length=63)
    customer: str | None = Field(default=None, max_length=63)
    environment: str | None = Field(default=None, max_length=63)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filter: FleetFilter | None = None


@router.post("/verify", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
def verify(
    sessions: SessionsDep, principal: PrincipalDep, body: VerifyRequest | None = None
) -> JobAccepted:
    """Verify every instance you may read (matching ``filter``): the chart re-derived from
    its recorded inputs, the registry's tag and application.yaml against the records, and
    values.yaml against helmforge's last commit."""
    chosen = body.filter.model_dump(exclude_none=True) if body and body.filter else None
    view = fleet_verification.submit_verification(sessions, actor=principal, filter=chosen)
    return JobAccepted(job=view.id, state=view.state)


class ImpactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=200, description="NAME@VERSION (or NAME)")
    filter: FleetFilter | None = None


@router.post("/impact", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
def impact(sessions: SessionsDep, principal: PrincipalDep, body: ImpactRequest) -> JobAccepted:
    """What moving each instance of the template (that you may read with its values) to
    this version would change, its values migrated by the version's ``spec.migrations``;
    nothing is built or committed."""
    chosen = body.filter.model_dump(exclude_none=True) if body.filter else None
    view = fleet_impact.submit_impact(
        sessions, actor=principal, template=body.template, filter=chosen
    )
    return JobAccepted(job=view.id, state=view.state)


class WaveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    filter: FleetFilter | None = None
    max_parallel: int | None = Field(
        default=None,
        description="how many of the wave's instances are upgraded at once, 1 to 20 "
        "(default 1: one after another)",
    )


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=200, description="NAME@VERSION (or NAME)")
    version: str | None = Field(
        default=None, min_length=1, max_length=128, description="new app version (optional)"
    )
    waves: list[WaveRequest] = Field(min_length=1, max_length=50)
    stop_on: Literal["failure", "unhealthy"] = "failure"


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wave: str | None = Field(default=None, min_length=1, max_length=63)


class RolloutPublic(BaseModel):
    rollout: str
    job: str | None
    template: str
    app_version: str | None
    stop_on: str
    state: str
    requested: str | None
    waves: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    updated_at: datetime
    #: Where a failed rollout stopped: ``{"wave", "instance", "reason"}``.
    stopped: dict[str, str] | None = None


def _public(view: RolloutView) -> RolloutPublic:
    return RolloutPublic(
        rollout=view.id,
        job=view.job,
        template=view.template,
        app_version=view.app_version,
        stop_on=view.stop_on,
        state=view.state,
        requested=view.requested,
        waves=view.waves,
        created_by=view.created_by,
        created_at=view.created_at,
        updated_at=view.updated_at,
        stopped=view.stopped,
    )


RolloutId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


@router.post("/rollouts", status_code=status.HTTP_202_ACCEPTED, response_model=RolloutPublic)
def start_rollout(
    sessions: SessionsDep, principal: PrincipalDep, body: RolloutRequest
) -> RolloutPublic:
    """Upgrade the template's instances wave by wave (each wave: the instances its filter
    names); the answer names the rollout and its job."""
    waves = [
        {
            "name": wave.name,
            "filter": wave.filter.model_dump(exclude_none=True) if wave.filter else {},
            "max_parallel": wave.max_parallel,
        }
        for wave in body.waves
    ]
    view = fleet_rollouts.start_rollout(
        sessions,
        actor=principal,
        template=body.template,
        waves=waves,
        stop_on=body.stop_on,
        version=body.version,
    )
    return _public(view)


@router.get("/rollouts/{rollout_id}", response_model=RolloutPublic)
def get_rollout(
    rollout_id: RolloutId, sessions: SessionsDep, principal: PrincipalDep
) -> RolloutPublic:
    """The rollout: its state and, per wave, what happened to each instance."""
    return _public(fleet_rollouts.get_rollout(sessions, rollout_id, actor=principal))


@router.post("/rollouts/{rollout_id}/pause", response_model=RolloutPublic)
def pause_rollout(
    rollout_id: RolloutId, sessions: SessionsDep, principal: PrincipalDep
) -> RolloutPublic:
    """Stop after the instance it is on; ``resume`` goes on from there."""
    return _public(fleet_rollouts.pause(sessions, rollout_id, actor=principal))


@router.post("/rollouts/{rollout_id}/resume", response_model=RolloutPublic)
def resume_rollout(
    rollout_id: RolloutId, sessions: SessionsDep, principal: PrincipalDep
) -> RolloutPublic:
    """Go on with a paused rollout (a new job)."""
    return _public(fleet_rollouts.resume(sessions, rollout_id, actor=principal))


@router.post("/rollouts/{rollout_id}/abort", response_model=RolloutPublic)
def abort_rollout(
    rollout_id: RolloutId, sessions: SessionsDep, principal: PrincipalDep
) -> RolloutPublic:
    """Stop for good (a running rollout after the instance it is on)."""
    return _public(fleet_rollouts.abort(sessions, rollout_id, actor=principal))


@router.post("/rollouts/{rollout_id}/rollback", response_model=RolloutPublic)
def rollback_rollout(
    rollout_id: RolloutId,
    sessions: SessionsDep,
    principal: PrincipalDep,
    body: RollbackRequest | None = None,
) -> RolloutPublic:
    """Move what the rollout upgraded (one wave, or all) back, as new commits (a job)."""
    wave = body.wave if body else None
    return _public(fleet_rollouts.rollback(sessions, rollout_id, actor=principal, wave=wave))
