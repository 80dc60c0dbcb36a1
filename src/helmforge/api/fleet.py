"""``/api/v1/fleet``: work over many instances at once, as jobs (DESIGN §10).

``POST /fleet/verify {"filter"?}`` answers 202 ``{"job"}``; follow it at ``/api/v1/jobs/{id}``.
Its result lists, per instance the caller may read, ``"ok"`` or the drift found.
"""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.jobs import JobAccepted
from helmforge.services import fleet_verification

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
