"""``/api/v1/account/password``: the caller changes their own password;
``/api/v1/users/{name}/password``: an administrator resets someone's.

The bodies are read here rather than by FastAPI's validation, whose error answers would echo
the submitted body, passwords included. Changing the password signs out every web session of
the user (the caller's own too, when it came with the session cookie); a reset can also revoke
every API token of the user (``revoke_tokens``).
"""

from __future__ import annotations

__all__ = ["router"]

import functools
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from helmforge.api.bodies import json_body_spec, read_secret_json_body
from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.services import accounts

router = APIRouter(tags=["accounts"])


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    current_password: SecretStr = Field(max_length=1024)
    new_password: SecretStr = Field(max_length=4096)


_PASSWORD_BODY = json_body_spec(PasswordChange)


@router.post(
    "/account/password", status_code=status.HTTP_204_NO_CONTENT, openapi_extra=_PASSWORD_BODY
)
async def change_password(request: Request, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Change your own password (send the current one); answers 204."""
    body = await read_secret_json_body(
        request,
        PasswordChange,
        what="password change",
        expected='a JSON object {"current_password", "new_password"}',
    )
    change = functools.partial(
        accounts.change_password,
        sessions,
        actor=actor,
        current_password=body.current_password.get_secret_value(),
        new_password=body.new_password.get_secret_value(),
    )
    await anyio.to_thread.run_sync(change)  # Argon2id takes tens of milliseconds
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: SecretStr = Field(max_length=4096, description="the one-time password to set")
    revoke_tokens: bool = Field(
        default=False, description="also revoke every API token of the user (a compromise)"
    )


class PasswordResetPublic(BaseModel):
    user: str
    must_change_password: bool
    tokens_revoked: int


_RESET_BODY = json_body_spec(PasswordReset)


@router.post("/users/{name}/password", openapi_extra=_RESET_BODY)
async def reset_password(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    sessions: SessionsDep,
    actor: PrincipalDep,
) -> PasswordResetPublic:
    """Set a user's password (admins only): their web sessions end, they must change it at the
    next sign-in, and with ``revoke_tokens`` their API tokens stop working too."""
    body = await read_secret_json_body(
        request,
        PasswordReset,
        what="password reset",
        expected='a JSON object {"password", "revoke_tokens"}',
    )
    reset = functools.partial(
        accounts.set_password,
        sessions,
        name,
        password=body.password.get_secret_value(),
        actor=actor,
        revoke_tokens=body.revoke_tokens,
    )
    revoked = await anyio.to_thread.run_sync(reset)  # Argon2id takes tens of milliseconds
    return PasswordResetPublic(user=name, must_change_password=True, tokens_revoked=revoked)
