"""Typed dependencies of the API routes: the application's state, the session factory and the
authenticated principal.

Callers authenticate with ``Authorization: Bearer <token>``, or with the web UI's session
cookie through ``AppState.session_resolver`` (which the web UI provides; it is responsible
for CSRF checks on state-changing requests). Without either the request answers 401.
"""

from __future__ import annotations

__all__ = [
    "AppStateDep",
    "PrincipalDep",
    "SessionsDep",
    "get_app_state",
    "get_principal",
    "get_sessions",
]

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from helmforge.services.app_state import STATE_ATTRIBUTE, AppState


async def get_app_state(request: Request) -> AppState[Request]:
    """The state the server built at startup; async because it does no I/O, so FastAPI need
    not hop to a worker thread for it."""
    state: AppState[Request] = getattr(request.app.state, STATE_ATTRIBUTE)
    return state


AppStateDep = Annotated[AppState[Request], Depends(get_app_state)]


async def get_sessions(state: AppStateDep) -> sessionmaker[Session]:
    """The application's session factory."""
    return state.sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_principal(request: Request, state: AppStateDep) -> Principal:
    """Who calls: the bearer token's user, else the web session's; raises
    ``AuthenticationError`` (401) when neither is present or valid."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        return accounts.principal_for_token(
            state.sessions,
            token.strip(),
            now=state.clock(),
            groups_lifetime=state.settings.groups_lifetime,
        )
    if state.session_resolver is not None:
        principal = state.session_resolver(request)
        if principal is not None:
            return principal
    raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer <token>'")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
