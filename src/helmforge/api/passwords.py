"""``/api/v1/account/password``: the caller changes their own password.

The body is read here rather than by FastAPI's validation, whose error answers would echo the
submitted body, passwords included. Changing the password signs out every web session of the
user (the caller's own too, when it came with the session cookie).
"""

from __future__ import annotations

__all__ = ["router"]

import functools
import json
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.core.errors import InputError, Location
from helmforge.services import accounts

router = APIRouter(tags=["accounts"])


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    current_password: SecretStr = Field(max_length=1024)
    new_password: SecretStr = Field(max_length=4096)


_PASSWORD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PasswordChange.model_json_schema()}},
    }
}


async def _read_body(request: Request) -> PasswordChange:
    raw = await request.body()
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            'the request body is not a JSON object {"current_password", "new_password"}'
        ) from None
    try:
        return PasswordChange.model_validate(data)
    except ValidationError as error:
        problems = tuple(
            InputError(
                str(item["msg"]),
                location=Location(path=".".join(str(p) for p in item["loc"]) or None),
            )
            for item in error.errors(include_input=False, include_url=False)
        )
        raise InputError(
            "invalid password change: " + "; ".join(f"{p.location}: {p}" for p in problems),
            problems=problems,
        ) from None


@router.post(
    "/account/password", status_code=status.HTTP_204_NO_CONTENT, openapi_extra=_PASSWORD_BODY
)
async def change_password(request: Request, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """Change your own password (send the current one); answers 204."""
    body = await _read_body(request)
    change = functools.partial(
        accounts.change_password,
        sessions,
        actor=actor,
        current_password=body.current_password.get_secret_value(),
        new_password=body.new_password.get_secret_value(),
    )
    await anyio.to_thread.run_sync(change)  # Argon2id takes tens of milliseconds
    return Response(status_code=status.HTTP_204_NO_CONTENT)
