"""Single sign-on pages: ``/sso/login`` sends the browser to the provider, ``/sso/callback``
brings it back signed in.

The sign-in's state, nonce and PKCE verifier live server-side (``services.single_sign_on``).
The state is also set in a short-lived cookie on ``/sso`` and the callback must carry the same
one: a callback URL made by someone else (their code, their state) signs nobody in, so no one
can sign a victim in as themselves (login CSRF). A refused sign-in answers 401 on the sign-in
page with the reason.

The routes are plain ``def``: the calls to the provider block a worker thread, never the event
loop, and each has a total deadline.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from helmforge.core.errors import AuthenticationError
from helmforge.services.single_sign_on import LOGIN_LIFETIME, SingleSignOn
from helmforge.web.auth_pages import is_tls, login_page, safe_next_url, start_session
from helmforge.web.views import app_state, session_factory_of

STATE_COOKIE = "helmforge_sso_state"
router = APIRouter(include_in_schema=False)


def _single_sign_on(request: Request) -> SingleSignOn | None:
    return app_state(request).single_sign_on


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _redirect_uri(request: Request, sso: SingleSignOn) -> str:
    return sso.redirect_uri(str(request.base_url))


def _not_configured(request: Request) -> Response:
    return login_page(
        request, next_url="/", error="Single sign-on is not configured.", status_code=404
    )


@router.get("/sso/login")
def sso_login(request: Request, next_url: Annotated[str, Query(alias="next")] = "/") -> Response:
    """Start a sign-in at the provider."""
    sso = _single_sign_on(request)
    if sso is None:
        return _not_configured(request)
    target = safe_next_url(next_url)
    try:
        url = sso.begin(
            session_factory_of(request),
            next_url=target,
            redirect_uri=_redirect_uri(request, sso),
            source=_source(request),
        )
    except AuthenticationError as error:
        return login_page(request, next_url=target, error=error.message, status_code=401)
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a cross-site top-level navigation.
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(LOGIN_LIFETIME.total_seconds()),
        path="/sso",
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
    )
    return response


@router.get("/sso/callback")
def sso_callback(
    request: Request,
    state: str = "",
    code: str = "",
    error: Annotated[str, Query()] = "",
) -> Response:
    """Finish a sign-in: check it, open a session with the user's groups."""
    sso = _single_sign_on(request)
    if sso is None:
        return _not_configured(request)
    sessions = session_factory_of(request)
    cookie_state = request.cookies.get(STATE_COOKIE, "")
    # A state that is not this browser's: refuse before it is used (the row stays usable for
    # the browser that started it).
    chosen = state if state and cookie_state == state else ""
    try:
        if not chosen and state:
            sso.refuse(
                sessions,
                "this sign-in was started in another browser, or another sign-in was started "
                "here since; start again",
                source=_source(request),
            )
        signed_in = sso.finish(
            sessions,
            state=chosen,
            code=code,
            error=error,
            redirect_uri=_redirect_uri(request, sso),
            source=_source(request),
        )
    except AuthenticationError as failure:
        response: Response = login_page(
            request, next_url="/", error=failure.message, status_code=401
        )
    else:
        response = start_session(
            request,
            signed_in.principal.id,
            signed_in.next_url,
            groups=signed_in.principal.groups,
        )
    response.delete_cookie(
        STATE_COOKIE, path="/sso", httponly=True, samesite="lax", secure=is_tls(request)
    )
    return response
