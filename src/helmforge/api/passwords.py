"""``/api/v1/account/password``: the caller changes their own password.

The body is read here rather than by FastAPI's validation, whose error answers would echo the
submitted body, passwords included. Changing the password signs out every web session of the
user (the caller's own too, when it came with the session cookie).
"""

from __future__ import annotations

__all__ = ["router"]

import functools

import anyio.to_thread
from fastapi import APIRouter, Request, Response, status
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
