"""``/api/v1/jobs``: long fleet work and where it stands (DESIGN §10).

``GET /jobs/{id}`` answers ``{"state", "progress": {"done", "total"}, "result"?, "error"?}``
for the job's submitter and for holders of ``audit.read``; to anyone else it is missing (404).
"""

from __future__ import annotations

__all__ = ["JobPublic", "job_public", "router"]

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.services import jobs
from helmforge.services.jobs import JobView

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class Progress(BaseModel):
    done: int
    total: int


class JobPublic(BaseModel):
    """A job: ``state`` is queued, running, succeeded, failed or cancelled; ``result`` holds
    what it found so far while it runs, ``error`` why it failed."""

    id: str
    kind: str
    state: str
    progress: Progress
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobAccepted(BaseModel):
    """The answer of a request that started a job: its id, to follow at ``/api/v1/jobs/{id}``."""

    job: str
    state: str


def job_public(view: JobView) -> JobPublic:
    return JobPublic(
        id=view.id,
        kind=view.kind,
        state=view.state,
        progress=Progress(done=view.done, total=view.total),
        result=view.result,
        error=view.error,
        attempts=view.attempts,
        created_by=view.created_by,
        created_at=view.created_at,
        started_at=view.started_at,
        finished_at=view.finished_at,
    )


@router.get("/{job_id}", response_model=JobPublic, response_model_exclude_none=True)
def get_job(job_id: JobId, sessions: SessionsDep, principal: PrincipalDep) -> JobPublic:
    """One job, its progress and (when it ended) its result or error."""
    return job_public(jobs.get_job(sessions, job_id, actor=principal))


@router.post("/{job_id}/cancel", response_model=JobPublic, response_model_exclude_none=True)
def cancel_job(job_id: JobId, sessions: SessionsDep, principal: PrincipalDep) -> JobPublic:
    """Cancel a queued or running job; a running one stops at its next checkpoint (409 when
    it already ended)."""
    return job_public(jobs.cancel(sessions, job_id, actor=principal))
