"""``/api/v1/registries`` and ``/api/v1/charts/{id}/publish``: configured OCI registries and
publishing recorded chart builds to them.

A registry's password goes in once (``POST /registries``) and never comes out: responses say
only ``has_password``. The request body is read here rather than by FastAPI's validation,
whose error answers would echo the submitted body, password included.

Routes that talk to a registry run on threads of their own (``api.outbound``, as many as
the request threads): a registry that hangs holds those until their deadline, while every
other route keeps the request threads.
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

from helmforge.api.bodies import json_body_spec, read_secret_json_body
from helmforge.api.change_requests import ChangeRequestPublic, change_request_public
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.api.outbound import run_outbound
from helmforge.core.secrets import Secret
from helmforge.services import chart_pushes, publish_requests, registries, registry_settings
from helmforge.services.change_requests import ChangeRequestView

router = APIRouter(tags=["registries"])

NamePath = Annotated[str, Path(min_length=1, max_length=63)]
BuildIdPath = Annotated[str, Path(min_length=1, max_length=64)]


class RegistryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=63)
    url: str = Field(min_length=1, max_length=1024, description="oci://HOST[:PORT]/PATH")
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=4096)
    ca_pem: str | None = Field(default=None, max_length=256 * 1024)
    plain_http: StrictBool = False


class RegistryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str
    plain_http: bool
    username: str | None
    has_password: bool
    has_ca: bool
    created_by: str
    created_at: datetime


class RegistryUpdate(BaseModel):
    """Fields left out keep their value; ``username: ""`` makes the registry anonymous,
    ``ca_pem: ""`` drops the CA bundle; the password is replaced only when one is given."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str | None = Field(default=None, min_length=1, max_length=1024)
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=4096)
    ca_pem: str | None = Field(default=None, max_length=256 * 1024)
    plain_http: StrictBool | None = None


class ConnectionCheckPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    registry: str
    status: str = Field(description="ok, denied or unreachable")
    message: str


class PublishCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: str = Field(min_length=1, max_length=63)


class PublishPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    build_id: str
    requested_build_id: str
    registry: str
    policy: str
    chart: str
    version: str
    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    status: str
    push_id: int


class PushPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    build_id: str | None
    registry: str
    chart: str
    version: str
    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    status: str
    error: str | None
    actor: str
    at: datetime


class ChartVersionsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    registry: str
    chart: str
    repository: str
    versions: list[str]


def get_secret_key(state: AppStateDep) -> bytes:
    """The server's key for credentials at rest, resolved once at startup."""
    return state.registry_secret_key


SecretKeyDep = Annotated[bytes, Depends(get_secret_key)]


async def get_registry_deadline(state: AppStateDep) -> float:
    """Seconds one registry request may take in all (HELMFORGE_REGISTRY_DEADLINE)."""
    return float(state.settings.registry_deadline)


RegistryDeadlineDep = Annotated[float, Depends(get_registry_deadline)]


_REGISTRY_BODY = json_body_spec(RegistryCreate)


@router.post("/registries", status_code=status.HTTP_201_CREATED, openapi_extra=_REGISTRY_BODY)
async def create_registry(
    request: Request, sessions: SessionsDep, actor: PrincipalDep, key: SecretKeyDep
) -> RegistryPublic:
    """Configure a registry (admins only); the password is stored encrypted, never shown."""
    body = await read_secret_json_body(request, RegistryCreate, what="registry")
    password = Secret(body.password.get_secret_value()) if body.password is not None else None

    def create() -> registries.RegistryView:
        return registries.create_registry(
            sessions,
            name=body.name,
            url=body.url,
            key=key,
            actor=actor,
            username=body.username,
            password=password,
            ca_pem=body.ca_pem,
            plain_http=body.plain_http,
        )

    view = await anyio.to_thread.run_sync(create)
    return RegistryPublic.model_validate(view)


@router.get("/registries")
def list_registries(sessions: SessionsDep, actor: PrincipalDep) -> list[RegistryPublic]:
    """Every configured registry (no credentials)."""
    return [
        RegistryPublic.model_validate(v) for v in registries.list_registries(sessions, actor=actor)
    ]


_UPDATE_BODY = json_body_spec(RegistryUpdate)


@router.patch("/registries/{name}", openapi_extra=_UPDATE_BODY)
async def update_registry(
    name: NamePath, request: Request, sessions: SessionsDep, actor: PrincipalDep, key: SecretKeyDep
) -> RegistryPublic:
    """Change a registry (``registry.manage``); the password only when a new one is given."""
    body = await read_secret_json_body(request, RegistryUpdate, what="registry")
    changes = registry_settings.RegistryChanges(
        url=body.url,
        username=body.username,
        password=Secret(body.password.get_secret_value()) if body.password else None,
        ca_pem=body.ca_pem,
        plain_http=body.plain_http,
    )
    view = await anyio.to_thread.run_sync(
        lambda: registry_settings.update_registry(sessions, name, changes, key=key, actor=actor)
    )
    return RegistryPublic.model_validate(view)


@router.delete(
    "/registries/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_registry(name: NamePath, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Forget a registry (admins only); the push history stays."""
    registries.delete_registry(sessions, name, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/registries/{name}/test")
async def check_registry_connection(
    name: NamePath,
    *,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    key: SecretKeyDep,
    deadline: RegistryDeadlineDep,
) -> ConnectionCheckPublic:
    """Log in to the registry with its stored credentials (``GET /v2/``, within the registry
    deadline): ``ok``, ``denied`` or ``unreachable`` with a message (``registry.manage``)."""
    result = await run_outbound(
        state,
        lambda: registry_settings.check_connection(
            sessions, name, key=key, actor=actor, deadline=deadline
        ),
    )
    return ConnectionCheckPublic.model_validate(result)


@router.get("/registries/{name}/charts/{chart}/versions")
async def list_chart_versions(
    name: NamePath,
    chart: NamePath,
    *,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    key: SecretKeyDep,
    deadline: RegistryDeadlineDep,
) -> ChartVersionsPublic:
    """The versions of a chart published in a registry (its tag list), SemVer order."""
    result = await run_outbound(
        state,
        lambda: chart_pushes.list_chart_versions(
            sessions, name, chart, key=key, actor=actor, deadline=deadline
        ),
    )
    return ChartVersionsPublic.model_validate(result)


@router.post(
    "/charts/{build_id}/publish",
    responses={202: {"model": ChangeRequestPublic, "description": "approval needed first"}},
)
async def publish_build(
    build_id: BuildIdPath,
    body: PublishCreate,
    *,
    response: Response,
    state: AppStateDep,
    sessions: SessionsDep,
    actor: PrincipalDep,
    key: SecretKeyDep,
    deadline: RegistryDeadlineDep,
) -> PublishPublic | ChangeRequestPublic:
    """Push a recorded build to a configured registry under its template's version policy.

    ``status`` is ``pushed`` or ``unchanged`` (identical content already there); other content
    under the version answers 409 naming both layer digests. In an environment whose changes
    need approval (``HELMFORGE_APPROVALS``, default ``prod=1``) nothing is pushed yet: the
    answer is 202 with the change request another person approves
    (``POST /api/v1/change-requests/{id}/approve``).
    """
    outcome = await run_outbound(
        state,
        lambda: publish_requests.publish_or_propose(
            sessions, build_id, registry=body.registry, key=key, actor=actor, deadline=deadline
        ),
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return PublishPublic.model_validate(outcome)


@router.get("/charts/{build_id}/pushes")
def list_pushes(
    build_id: BuildIdPath,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> list[PushPublic]:
    """Every push of a build, newest first: registry, digests, who, when, status."""
    views = chart_pushes.list_pushes(sessions, actor=actor, build_id=build_id)
    return [PushPublic.model_validate(v) for v in views]
