"""``/api/v1/fleet``: work over many instances at once, as jobs (DESIGN §10).

``POST /fleet/verify {"filter"?}`` answers 202 ``{"job"}``; follow it at ``/api/v1/jobs/{id}``.
Its result lists, per instance the caller may read, ``"ok"`` or the drift found.
``POST /fleet/impact {"template": "name@version", "filter"?}`` answers 202 ``{"job"}``; its
result lists, per instance of that template, the kind of change (identical, values,
manifests, breaking), the values diff, the manifest diff and why it is blocked.
"""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.jobs import JobAccepted
from helmforge.services import fleet_impact, fleet_verification

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
