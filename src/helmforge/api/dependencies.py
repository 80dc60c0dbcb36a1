"""Typed dependencies of the API routes: the session factory and the authenticated principal.

Callers authenticate with ``Authorization: Bearer <token>``, or with the web UI's session
cookie through ``app.state.session_resolver`` (a ``Callable[[Request], Principal | None]`` the
web UI installs; it is responsible for CSRF checks on state-changing requests). Without either
the request answers 401.
"""

from __future__ import annotations

__all__ = ["PrincipalDep", "SessionResolver", "SessionsDep", "get_principal", "get_sessions"]

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts

type SessionResolver = Callable[[Request], Principal | None]


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The application's session factory (``app.state.sessions``); async because it does no
    I/O, so FastAPI need not hop to a worker thread for it."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_principal(request: Request, sessions: SessionsDep) -> Principal:
    """Who calls: the bearer token's user, else the web session's; raises
    ``AuthenticationError`` (401) when neither is present or valid."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        return accounts.principal_for_token(sessions, token.strip())
    resolver: SessionResolver | None = getattr(request.app.state, "session_resolver", None)
    if resolver is not None:
        principal = resolver(request)
        if principal is not None:
            return principal
    raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer <token>'")


PrincipalDep = Annotated[Principal, Depends(get_principal)]
