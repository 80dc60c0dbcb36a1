"""Single sign-on pages: ``/sso/login`` sends the browser to the provider, ``/sso/callback``
brings it back signed in.

The sign-in's state, nonce and PKCE verifier live server-side (``services.single_sign_on``).
The state is also set in a short-lived cookie on ``/sso`` and the callback must carry the same
one: a callback URL made by someone else (their code, their state) signs nobody in, so no one
can sign a victim in as themselves (login CSRF). A refused sign-in answers 401 on the sign-in
page with the reason.

``/sso/login?silent=1`` is the check of a signed-in user's groups once their lifetime is over
(``views.GroupsCheckRequired`` sends the browser there): ``prompt=none`` at the provider; a
provider that needs the user sends the browser on to an ordinary sign-in. A check that
succeeds stores the new groups in the same session (its id, CSRF token and end stay); one whose
identity is refused (the login gate, a disabled user) ends the session.

The routes are plain ``def``: the calls to the provider block a worker thread, never the event
loop, and each has a total deadline.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from helmforge.core.errors import AuthenticationError
from helmforge.services.single_sign_on import (
    LOGIN_LIFETIME,
    IdentityRefusedError,
    InteractionRequired,
    SingleSignOn,
    SsoSignIn,
)
from helmforge.services.web_sessions import close_session, renew_groups
from helmforge.web.auth_pages import is_tls, login_page, safe_next_url, start_session
from helmforge.web.sessions import SESSION_COOKIE
from helmforge.web.views import app_state, current_visitor, session_factory_of

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
def sso_login(
    request: Request,
    next_url: Annotated[str, Query(alias="next")] = "/",
    silent: bool = False,
) -> Response:
    """Start a sign-in at the provider (``silent``: a check of the groups, ``prompt=none``)."""
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
            now=app_state(request).clock(),
            silent=silent,
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
    """Finish a sign-in: check it, open a session with the user's groups (or, for a check of
    the groups, store the new ones in the session)."""
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
            now=app_state(request).clock(),
        )
    except InteractionRequired as needed:
        # The provider needs the user: an ordinary sign-in, coming back to the same page.
        response: Response = RedirectResponse(
            f"/sso/login?next={quote(safe_next_url(needed.next_url), safe='/')}", status_code=303
        )
    except AuthenticationError as failure:
        response = login_page(request, next_url="/", error=failure.message, status_code=401)
        visitor = current_visitor(request)
        if isinstance(failure, IdentityRefusedError) and visitor is not None and visitor.groups_due:
            # The provider's answer to the check of this session's groups is refused (the
            # login gate, a disabled user): the session ends here. Other failures (a second
            # tab's check, a provider out of reach) leave it due, checked at the next page.
            close_session(sessions, visitor.cookie)
            response.delete_cookie(
                SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_tls(request)
            )
    else:
        response = _signed_in(request, signed_in)
    if chosen or not state:
        # Used up. A state cookie of another sign-in (one started later in another tab)
        # stays for that sign-in's callback.
        response.delete_cookie(
            STATE_COOKIE, path="/sso", httponly=True, samesite="lax", secure=is_tls(request)
        )
    return response


def _signed_in(request: Request, signed_in: SsoSignIn) -> Response:
    """A check of the groups of this browser's own session renews them in place (the
    session's end stays where the first sign-in put it); anything else opens a session."""
    principal = signed_in.principal
    if signed_in.silent and renew_groups(
        session_factory_of(request),
        request.cookies.get(SESSION_COOKIE),
        user_id=principal.id,
        groups=principal.groups,
        valid_until=signed_in.groups_valid_until,
        now=app_state(request).clock(),
    ):
        return RedirectResponse(safe_next_url(signed_in.next_url), status_code=303)
    return start_session(
        request,
        principal.id,
        signed_in.next_url,
        groups=principal.groups,
        groups_valid_until=signed_in.groups_valid_until,
    )
