"""Sign-in and sign-out pages.

The sign-in form has no session yet, so its CSRF token is a double submit: a random cookie
(SameSite=Strict) echoed in a hidden field. A successful sign-in opens a fresh session (so a
session id planted before sign-in is useless) and sets its cookie HttpOnly, SameSite=Lax, and
Secure whenever the request came over TLS.
"""

from __future__ import annotations

__all__ = ["SESSION_LIFETIME", "login_page", "router", "safe_next_url", "start_session"]

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.errors import AuthenticationError
from helmforge.services.accounts import authenticate_password
from helmforge.services.web_sessions import close_session, open_session
from helmforge.web.sessions import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    new_token,
)
from helmforge.web.views import (
    CheckedForm,
    app_state,
    current_visitor,
    form_text,
    render,
    session_factory_of,
)

SESSION_LIFETIME = timedelta(hours=8)
_LOGIN_FORM_LIFETIME = timedelta(hours=1)

router = APIRouter(include_in_schema=False)


def safe_next_url(candidate: str) -> str:
    """``candidate`` when it is a path on this site, else ``/`` (no open redirects)."""
    if candidate.startswith("/") and not candidate.startswith("//") and "\\" not in candidate:
        return candidate
    return "/"


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def login_page(
    request: Request, *, next_url: str, username: str = "", error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = new_token()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        title="Sign in",
        login_csrf=token,
        next_url=safe_next_url(next_url),
        username=username,
        error=error,
        single_sign_on=app_state(request).single_sign_on is not None,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=int(_LOGIN_FORM_LIFETIME.total_seconds()),
        path="/login",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next_url: Annotated[str, Query(alias="next")] = "/") -> Response:
    """The sign-in form (or straight on, when already signed in)."""
    if current_visitor(request) is not None:
        return RedirectResponse(safe_next_url(next_url), status_code=303)
    return login_page(request, next_url=next_url)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the credentials (throttled by the accounts service) and open a session."""
    async with request.form(max_files=0) as form:
        next_url = safe_next_url(form_text(form, "next", "/"))
        username = form_text(form, "username").strip()
        password = form_text(form, "password")
        submitted_csrf = form_text(form, CSRF_FIELD)
    if not check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), submitted_csrf):
        return login_page(
            request,
            next_url=next_url,
            username=username,
            error="The sign-in form expired or was not sent from this site; please try again.",
            status_code=403,
        )
    sessions = session_factory_of(request)
    source = request.client.host if request.client else "unknown"
    try:
        principal = authenticate_password(sessions, username, password, source=source)
    except AuthenticationError as error:
        return login_page(
            request, next_url=next_url, username=username, error=error.message, status_code=401
        )
    response = start_session(request, principal.id, next_url)
    response.delete_cookie(
        LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="strict", secure=is_tls(request)
    )
    return response


def start_session(
    request: Request,
    user_id: int,
    next_url: str,
    *,
    groups: tuple[str, ...] = (),
    groups_valid_until: datetime | None = None,
) -> Response:
    """Open a session for ``user_id`` (with their SSO ``groups``, holding until
    ``groups_valid_until``) and redirect to ``next_url`` with its cookie set."""
    sessions = session_factory_of(request)
    # A fresh session id on every sign-in: an id planted before it is worth nothing.
    close_session(sessions, request.cookies.get(SESSION_COOKIE))
    cookie, _state = open_session(
        sessions,
        user_id=user_id,
        lifetime=SESSION_LIFETIME,
        now=app_state(request).clock(),
        groups=groups,
        groups_valid_until=groups_valid_until,
    )
    response = RedirectResponse(safe_next_url(next_url), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
    )
    return response


@router.post("/logout")
def logout(request: Request, _form: CheckedForm) -> Response:
    """Close the session and forget its cookie."""
    close_session(session_factory_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_tls(request)
    )
    return response
