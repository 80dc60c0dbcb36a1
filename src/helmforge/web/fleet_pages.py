"""Fleet pages (DESIGN §10): the impact of a template version, verification, rollouts, and the
page of a job with its progress.

``/fleet`` holds the forms that start fleet work, each drawn only when the visitor may do it:
the impact view of a published template version they may read (over the instances of it they
may read with their values), a verification of the instances they may read, and a rollout
in waves (when they may upgrade instances somewhere); below them, their newest jobs. Each form
calls its service with the signed-in principal and goes to ``/jobs/{id}``, which shows the
job's state and a progress bar (``site.js`` follows ``/api/v1/jobs/{id}`` and reloads the page
when it ends; without scripts the page refreshes itself) and, once it ended, what it found: the
impact grouped by kind of change, or the drift per instance. ``/fleet/rollouts/{id}`` shows a
rollout wave by wave, each with its own progress bar, where a failed one stopped (which wave,
which instance, why), and the pause, resume, abort and rollback its state allows to its starter
(or a holder of ``policy.manage``).
"""

from __future__ import annotations

__all__ = ["router"]

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from helmforge.core.errors import HelmforgeError, InputError, Location, http_status_for
from helmforge.core.fleet.filters import FILTER_KEYS
from helmforge.core.fleet.impact import CHANGE_KINDS
from helmforge.services import (
    access,
    fleet_impact,
    fleet_rollouts,
    fleet_verification,
    jobs,
    template_store,
)
from helmforge.services.fleet_rollouts import RolloutView
from helmforge.services.jobs import JobView
from helmforge.web.instance_pages import diff_lines, instance_url
from helmforge.web.views import (
    PAGE_HEADERS,
    CheckedForm,
    SignedIn,
    Visitor,
    app_state,
    form_text,
    moment,
    render,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)

JobId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
RolloutId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]

_KIND_TITLES = {
    "fleet.impact": "Impact view",
    "fleet.verify": "Verification",
    "fleet.rollout": "Rollout",
}
_CHANGE_TITLES = {
    "identical": "Identical",
    "values": "Values only",
    "manifests": "Manifests change",
    "breaking": "Breaking (blocked)",
}
_CHANGE_HINTS = {
    "identical": "Nothing changes: same effective values, same manifests.",
    "values": "The effective values (or values.yaml, by a migration) change; the manifests stay.",
    "manifests": "The rendered manifests change.",
    "breaking": "These instances cannot take this version as they are; each says why.",
}
#: Instances shown per group (impact) or list (verification) before a "show all" link.
_SHOWN = 100
_PAGE_DIGITS = 6
_ROLLOUT_CONTROLS = ("pause", "resume", "abort", "rollback")
_CONTROLS = {
    "pause": fleet_rollouts.pause,
    "resume": fleet_rollouts.resume,
    "abort": fleet_rollouts.abort,
}
_WAVE_ROWS = 4


def _filter_of(form: FormData, prefix: str = "") -> dict[str, str]:
    chosen = {key: form_text(form, prefix + key).strip() for key in FILTER_KEYS}
    return {key: value for key, value in chosen.items() if value}


def _published_versions(request: Request, visitor: Visitor) -> list[str]:
    """``NAME@VERSION`` of every published template version the visitor may read, each
    template's newest first."""
    try:
        summaries = template_store.list_templates(
            session_factory_of(request), actor=visitor.principal
        )
    except HelmforgeError:
        return []
    found: list[str] = []
    for summary in summaries:
        published = [v for v, status in summary.versions if status == template_store.PUBLISHED]
        found.extend(f"{summary.name}@{version}" for version in reversed(published))
    return found


def _job_row(view: JobView) -> dict[str, Any]:
    return {
        "id": view.id,
        "url": f"/jobs/{view.id}",
        "title": _KIND_TITLES.get(view.kind, view.kind),
        "state": view.state,
        "done": view.done,
        "total": view.total,
        "created_by": view.created_by,
        "created_at": moment(view.created_at),
    }


def _fleet_page(
    request: Request,
    visitor: Visitor,
    *,
    problem: str = "",
    status_code: int = 200,
    typed: Mapping[str, str] | None = None,
) -> Response:
    sessions = session_factory_of(request)
    held = access.permissions_of(sessions, visitor.principal)
    environments = list(app_state(request).settings.environments)
    waves = [
        {"name": environment, "environment": environment}
        for environment in environments[:_WAVE_ROWS]
    ]
    waves += [{"name": "", "environment": ""}] * (_WAVE_ROWS - len(waves))
    return render(
        request,
        "fleet.html",
        status_code=status_code,
        section="fleet",
        title="Fleet",
        problem=problem,
        typed=typed or {},
        versions=_published_versions(request, visitor),
        may_verify="instance.read" in held,
        may_roll_out="instance.upgrade" in held,
        environments=environments,
        waves=waves,
        recent=[_job_row(view) for view in jobs.list_jobs(sessions, actor=visitor.principal)],
    )


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, visitor: SignedIn) -> Response:
    """The forms that start fleet work, and the visitor's newest jobs."""
    return _fleet_page(request, visitor)


def _refused(request: Request, visitor: Visitor, error: HelmforgeError, form: FormData) -> Response:
    typed = {key: value for key, value in form.items() if isinstance(value, str)}
    typed.pop("csrf_token", None)
    return _fleet_page(
        request, visitor, problem=error.message, status_code=http_status_for(error), typed=typed
    )


@router.post("/fleet/impact")
def start_impact(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Queue the impact view of the chosen template version; go to its job."""
    try:
        job = fleet_impact.submit_impact(
            session_factory_of(request),
            actor=visitor.principal,
            template=form_text(form, "template").strip(),
            filter=_filter_of(form),
        )
    except HelmforgeError as error:
        return _refused(request, visitor, error, form)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/fleet/verify")
def start_verification(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Queue a verification of the instances the filter names; go to its job."""
    try:
        job = fleet_verification.submit_verification(
            session_factory_of(request),
            actor=visitor.principal,
            filter=_filter_of(form, "verify-"),
        )
    except HelmforgeError as error:
        return _refused(request, visitor, error, form)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _waves_of(form: FormData) -> list[dict[str, Any]]:
    """The waves of the rollout form, in order: the rows with a name. A row without one is
    skipped (its environment is only the form's suggestion), unless a product or customer was
    typed into it: that is refused, naming the row, rather than dropped."""
    waves = []
    for row in range(_WAVE_ROWS):
        prefix = f"wave-{row}-"
        name = form_text(form, prefix + "name").strip()
        chosen = _filter_of(form, prefix)
        if not name and ("product" in chosen or "customer" in chosen):
            raise InputError(
                f"wave {row + 1} has a filter but no name: name it, or clear its filter",
                location=Location(path=f"waves[{row}].name"),
            )
        if name:
            wave: dict[str, Any] = {"name": name, "filter": chosen}
            parallel = form_text(form, prefix + "max_parallel").strip()
            if parallel:
                # A number goes as one; anything else as typed, for the plan to refuse.
                wave["max_parallel"] = int(parallel) if parallel.isdecimal() else parallel
            waves.append(wave)
    return waves


@router.post("/fleet/rollouts")
def start_rollout(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Start a rollout of the chosen template version in the waves of the form; go to it."""
    try:
        view = fleet_rollouts.start_rollout(
            session_factory_of(request),
            actor=visitor.principal,
            template=form_text(form, "template").strip(),
            waves=_waves_of(form),
            stop_on=form_text(form, "stop_on", "failure"),
            version=form_text(form, "version").strip() or None,
        )
    except HelmforgeError as error:
        return _refused(request, visitor, error, form)
    return RedirectResponse(f"/fleet/rollouts/{view.id}", status_code=303)


# --- a job ---------------------------------------------------------------------------------


def _page_number(page: str) -> int:
    return int(page) if page.isdigit() and 0 < len(page) <= _PAGE_DIGITS else 1


def _impact_item(item: Mapping[str, Any]) -> dict[str, Any]:
    instance = str(item.get("instance", ""))
    return {
        "instance": instance,
        "url": instance_url(instance),
        "from": item.get("from", ""),
        "blocked": list(item.get("blocked", [])),
        "migrated": list(item.get("migrated", [])),
        "values_diff": [
            {
                "path": change.get("path", ""),
                "kind": change.get("kind", ""),
                "before": _shown(change.get("before")) if "before" in change else "",
                "after": _shown(change.get("after")) if "after" in change else "",
            }
            for change in item.get("values_diff", [])
        ],
        "manifest_diff": diff_lines(str(item.get("manifest_diff", ""))),
    }


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _impact_groups(
    job_id: str, result: Mapping[str, Any], only: str, number: int
) -> list[dict[str, Any]]:
    """The impact's instances by kind of change (breaking first), ``_SHOWN`` of each; with
    ``only`` one kind's page ``number``."""
    items = [item for item in result.get("items", []) if isinstance(item, Mapping)]
    groups = []
    for kind in reversed(CHANGE_KINDS):
        if only and kind != only:
            continue
        members = [item for item in items if item.get("change") == kind]
        start = (number - 1) * _SHOWN if only else 0
        shown = members[start : start + _SHOWN]
        base = f"/jobs/{job_id}?"
        groups.append(
            {
                "kind": kind,
                "title": _CHANGE_TITLES[kind],
                "hint": _CHANGE_HINTS[kind],
                "count": len(members),
                "items": [_impact_item(item) for item in shown],
                "first": start + 1,
                "more_url": (
                    base + urlencode({"change": kind}) if not only and len(members) > _SHOWN else ""
                ),
                "previous_url": (
                    base + urlencode({"change": kind, "page": number - 1})
                    if only and number > 1
                    else ""
                ),
                "next_url": (
                    base + urlencode({"change": kind, "page": number + 1})
                    if only and start + _SHOWN < len(members)
                    else ""
                ),
            }
        )
    return groups


def _verification(result: Mapping[str, Any]) -> dict[str, Any]:
    items = [item for item in result.get("items", []) if isinstance(item, Mapping)]
    found = [
        {
            "instance": str(item.get("instance", "")),
            "url": instance_url(str(item.get("instance", ""))),
            "status": item.get("status", ""),
            "drift": [
                {"kind": drift.get("kind", ""), "message": drift.get("message", "")}
                for drift in item.get("drift", [])
                if isinstance(drift, Mapping)
            ]
            or ([{"kind": "gone", "message": item["message"]}] if item.get("message") else []),
        }
        for item in items
        if item.get("status") != "ok"
    ]
    ok = [str(item.get("instance", "")) for item in items if item.get("status") == "ok"]
    return {
        # A notice (another helmforge built it: re-derivation may differ) is no drift.
        "drifted": [item for item in found if item["status"] != "notice"],
        "notices": [item for item in found if item["status"] == "notice"],
        "ok": [{"instance": instance, "url": instance_url(instance)} for instance in ok],
        "ok_count": len(ok),
    }


def _filter_text(chosen: Any) -> str:
    if not isinstance(chosen, Mapping) or not chosen:
        return "every instance"
    return ", ".join(f"{key} = {value}" for key, value in chosen.items())


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: JobId, visitor: SignedIn, change: str = "", page: str = "1"
) -> Response:
    """A job: its state and progress and what it found (while it runs: so far)."""
    sessions = session_factory_of(request)
    try:
        view = jobs.get_job(sessions, job_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    result = view.result or {}
    params = view.params
    only = change if change in CHANGE_KINDS else ""
    ended = view.finished
    may_cancel = not ended and (
        view.created_by == visitor.principal.name
        or "policy.manage" in access.held(sessions, visitor.principal, ("policy.manage",))
    )
    return render(
        request,
        "job.html",
        section="fleet",
        title=_KIND_TITLES.get(view.kind, view.kind),
        job=view,
        kind_title=_KIND_TITLES.get(view.kind, view.kind),
        created_at=moment(view.created_at),
        started_at=moment(view.started_at),
        finished_at=moment(view.finished_at),
        template=str(params.get("template", "")),
        filter_text=_filter_text(params.get("filter")),
        verify_filter=params.get("filter") if isinstance(params.get("filter"), Mapping) else {},
        rollout=str(params.get("rollout", "")),
        may_cancel=may_cancel,
        may_verify="instance.read" in access.permissions_of(sessions, visitor.principal),
        counts=result.get("counts", {}) if view.kind == fleet_impact.KIND else {},
        change_titles=_CHANGE_TITLES,
        groups=(
            _impact_groups(view.id, result, only, _page_number(page))
            if view.kind == fleet_impact.KIND and (ended or result.get("items"))
            else []
        ),
        only=only,
        verification=(
            _verification(result) if ended and view.kind == fleet_verification.KIND else None
        ),
    )


@router.get("/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: JobId, visitor: SignedIn) -> Response:
    """``{"state", "done", "total"}`` of the job, for the page's script to follow (without the
    result, which the page shows once the job ended)."""
    try:
        state, done, total = jobs.get_progress(
            session_factory_of(request), job_id, actor=visitor.principal
        )
    except HelmforgeError as error:
        return JSONResponse(
            {"message": error.message}, status_code=http_status_for(error), headers=PAGE_HEADERS
        )
    return JSONResponse({"state": state, "done": done, "total": total}, headers=PAGE_HEADERS)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: JobId, visitor: SignedIn, form: CheckedForm) -> Response:
    """Cancel a queued or running job (it stops at its next checkpoint)."""
    try:
        jobs.cancel(session_factory_of(request), job_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url=f"/jobs/{job_id}")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


# --- a rollout -----------------------------------------------------------------------------


def _rollout_waves(view: RolloutView, sizes: Sequence[int]) -> list[dict[str, Any]]:
    waves = []
    for wave, size in zip(view.waves, sizes, strict=True):
        entries = [entry for entry in wave.get("instances", []) if isinstance(entry, Mapping)]
        waves.append(
            {
                "name": wave.get("name", ""),
                "filter": _filter_text(wave.get("filter")),
                "max_parallel": wave.get("max_parallel") or 1,
                # A wave the rollout stopped in (paused, aborted) is that, not "running".
                "state": (
                    view.state
                    if wave.get("state") == "running" and view.state != fleet_rollouts.RUNNING
                    else wave.get("state", "")
                ),
                "done": len(entries),
                "total": max(size, len(entries)),
                "instances": [
                    {
                        "instance": str(entry.get("instance", "")),
                        "url": instance_url(str(entry.get("instance", ""))),
                        "state": entry.get("state", ""),
                        "from": entry.get("from", ""),
                        "revision": str(entry.get("revision", ""))[:10],
                        "health": entry.get("health", ""),
                        "error": entry.get("error", "") or entry.get("rollback_error", ""),
                        "rolled_back": str(entry.get("rolled_back", ""))[:10],
                        "change_request": entry.get("change_request"),
                    }
                    for entry in entries
                ],
            }
        )
    return waves


def _rollout_controls(view: RolloutView) -> list[str]:
    """The controls the rollout's state allows (the service decides again when used)."""
    state = view.state
    controls = []
    if state == fleet_rollouts.RUNNING and view.requested is None:
        controls.append("pause")
    if state in (fleet_rollouts.PAUSED, fleet_rollouts.AWAITING):
        controls.append("resume")
    stoppable = (
        fleet_rollouts.RUNNING,
        fleet_rollouts.PAUSED,
        fleet_rollouts.FAILED,
        fleet_rollouts.AWAITING,
    )
    if state in stoppable and view.requested != "abort":
        controls.append("abort")
    if state not in (fleet_rollouts.RUNNING, fleet_rollouts.ROLLING_BACK):
        controls.append("rollback")
    return controls


def _moved_any(wave: Mapping[str, Any]) -> bool:
    """Whether the wave upgraded an instance that was not rolled back yet."""
    return any(
        entry["state"] in ("upgraded", "unhealthy") and not entry["rolled_back"]
        for entry in wave["instances"]
    )


def _stopped(view: RolloutView) -> dict[str, Any] | None:
    """Where a failed rollout stopped, for its page: the wave (its number and name), the
    instance (with its page) and the reason; ``None`` when it did not stop on an instance."""
    stopped = view.stopped
    if stopped is None:
        return None
    names = [wave.get("name") for wave in view.waves]
    return {
        **stopped,
        "number": names.index(stopped["wave"]) + 1,
        "url": instance_url(stopped["instance"]),
    }


@router.get("/fleet/rollouts/{rollout_id}", response_class=HTMLResponse)
def rollout_page(request: Request, rollout_id: RolloutId, visitor: SignedIn) -> Response:
    """A rollout wave by wave, each with its progress, and its controls."""
    sessions = session_factory_of(request)
    try:
        view = fleet_rollouts.get_rollout(sessions, rollout_id, actor=visitor.principal)
        sizes = fleet_rollouts.wave_sizes(sessions, view)
        job = (
            jobs.get_job(sessions, view.job, actor=visitor.principal)
            if view.job is not None
            else None
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/fleet")
    may_control = view.created_by == visitor.principal.name or "policy.manage" in access.held(
        sessions, visitor.principal, ("policy.manage",)
    )
    waves = _rollout_waves(view, sizes)
    return render(
        request,
        "rollout.html",
        section="fleet",
        title=f"Rollout of {view.template}",
        rollout=view,
        job=job,
        waves=waves,
        done=sum(wave["done"] for wave in waves),
        total=sum(wave["total"] for wave in waves),
        controls=_rollout_controls(view) if may_control else [],
        moved=[wave["name"] for wave in waves if _moved_any(wave)],
        stopped=_stopped(view),
        created_at=moment(view.created_at),
        updated_at=moment(view.updated_at),
    )


@router.post("/fleet/rollouts/{rollout_id}/{action}")
def control_rollout(
    request: Request, rollout_id: RolloutId, action: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Pause, resume, abort or roll back (a wave, or all) the rollout; back to its page."""
    back = f"/fleet/rollouts/{rollout_id}"
    sessions = session_factory_of(request)
    try:
        if action not in _ROLLOUT_CONTROLS:
            raise InputError(
                f"{action!r} is not something a rollout does: {', '.join(_ROLLOUT_CONTROLS)}",
                location=Location(path="action"),
            )
        if action == "rollback":
            fleet_rollouts.rollback(
                sessions,
                rollout_id,
                actor=visitor.principal,
                wave=form_text(form, "wave").strip() or None,
            )
        else:
            _CONTROLS[action](sessions, rollout_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url=back)
    return RedirectResponse(back, status_code=303)
