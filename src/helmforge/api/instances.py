"""``/api/v1/instances`` (DESIGN §6): deployed instances and their values in Git; their
history, rollback, upgrade, promotion and sync are ``api.instance_operations``, which shares
this module's path (``InstancePath``), answer of a change (``change_public``) and 202
(``ACCEPTED``).

``GET`` of one instance answers its revision (the commit that last changed its folder) as the
``ETag``; ``PUT .../values`` needs it back as ``If-Match`` (428 without, 409 with
``current_revision`` and ``diff`` when the instance changed since, 422 with ``errors`` and
nothing committed when the values break the chart's schema). In an environment that needs
approval a change answers 202 with the change request. Routes that reach Git or a registry
run on the outbound threads (``api.outbound``).
"""

from __future__ import annotations

__all__ = ["ACCEPTED", "ChangePublic", "InstancePath", "change_public", "router"]

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from helmforge.api.change_requests import ChangeRequestPublic, change_request_public
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.api.outbound import run_outbound
from helmforge.core.errors import InputError, Location, PreconditionRequiredError
from helmforge.core.instances.values_text import MAX_VALUES_BYTES
from helmforge.services import instances
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.instances import InstanceDetail, InstanceView, SyncStatus, ValuesChange

router = APIRouter(prefix="/instances", tags=["instances"])

Segment = Annotated[str, Path(min_length=1, max_length=63)]
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": ChangeRequestPublic, "description": "approval needed first"}
}


class InstanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=63)
    customer: str = Field(min_length=1, max_length=63)
    environment: str = Field(min_length=1, max_length=63)
    instance: str = Field(min_length=1, max_length=63)
    template: str = Field(min_length=1, max_length=200, description="NAME@VERSION (or NAME)")
    version: str = Field(min_length=1, max_length=128, description="the app version")
    registry: str = Field(min_length=1, max_length=63)
    repository: str = Field(min_length=1, max_length=63)
    argocd: str | None = Field(default=None, min_length=1, max_length=63)
    values: dict[str, Any] = Field(default_factory=dict, description="overrides only")
    message: str | None = Field(default=None, max_length=4000, description="commit message")


class InstancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    product: str
    customer: str
    environment: str
    instance: str
    template: str
    app_version: str
    registry: str
    repository: str
    argocd: str | None
    chart: str
    chart_version: str
    revision: str | None
    namespace: str
    app_name: str
    values_path: str
    application_path: str
    latest_template_version: str | None
    outdated: bool
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class InstanceListItemPublic(InstancePublic):
    sync: dict[str, str | None] | None = Field(
        default=None,
        description="with sync=, health= or with_sync=true: as Argo CD's list reports it, "
        "{status, health, revision}, or {error} when it could not tell; absent without an "
        "Argo CD server",
    )


class InstanceListPublic(BaseModel):
    items: list[InstanceListItemPublic]
    more: bool | None = Field(
        default=None, description="with a sync or health filter: more instances match"
    )
    truncated: bool = Field(
        default=False,
        description="a sync or health filter looked at the first "
        f"{instances.STATUS_SCAN} instances (after the other filters) and stopped there",
    )


class InstanceDetailPublic(InstancePublic):
    """An instance with its values as Git has them; ``revision`` is also the ``ETag``."""

    values: dict[str, Any] | None
    values_yaml: str | None
    effective_values: dict[str, Any] | None
    provenance: dict[str, str] | None
    fetched: bool
    fetch_error: str | None
    values_error: str | None
    sync: dict[str, str | None] | None = Field(
        default=None,
        description="as Argo CD reports it: {status, health, revision}, or {error} when it "
        "could not tell; absent without an Argo CD server",
    )


class ValuesUpdate(BaseModel):
    """Either ``values`` (DESIGN §6) or ``values_yaml``, values.yaml's text as written."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] | None = Field(
        default=None, description="the whole overrides (what values.yaml holds)"
    )
    values_yaml: str | None = Field(
        default=None,
        max_length=4 * MAX_VALUES_BYTES,
        description="instead of values: values.yaml's whole text, committed as written "
        "(comments and key order kept; strings YAML 1.1 would misread are quoted); 422 with "
        "the line of a problem",
    )
    message: str | None = Field(default=None, max_length=4000, description="commit message")

    @model_validator(mode="after")
    def _one_of(self) -> ValuesUpdate:
        if (self.values is None) == (self.values_yaml is None):
            raise ValueError("give either values or values_yaml")
        return self


class ValuesPreviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any]


class ValueProblemPublic(BaseModel):
    path: str
    message: str


class ValuesPreviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    revision: str | None
    values_diff: str
    changes: list[dict[str, Any]]
    effective_diff: str
    effective_changes: list[dict[str, Any]]
    manifests_diff: str
    errors: list[ValueProblemPublic]


class ChangePublic(BaseModel):
    """A committed change: the instance's new ``revision`` (``committed`` False when nothing
    changed), the diff and the commit message."""

    revision: str
    previous_revision: str | None
    committed: bool
    diff: str
    message: str
    instance: InstancePublic


def _public(view: InstanceView) -> InstancePublic:
    return InstancePublic.model_validate({**_fields(view)})


def _fields(view: InstanceView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in InstancePublic.model_fields}


def _sync_fields(sync: SyncStatus | None) -> dict[str, str | None] | None:
    if sync is None:
        return None
    if sync.error is not None:
        return {"error": sync.error}
    return {"status": sync.status, "health": sync.health, "revision": sync.revision}


def _detail(detail: InstanceDetail) -> InstanceDetailPublic:
    return InstanceDetailPublic.model_validate(
        {
            **_fields(detail.view),
            "revision": detail.revision,
            "values": detail.values,
            "values_yaml": detail.values_yaml,
            "effective_values": detail.effective_values,
            "provenance": detail.provenance,
            "fetched": detail.fetched,
            "fetch_error": detail.fetch_error,
            "values_error": detail.values_error,
            "sync": _sync_fields(detail.sync),
        }
    )


def change_public(change: ValuesChange, response: Response) -> ChangePublic:
    """The answer of a committed change, its revision also the ``ETag`` of ``response``."""
    response.headers["ETag"] = f'"{change.revision}"'
    return ChangePublic(
        revision=change.revision,
        previous_revision=change.previous_revision,
        committed=change.committed,
        diff=change.diff,
        message=change.message,
        instance=_public(change.instance),
    )


_IF_MATCH_HELP = 'give the one revision you edited: If-Match: "<revision>" (the ETag of the GET)'


def _revision(header: str | None) -> str | None:
    """``If-Match: "<revision>"`` (a weak ``W/`` or bare value too) as the revision. ``*``
    names no revision (``PreconditionRequiredError``, 428); a list of several or quotes inside
    the value are not one revision (``InputError``, 422)."""
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        raise PreconditionRequiredError(
            f"* names no revision, so a concurrent change could not be noticed; {_IF_MATCH_HELP}",
            location=Location(path="If-Match"),
        )
    value = value.removeprefix("W/")
    revision = value.removeprefix('"').removesuffix('"').strip()
    if '"' in revision or "," in revision:
        message = f"{header[:100]!r} is not one revision; {_IF_MATCH_HELP}"
        where = Location(path="If-Match")
        raise InputError(message, location=where, problems=(InputError(message, location=where),))
    return revision or None


async def instance_path(
    product: Segment, customer: Segment, environment: Segment, instance: Segment
) -> str:
    """The instance id ``p/c/e/i`` of the route's path (the service checks its segments)."""
    return f"{product}/{customer}/{environment}/{instance}"


InstancePath = Annotated[str, Depends(instance_path)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=ACCEPTED)
async def create_instance(
    body: InstanceCreate,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> InstanceDetailPublic | ChangeRequestPublic:
    """Create an instance: build and publish its chart, write values.yaml (overrides only)
    and application.yaml in one commit, push. In an environment that needs approval: 202
    with the change request whose approval does all of it."""
    request = instances.NewInstance(**body.model_dump())
    workspace = state.git_workspace

    def create() -> InstanceDetail | ChangeRequestView:
        outcome = instances.create_or_propose(sessions, request, actor=actor, workspace=workspace)
        if isinstance(outcome, ChangeRequestView):
            return outcome
        return instances.created_instance(sessions, outcome, actor=actor, workspace=workspace)

    outcome = await run_outbound(state, create)
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    if outcome.revision:
        response.headers["ETag"] = f'"{outcome.revision}"'
    return _detail(outcome)


_STATUS = re.compile(r"^[A-Za-z]{1,40}$")


@router.get("", response_model_exclude_unset=True)
async def list_instances(
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    *,
    product: Annotated[str | None, Query(max_length=63)] = None,
    customer: Annotated[str | None, Query(max_length=63)] = None,
    environment: Annotated[str | None, Query(max_length=63)] = None,
    template: Annotated[str | None, Query(max_length=63)] = None,
    outdated: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="part of id or name")] = None,
    sync: Annotated[
        str | None,
        Query(pattern=_STATUS.pattern, description="Synced, OutOfSync, Unknown (any case)"),
    ] = None,
    health: Annotated[
        str | None,
        Query(
            pattern=_STATUS.pattern,
            description="Healthy, Progressing, Degraded, Suspended, Missing, Unknown",
        ),
    ] = None,
    with_sync: Annotated[
        bool, Query(description="each item's Argo CD sync and health, without filtering")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> InstanceListPublic:
    """The instances you may read, by id (from the database; no Git call). With ``sync``,
    ``health`` or ``with_sync`` also their Argo CD status, read with one list request per
    Argo CD server and batch; a filter on it is applied before paging, over at most the
    first ``STATUS_SCAN`` instances matching the other filters (``truncated``)."""
    filters: dict[str, Any] = {
        "product": product,
        "customer": customer,
        "environment": environment,
        "template": template,
        "outdated": outdated,
        "search": q,
    }
    if sync is None and health is None and not with_sync:
        views = await run_in_threadpool(
            lambda: instances.list_instances(
                sessions, actor=actor, limit=limit, offset=offset, **filters
            )
        )
        return InstanceListPublic(
            items=[InstanceListItemPublic.model_validate(_fields(view)) for view in views]
        )
    workspace = state.git_workspace
    listing = await run_outbound(
        state,
        lambda: instances.list_with_status(
            sessions,
            actor=actor,
            workspace=workspace,
            sync=sync,
            health=health,
            limit=limit,
            offset=offset,
            **filters,
        ),
    )
    return InstanceListPublic(
        items=[
            InstanceListItemPublic.model_validate({**_fields(view), "sync": _sync_fields(status)})
            for view, status in listing.items
        ],
        more=listing.more,
        truncated=listing.truncated,
    )


@router.get("/{product}/{customer}/{environment}/{instance}")
async def get_instance(
    instance_id: InstancePath,
    *,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> InstanceDetailPublic:
    """One instance with its values as Git has them now; ``ETag`` is its revision."""
    workspace = state.git_workspace
    detail = await run_outbound(
        state,
        lambda: instances.get_instance(
            sessions,
            instance_id,
            actor=actor,
            workspace=workspace,
        ),
    )
    if detail.revision:
        response.headers["ETag"] = f'"{detail.revision}"'
    return _detail(detail)


@router.put("/{product}/{customer}/{environment}/{instance}/values", responses=ACCEPTED)
async def update_values(
    instance_id: InstancePath,
    *,
    body: ValuesUpdate,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    if_match: Annotated[str | None, Header(alias="If-Match", max_length=128)] = None,
) -> ChangePublic | ChangeRequestPublic:
    """Replace the instance's overrides, as one commit on the revision named by
    ``If-Match``: ``values`` as data (values.yaml is edited in place, its comments on what
    stays kept), or ``values_yaml``, the file's text, committed as written."""
    workspace = state.git_workspace
    outcome = await run_outbound(
        state,
        lambda: instances.update_values_or_propose(
            sessions,
            instance_id,
            body.values,
            if_match=_revision(if_match),
            actor=actor,
            workspace=workspace,
            message=body.message,
            values_yaml=body.values_yaml,
        ),
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return change_public(outcome, response)


@router.post("/{product}/{customer}/{environment}/{instance}/values/preview")
async def preview_values(
    instance_id: InstancePath,
    *,
    body: ValuesPreviewCreate,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> ValuesPreviewPublic:
    """What saving these values would change (overrides, effective values, objects) and
    the schema problems a save would be refused for; nothing is committed or recorded."""
    workspace = state.git_workspace
    preview = await run_outbound(
        state,
        lambda: instances.preview_values(
            sessions,
            instance_id,
            body.values,
            actor=actor,
            workspace=workspace,
        ),
    )
    return ValuesPreviewPublic.model_validate(
        {
            **{name: getattr(preview, name) for name in ValuesPreviewPublic.model_fields},
            "errors": [{"path": e.path, "message": e.message} for e in preview.errors],
        }
    )
