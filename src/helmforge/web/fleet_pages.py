"""Fleet pages (DESIGN §10): start a verification or an impact view, follow a job with its
progress bar and read its result, follow a rollout wave by wave.

``/fleet`` holds the two forms; each starts a job through its service and goes to
``/jobs/{id}``, which reloads itself while the job runs. ``/fleet/rollouts/{id}`` shows a
rollout's waves, each with its own progress bar, and its pause, resume, abort and rollback
buttons. No logic here: the services decide, the pages show.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.errors import HelmforgeError, NotFoundError
from helmforge.services import fleet_impact, fleet_rollouts, fleet_verification, jobs
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    form_text,
    moment,
    render,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)
_FILTER_KEYS = ("product", "customer", "environment")


def _filter_of(form: Any) -> dict[str, str]:
    chosen = {key: form_text(form, key).strip() for key in _FILTER_KEYS}
    return {key: value for key, value in chosen.items() if value}


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, _visitor: SignedIn) -> Response:
    """The forms that start fleet work: verification and the impact view."""
    return render(request, "fleet.html", section="fleet", title="Fleet")


@router.post("/fleet/verify")
def start_verification(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Queue a verification of the instances the filter names; go to its job."""
    try:
        job = fleet_verification.submit_verification(
            session_factory_of(request), actor=visitor.principal, filter=_filter_of(form)
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/fleet/impact")
def start_impact(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Queue the impact view of a template version; go to its job."""
    try:
        job = fleet_impact.submit_impact(
            session_factory_of(request),
            actor=visitor.principal,
            template=form_text(form, "template").strip(),
            filter=_filter_of(form),
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, visitor: SignedIn) -> Response:
    """A job: its state and progress bar, then what it found (it reloads while it runs)."""
    try:
        job = jobs.get_job(session_factory_of(request), job_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    result = job.result or {}
    return render(
        request,
        "job.html",
        section="fleet",
        title=f"Job {job.id[:12]}",
        job=job,
        items=result.get("items", []),
        rollout=result.get("rollout"),
        created=moment(job.created_at),
        finished=moment(job.finished_at),
    )


@router.get("/fleet/rollouts/{rollout_id}", response_class=HTMLResponse)
def rollout_page(request: Request, rollout_id: str, visitor: SignedIn) -> Response:
    """A rollout wave by wave, each wave's progress, and its controls."""
    try:
        rollout = fleet_rollouts.get_rollout(
            session_factory_of(request), rollout_id, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    return render(
        request,
        "rollout.html",
        section="fleet",
        title=f"Rollout {rollout.id[:12]}",
        rollout=rollout,
        running=rollout.state in ("running", "rolling_back"),
    )


_CONTROLS = {
    "pause": fleet_rollouts.pause,
    "resume": fleet_rollouts.resume,
    "abort": fleet_rollouts.abort,
    "rollback": fleet_rollouts.rollback,
}


@router.post("/fleet/rollouts/{rollout_id}/{action}")
def control_rollout(
    request: Request, rollout_id: str, action: str, visitor: SignedIn, _form: CheckedForm
) -> Response:
    """Pause, resume, abort or roll back the rollout, then show it again."""
    control = _CONTROLS.get(action)
    back = f"/fleet/rollouts/{rollout_id}"
    if control is None:
        return render_failure(
            request,
            NotFoundError(f"{action!r} is no rollout action: pause, resume, abort or rollback"),
            back_url=back,
        )
    try:
        control(session_factory_of(request), rollout_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url=back)
    return RedirectResponse(back, status_code=303)
