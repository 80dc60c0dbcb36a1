"""Instances (DESIGN §6): the list with its filters, and one instance's page (chart, values,
effective values with their sources, history with a rollback per revision, upgrade,
promotion, sync).

Every page calls ``services.instances`` with the signed-in principal: an instance the visitor
may not read answers 404 like a missing one, and a control is drawn only when the visitor
holds the permission it needs. Changes in an environment that needs approval become change
requests; the page says so and links to it. Values editing lives in ``values_pages``, "Deploy"
of a generated chart as a new instance in ``deploy_pages``.
"""

from __future__ import annotations

__all__ = [
    "PAGE",
    "InstancePath",
    "diff_lines",
    "instance_page_with_request",
    "instance_url",
    "router",
]

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.errors import HelmforgeError, NotFoundError, http_status_for
from helmforge.core.instances.value_paths import ValuePath, format_path
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import (
    change_requests,
    instances,
    template_store,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.instances import InstanceView, SyncStatus
from helmforge.web.views import (
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

_HISTORY_SHOWN = 30
_SHORT = 10
_DONE = {
    "created": "Instance created: its chart is published and both files are committed.",
    "saved": "Values saved as a new commit.",
    "rolled-back": "Rolled back: a new commit restores the values of that revision.",
    "upgraded": "Upgraded: the new chart version is published and application.yaml bumped.",
    "promoted": "Promoted: this instance now runs the source's template and app version.",
    "synced": "Synced: Argo CD runs the pushed chart version and values, and reports Healthy.",
    "unchanged": "Nothing changed: the values were already so.",
}
_OUTDATED = {"yes": True, "no": False}
_LIST_PAGE = 100
_SYNC_STATES = ("Synced", "OutOfSync", "Unknown")
_HEALTH_STATES = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
_PAGE_DIGITS = 6


def instance_url(instance_id: str, suffix: str = "") -> str:
    """The page of instance ``p/c/e/i`` (each segment quoted), plus ``suffix``."""
    quoted = "/".join(quote(part, safe="") for part in instance_id.split("/"))
    return f"/instances/{quoted}{suffix}"


async def _instance_path(product: str, customer: str, environment: str, instance: str) -> str:
    """The instance id ``p/c/e/i`` of the page's path (the service checks its segments)."""
    return f"{product}/{customer}/{environment}/{instance}"


#: The instance a page under ``/instances/{p}/{c}/{e}/{i}`` is about.
InstancePath = Annotated[str, Depends(_instance_path)]
PAGE = "/instances/{product}/{customer}/{environment}/{instance}"


def diff_lines(unified: str) -> list[dict[str, str]]:
    """The lines of a unified diff with their kind (add, del, hunk, file, same) for colouring."""
    lines = []
    for line in unified.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        lines.append({"kind": kind, "text": line})
    return lines


def _short(revision: str | None) -> str:
    return (revision or "")[:_SHORT]


def _status_cells(status: SyncStatus | None) -> dict[str, Any]:
    """The list's sync and health cells: Argo CD's words, ``unknown (why)`` when it could not
    tell, nothing without a server."""
    if status is None:
        return {"sync": None, "health": None, "status_error": None}
    if status.error is not None:
        return {"sync": "unknown", "health": "unknown", "status_error": status.error}
    return {
        "sync": status.status or "unknown",
        "health": status.health or "unknown",
        "status_error": None,
    }


def _row(view: InstanceView, status: SyncStatus | None = None) -> dict[str, Any]:
    return {
        **_status_cells(status),
        "id": view.id,
        "url": instance_url(view.id),
        "template": view.template,
        "template_name": view.template_name,
        "latest": view.latest_template_version,
        "outdated": view.outdated,
        "chart": view.chart,
        "chart_version": view.chart_version,
        "revision": _short(view.revision),
        "repository": view.repository,
        "updated_by": view.updated_by,
        "updated_at": moment(view.updated_at),
    }


# --- the list ------------------------------------------------------------------------------


@router.get("/instances", response_class=HTMLResponse)
def instances_page(
    request: Request,
    visitor: SignedIn,
    *,
    q: str = "",
    product: str = "",
    customer: str = "",
    environment: str = "",
    template: str = "",
    outdated: str = "",
    sync: str = "",
    health: str = "",
    page: str = "1",
) -> Response:
    """The instances the visitor may read, searched (``q``) and filtered exactly by product,
    customer, environment, template name, whether a newer template version exists and
    Argo CD's sync and health (``instances.list_with_status``: one list request per Argo CD
    server and batch, filtered before paging); ``_LIST_PAGE`` a page."""
    filters = {
        "q": q.strip()[:200],
        "product": product.strip()[:63],
        "customer": customer.strip()[:63],
        "environment": environment.strip()[:63],
        "template": template.strip()[:63],
        "outdated": outdated if outdated in _OUTDATED else "",
        "sync": sync if sync in _SYNC_STATES else "",
        "health": health if health in _HEALTH_STATES else "",
    }
    number = int(page) if page.isdigit() and 0 < len(page) <= _PAGE_DIGITS else 1
    listing = instances.list_with_status(
        session_factory_of(request),
        actor=visitor.principal,
        workspace=app_state(request).git_workspace,
        product=filters["product"] or None,
        customer=filters["customer"] or None,
        environment=filters["environment"] or None,
        template=filters["template"] or None,
        outdated=_OUTDATED.get(filters["outdated"]),
        search=filters["q"] or None,
        sync=filters["sync"] or None,
        health=filters["health"] or None,
        limit=_LIST_PAGE,
        offset=(number - 1) * _LIST_PAGE,
    )
    shown = [view for view, _ in listing.items]
    query = {key: value for key, value in filters.items() if value}
    return render(
        request,
        "instances_list.html",
        section="instances",
        title="Instances",
        rows=[_row(view, status) for view, status in listing.items],
        truncated=listing.truncated,
        status_scan=instances.STATUS_SCAN,
        sync_states=_SYNC_STATES,
        health_states=_HEALTH_STATES,
        filters=filters,
        filtered=bool(query),
        number=number,
        first=(number - 1) * _LIST_PAGE + 1,
        previous_url=(
            "/instances?" + urlencode({**query, "page": number - 1}) if number > 1 else ""
        ),
        next_url=("/instances?" + urlencode({**query, "page": number + 1}) if listing.more else ""),
        environments=list(app_state(request).settings.environments),
        suggestions={
            "product": sorted({view.product for view in shown}),
            "customer": sorted({view.customer for view in shown}),
            "template": sorted({view.template_name for view in shown}),
        },
    )


# --- one instance ----------------------------------------------------------------------------


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return "(not set)"
    return dump_yaml(value).strip().removesuffix("...").strip()


def _layer_text(source: str, layers: Sequence[Mapping[str, Sequence[str]]]) -> str:
    """``layer N`` as the Generate page words it: the condition that chose the layer."""
    number = source.removeprefix("layer ")
    if not number.isdigit() or int(number) >= len(layers):
        return source
    when = layers[int(number)]
    if not when:
        return "layer: every context"
    parts = [
        f"{key} = {options[0]}" if len(options) == 1 else f"{key} in {', '.join(options)}"
        for key, options in when.items()
    ]
    return "layer: " + " and ".join(parts)


def _sources(
    values: Mapping[str, Any],
    provenance: Mapping[str, str],
    layers: Sequence[Mapping[str, Sequence[str]]],
) -> list[dict[str, str]]:
    rows = []
    for path in sorted(provenance):
        kind = provenance[path].split(" ", maxsplit=1)[0]
        source = _layer_text(provenance[path], layers) if kind == "layer" else provenance[path]
        rows.append(
            {"path": path, "value": _shown(_lookup(values, path)), "source": source, "kind": kind}
        )
    return rows


def _upgrade_versions(visitor: Visitor, request: Request, view: InstanceView) -> list[str]:
    """The published versions of the instance's template the visitor may read, newest first."""
    try:
        summaries = template_store.list_templates(
            session_factory_of(request), actor=visitor.principal
        )
    except HelmforgeError:
        return []
    for summary in summaries:
        if summary.name == view.template_name:
            published = [v for v, status in summary.versions if status == template_store.PUBLISHED]
            return list(reversed(published))
    return []


def _leaf_paths(values: Mapping[str, Any], prefix: ValuePath = ()) -> list[str]:
    """The path of every override (a map's keys, all the way down), as promotion reads it."""
    paths: list[str] = []
    for key, value in values.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and value:
            paths.extend(_leaf_paths(value, path))
        else:
            paths.append(format_path(path))
    return paths


def _promotion_targets(request: Request, visitor: Visitor, view: InstanceView) -> list[str]:
    """The later environments (in HELMFORGE_ENVIRONMENTS order) where the visitor may
    upgrade the same instance, which a promotion there needs."""
    order = list(app_state(request).settings.environments)
    later = order[order.index(view.environment) + 1 :] if view.environment in order else []
    sessions = session_factory_of(request)
    return [
        environment
        for environment in later
        if "instance.upgrade"
        in instances.allowed_actions(
            sessions,
            f"{view.product}/{view.customer}/{environment}/{view.instance}",
            actor=visitor.principal,
        )
    ]


def _instance_page(
    request: Request,
    visitor: SignedIn,
    instance_id: str,
    *,
    problem: str = "",
    change_request: ChangeRequestView | None = None,
    status_code: int = 200,
) -> Response:
    sessions = session_factory_of(request)
    state = app_state(request)
    actor = visitor.principal
    try:
        detail = instances.get_instance(
            sessions, instance_id, actor=actor, workspace=state.git_workspace
        )
        allowed = instances.allowed_actions(sessions, instance_id, actor=actor)
        layers = (
            instances.values_form(sessions, instance_id, actor=actor).layers
            if "values.read" in allowed
            else ()
        )
        entries = (
            instances.history(
                sessions,
                instance_id,
                actor=actor,
                workspace=state.git_workspace,
                limit=_HISTORY_SHOWN,
                refresh=False,
            )
            if "values.read" in allowed
            else []
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/instances")
    view = detail.view
    done = request.query_params.get("done", "")
    history = [
        {
            "revision": entry.revision,
            "short": _short(entry.revision),
            "author": entry.author,
            "email": entry.email,
            "at": moment(entry.at),
            "message": entry.message,
            "diff": diff_lines(entry.diff),
            "current": index == 0,
        }
        for index, entry in enumerate(entries)
    ]
    return render(
        request,
        "instance.html",
        status_code=status_code,
        section="instances",
        title=f"Instance {view.id}",
        view=view,
        url=instance_url(view.id),
        detail=detail,
        created_at=moment(view.created_at),
        updated_at=moment(view.updated_at),
        sources=(
            _sources(detail.effective_values, detail.provenance, layers)
            if detail.effective_values is not None and detail.provenance is not None
            else []
        ),
        history=history,
        allowed=allowed,
        approvals=change_requests.required_approvals(sessions, view.environment),
        versions=_upgrade_versions(visitor, request, view) if "instance.upgrade" in allowed else [],
        promote_to=_promotion_targets(request, visitor, view),
        override_paths=_leaf_paths(detail.values) if detail.values else [],
        done=_DONE.get(done, ""),
        problem=problem,
        change_request=change_request,
    )


@router.get(PAGE, response_class=HTMLResponse)
def instance_page(request: Request, instance_id: InstancePath, visitor: SignedIn) -> Response:
    """One instance as Git has it now: chart, template, revision, values, effective values and
    their sources, history; rollback and upgrade where the visitor may."""
    return _instance_page(request, visitor, instance_id)


def instance_page_with_request(
    request: Request, visitor: Visitor, instance_id: str, change_request: ChangeRequestView
) -> Response:
    """The instance's page saying that a change became ``change_request`` (linked)."""
    return _instance_page(request, visitor, instance_id, change_request=change_request)


def _after_change(
    request: Request,
    visitor: Visitor,
    instance_id: str,
    outcome: instances.ValuesChange | ChangeRequestView,
    done: str,
) -> Response:
    if isinstance(outcome, ChangeRequestView):
        return _instance_page(request, visitor, instance_id, change_request=outcome)
    word = done if outcome.committed else "unchanged"
    return RedirectResponse(instance_url(instance_id, f"?done={word}"), status_code=303)


@router.post(PAGE + "/rollback", response_class=HTMLResponse)
def rollback(
    request: Request, instance_id: InstancePath, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Restore values.yaml as it was at the posted revision, as a new commit (or propose it)."""
    try:
        outcome = instances.rollback_or_propose(
            session_factory_of(request),
            instance_id,
            form_text(form, "revision").strip(),
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
            message=form_text(form, "message").strip() or None,
        )
    except HelmforgeError as error:
        return _refused(request, visitor, instance_id, error)
    return _after_change(request, visitor, instance_id, outcome, "rolled-back")


@router.post(PAGE + "/upgrade", response_class=HTMLResponse)
def upgrade(
    request: Request, instance_id: InstancePath, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Build and publish the chart of the chosen template and app version and bump
    application.yaml in one commit (or propose it)."""
    template = form_text(form, "template").strip()
    version = form_text(form, "version").strip()
    try:
        outcome = instances.upgrade_or_propose(
            session_factory_of(request),
            instance_id,
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
            template=template or None,
            version=version or None,
            message=form_text(form, "message").strip() or None,
        )
    except HelmforgeError as error:
        return _refused(request, visitor, instance_id, error)
    return _after_change(request, visitor, instance_id, outcome, "upgraded")


@router.post(PAGE + "/promote", response_class=HTMLResponse)
def promote(
    request: Request, instance_id: InstancePath, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Promote to the same instance in a later environment: the source's template and app
    version and its overrides at the chosen paths, one commit there (or a change request)."""
    to = form_text(form, "to").strip()
    paths = [value for value in form.getlist("values") if isinstance(value, str) and value]
    try:
        outcome = instances.promote_or_propose(
            session_factory_of(request),
            instance_id,
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
            environments=app_state(request).settings.environments,
            to=to or None,
            values=paths,
            message=form_text(form, "message").strip() or None,
        )
    except HelmforgeError as error:
        return _refused(request, visitor, instance_id, error)
    if isinstance(outcome, ChangeRequestView):
        return _instance_page(request, visitor, instance_id, change_request=outcome)
    return RedirectResponse(instance_url(outcome.instance.id, "?done=promoted"), status_code=303)


@router.post(PAGE + "/sync", response_class=HTMLResponse)
def sync(
    request: Request, instance_id: InstancePath, visitor: SignedIn, _form: CheckedForm
) -> Response:
    """Have Argo CD roll out exactly the pushed chart version and commit, and wait for it."""
    try:
        instances.sync_instance(
            session_factory_of(request),
            instance_id,
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
        )
    except HelmforgeError as error:
        return _refused(request, visitor, instance_id, error)
    return RedirectResponse(instance_url(instance_id, "?done=synced"), status_code=303)


def _refused(
    request: Request, visitor: Visitor, instance_id: str, error: HelmforgeError
) -> Response:
    if isinstance(error, NotFoundError):
        return render_failure(request, error, back_url="/instances")
    return _instance_page(
        request, visitor, instance_id, problem=error.message, status_code=http_status_for(error)
    )
