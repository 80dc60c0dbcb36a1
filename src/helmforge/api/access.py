"""``/api/v1/bindings``, ``/api/v1/policy`` and ``/api/v1/me`` (DESIGN §9): who may do what.

Bindings and the policy are managed by administrators (``binding.manage``, ``policy.manage``);
``/me`` tells any caller their own bindings and the permissions they hold.
"""

from __future__ import annotations

__all__ = ["router"]

from datetime import datetime
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.core.access.policy import policy_csv
from helmforge.core.errors import InputError
from helmforge.services import access

router = APIRouter(tags=["access"])

_CSV_BODY = {
    "requestBody": {
        "required": True,
        "description": "the whole policy as Argo CD-style CSV lines (p and g)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


class BindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(max_length=140, description="user:NAME or group:NAME")
    role: str = Field(max_length=63)
    scope: str = Field(
        default="*/*/*/*",
        max_length=300,
        description="PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE (each a name or *), or a template name",
    )


class BindingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    role: str
    scope: str
    created_at: datetime
    created_by: str


class MePublic(BaseModel):
    name: str
    kind: str
    subjects: list[str]
    bindings: list[BindingPublic]
    permissions: dict[str, list[str]]


@router.get("/bindings")
def list_bindings(sessions: SessionsDep, actor: PrincipalDep) -> list[BindingPublic]:
    """Every role binding, oldest first (administrators)."""
    return [BindingPublic.model_validate(b) for b in access.list_bindings(sessions, actor=actor)]


@router.post("/bindings", status_code=status.HTTP_201_CREATED)
def create_binding(
    body: BindingCreate, sessions: SessionsDep, actor: PrincipalDep
) -> BindingPublic:
    """Give a subject a role within a scope; 409 when that binding exists."""
    view = access.add_binding(
        sessions, subject=body.subject, role=body.role, scope=body.scope, actor=actor
    )
    return BindingPublic.model_validate(view)


@router.delete("/bindings/{binding_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_binding(
    binding_id: Annotated[int, Path(ge=1, le=2**62)], sessions: SessionsDep, actor: PrincipalDep
) -> Response:
    """Remove a binding; it stops counting at once."""
    access.remove_binding(sessions, binding_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/policy", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_policy(sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """The whole policy (rules and bindings) as CSV."""
    return Response(access.export_policy(sessions, actor=actor), media_type="text/csv")


@router.put(
    "/policy",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    openapi_extra=_CSV_BODY,
)
async def import_policy(request: Request, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Replace the whole policy with the CSV body, all or nothing; answers the stored policy."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"the policy is not UTF-8 text (byte {error.start})") from None

    def store() -> str:
        # The stored policy, not a second export: the new policy may no longer let the caller
        # read it, and the import is done.
        return policy_csv(access.import_policy(sessions, text, actor=actor))

    return Response(await to_thread.run_sync(store), media_type="text/csv")


@router.get("/me")
def me(sessions: SessionsDep, actor: PrincipalDep) -> MePublic:
    """Who you are, your bindings (yours and your groups'), and what you may do where."""
    mine = access.bindings_of(sessions, actor=actor)
    return MePublic(
        name=actor.name,
        kind=actor.kind,
        subjects=[f"user:{actor.name}", *(f"group:{g}" for g in actor.groups)],
        bindings=[BindingPublic.model_validate(b) for b in mine],
        permissions=access.permissions_of(sessions, actor),
    )
