"""``/api/v1/argocd/servers``: the Argo CD API servers instances are synced by.

The token goes in once and never comes out: answers say only ``has_token``. The body is read
here rather than by FastAPI's validation, whose error answers would echo it, token included.
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

from helmforge.api.bodies import json_body_spec, read_secret_json_body
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.core.secrets import Secret
from helmforge.services import argocd_application_sets, argocd_servers

router = APIRouter(prefix="/argocd", tags=["argocd"])

NamePath = Annotated[str, Path(min_length=1, max_length=63)]


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=63)
    url: str = Field(
        min_length=1, max_length=1024, description="https://host[:port], the Argo CD API server"
    )
    token: SecretStr = Field(
        min_length=1, max_length=8192, description="an Argo CD API token (bearer)"
    )
    insecure: StrictBool = Field(default=False, description="skip TLS certificate verification")
    project: str | None = Field(
        default=None, min_length=1, max_length=63, description="Argo CD project (default)"
    )


class ServerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str
    insecure: bool
    project: str
    has_token: bool
    created_by: str
    created_at: datetime


class ServerListPublic(BaseModel):
    items: list[ServerPublic]


_BODY = json_body_spec(ServerCreate)


@router.post("/servers", status_code=status.HTTP_201_CREATED, openapi_extra=_BODY)
async def create_server(
    request: Request, state: AppStateDep, sessions: SessionsDep, actor: PrincipalDep
) -> ServerPublic:
    """Configure an Argo CD server (``argocd.manage``: admins); the token is stored encrypted
    and never shown. Nothing is asked of the server yet."""
    body = await read_secret_json_body(request, ServerCreate, what="Argo CD server")
    view = await anyio.to_thread.run_sync(
        lambda: argocd_servers.add_server(
            sessions,
            name=body.name,
            url=body.url,
            token=Secret(body.token.get_secret_value()),
            key=state.registry_secret_key,
            actor=actor,
            insecure=body.insecure,
            project=body.project,
        )
    )
    return ServerPublic.model_validate(view)


@router.get("/servers")
def list_servers(sessions: SessionsDep, actor: PrincipalDep) -> ServerListPublic:
    """Every configured Argo CD server (no tokens)."""
    views = argocd_servers.list_servers(sessions, actor=actor)
    return ServerListPublic(items=[ServerPublic.model_validate(v) for v in views])


@router.get("/servers/{name}")
def get_server(name: NamePath, sessions: SessionsDep, actor: PrincipalDep) -> ServerPublic:
    """One Argo CD server (no token)."""
    return ServerPublic.model_validate(argocd_servers.get_server(sessions, name, actor=actor))


@router.delete("/servers/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_server(name: NamePath, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Forget an Argo CD server (``argocd.manage``); refused while instances are bound to it."""
    argocd_servers.delete_server(sessions, name, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/servers/{name}/applicationset",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}}},
)
def application_set(
    name: NamePath,
    sessions: SessionsDep,
    actor: PrincipalDep,
    repository: Annotated[str, Query(min_length=1, max_length=63)],
) -> Response:
    """The ApplicationSet (YAML, to apply once in Argo CD) that generates the Application of
    every instance of ``repository`` from its application.yaml, in this server's project
    (``argocd.manage``)."""
    text = argocd_application_sets.application_set(
        sessions, name, repository=repository, actor=actor
    )
    return Response(content=text, media_type="application/yaml")
