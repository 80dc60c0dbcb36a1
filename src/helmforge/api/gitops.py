"""``/api/v1/gitops/repositories``: the GitOps repositories instances are committed to.

Credentials (password or token, SSH private key) go in once and never come out: answers say
only ``has_password`` / ``has_ssh_key``. The body is read here rather than by FastAPI's
validation, whose error answers would echo it, secrets included.
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from helmforge.api.bodies import json_body_spec, read_secret_json_body
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep
from helmforge.core.secrets import Secret
from helmforge.services import gitops_repositories

router = APIRouter(prefix="/gitops", tags=["gitops"])

NamePath = Annotated[str, Path(min_length=1, max_length=63)]


class RepositoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=63)
    url: str = Field(
        min_length=1,
        max_length=1024,
        description="https://host/path, ssh://user@host/path or user@host:path; no credentials",
    )
    branch: str = Field(default="main", min_length=1, max_length=255)
    path: str | None = Field(default=None, max_length=1024, description="base folder")
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(
        default=None, max_length=4096, description="HTTPS password or token"
    )
    ssh_private_key: SecretStr | None = Field(default=None, max_length=16 * 1024)
    ssh_known_hosts: str | None = Field(
        default=None, max_length=64 * 1024, description="the server's host key(s), pinned"
    )


class RepositoryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    url: str
    branch: str
    path: str
    username: str | None
    has_password: bool
    has_ssh_key: bool
    ssh_known_hosts: str | None
    created_by: str
    created_at: datetime


class RepositoryListPublic(BaseModel):
    items: list[RepositoryPublic]


_BODY = json_body_spec(RepositoryCreate)


def _secret(value: SecretStr | None) -> Secret | None:
    return Secret(value.get_secret_value()) if value is not None else None


@router.post("/repositories", status_code=status.HTTP_201_CREATED, openapi_extra=_BODY)
async def create_repository(
    request: Request, state: AppStateDep, sessions: SessionsDep, actor: PrincipalDep
) -> RepositoryPublic:
    """Configure a GitOps repository (``repository.manage``: admins); secrets are stored
    encrypted and never shown. Nothing is fetched: the remote may be empty or not exist yet."""
    body = await read_secret_json_body(request, RepositoryCreate, what="repository")
    view = await anyio.to_thread.run_sync(
        lambda: gitops_repositories.add_repository(
            sessions,
            name=body.name,
            url=body.url,
            key=state.registry_secret_key,
            actor=actor,
            branch=body.branch,
            path=body.path,
            username=body.username,
            password=_secret(body.password),
            ssh_private_key=_secret(body.ssh_private_key),
            ssh_known_hosts=body.ssh_known_hosts,
        )
    )
    return RepositoryPublic.model_validate(view)


@router.get("/repositories")
def list_repositories(sessions: SessionsDep, actor: PrincipalDep) -> RepositoryListPublic:
    """Every configured repository (no secrets)."""
    views = gitops_repositories.list_repositories(sessions, actor=actor)
    return RepositoryListPublic(items=[RepositoryPublic.model_validate(v) for v in views])


@router.get("/repositories/{name}")
def get_repository(name: NamePath, sessions: SessionsDep, actor: PrincipalDep) -> RepositoryPublic:
    """One repository (no secrets)."""
    view = gitops_repositories.get_repository(sessions, name, actor=actor)
    return RepositoryPublic.model_validate(view)


@router.delete(
    "/repositories/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_repository(name: NamePath, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Forget a repository (``repository.manage``); refused while instances are bound to it."""
    gitops_repositories.delete_repository(sessions, name, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
