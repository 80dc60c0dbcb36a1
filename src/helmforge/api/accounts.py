"""``/api/v1/users`` and ``/api/v1/tokens``: local users and API tokens."""

from __future__ import annotations

__all__ = ["router"]

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, status

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.schemas import (
    TokenCreate,
    TokenCreatedPublic,
    TokenPublic,
    UserCreate,
    UserCreatedPublic,
    UserPublic,
    UserSignOutCreate,
    UserSignOutPublic,
)
from helmforge.services import accounts, user_sign_outs

router = APIRouter(tags=["accounts"])


@router.get("/users")
def list_users(sessions: SessionsDep, actor: PrincipalDep) -> list[UserPublic]:
    """Every user (admins only)."""
    return [UserPublic.model_validate(u) for u in accounts.list_users(sessions, actor=actor)]


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model_exclude_none=True)
def create_user(body: UserCreate, sessions: SessionsDep, actor: PrincipalDep) -> UserCreatedPublic:
    """Create a local user (admins only) with ``role`` bound at every scope, or no binding
    yet; without a ``password`` one is generated and answered once. They choose their own
    password at first sign-in."""
    generated = accounts.generate_password() if body.password is None else None
    view = accounts.create_user(
        sessions,
        body.name,
        role=body.role,
        password=generated or body.password or "",
        actor=actor,
        must_change_password=True,  # the administrator chose it, not the user
    )
    return UserCreatedPublic.model_validate({**asdict(view), "password": generated})


@router.post("/users/{name}/sign-out")
def sign_out_user(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    sessions: SessionsDep,
    actor: PrincipalDep,
    body: UserSignOutCreate | None = None,
) -> UserSignOutPublic:
    """End every web session of a user (admins only) and, with ``revoke_tokens``, revoke
    their API tokens: what applies to an SSO user, who has no password here to reset."""
    done = user_sign_outs.sign_out_user(
        sessions,
        name,
        actor=actor,
        revoke_tokens=body.revoke_tokens if body is not None else False,
    )
    return UserSignOutPublic.model_validate(done)


@router.get("/tokens")
def list_tokens(sessions: SessionsDep, actor: PrincipalDep) -> list[TokenPublic]:
    """Your tokens (an admin sees everyone's); never their secrets."""
    return [TokenPublic.model_validate(t) for t in accounts.list_tokens(sessions, actor=actor)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate, sessions: SessionsDep, actor: PrincipalDep
) -> TokenCreatedPublic:
    """Create an API token; the response holds its secret, this once."""
    created = accounts.create_token(
        sessions,
        user=body.user or actor.name,
        label=body.label,
        actor=actor,
        bindings=body.bindings,
    )
    return TokenCreatedPublic.model_validate(
        {**TokenPublic.model_validate(created.view).model_dump(), "token": created.token}
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)], sessions: SessionsDep, actor: PrincipalDep
) -> TokenPublic:
    """Revoke a token; it stops working at once."""
    return TokenPublic.model_validate(accounts.revoke_token(sessions, token_id, actor=actor))
