"""What every page shares: rendering, the signed-in visitor, CSRF-checked forms, error pages.

Routers depend on ``SignedIn`` (redirects to the sign-in page when nobody is signed in, and
through the provider when an SSO visitor's groups are due for a check) and,
for state-changing requests, on ``CheckedForm`` (the posted form, refused with 403 unless it
carries the session's CSRF token).
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_PAGE",
    "PAGE_HEADERS",
    "PASSWORD_CHANGE_PATHS",
    "CheckedForm",
    "CsrfRefused",
    "GroupsCheckRequired",
    "PasswordChangeRequired",
    "SignInRequired",
    "SignedIn",
    "Visitor",
    "app_state",
    "current_visitor",
    "form_text",
    "moment",
    "path_breaks",
    "render",
    "render_error",
    "render_failure",
    "session_factory_of",
]

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData, UploadFile

from helmforge import __version__
from helmforge.core.access.principals import Principal
from helmforge.core.errors import HelmforgeError, http_status_for
from helmforge.services import access
from helmforge.services.accounts import signed_in_user
from helmforge.services.app_state import STATE_ATTRIBUTE, AppState
from helmforge.services.web_sessions import SessionState, resolve_session
from helmforge.web.sessions import (
    CSRF_FIELD,
    SESSION_COOKIE,
    check_csrf,
)

MAX_FORM_PART_BYTES = 4 * 1024 * 1024
ACCOUNT_PAGE = "/account"
# The pages a visitor who must change their password may still reach.
PASSWORD_CHANGE_PATHS = frozenset({ACCOUNT_PAGE, f"{ACCOUNT_PAGE}/password", "/logout"})
# Pages load only their own script and styles, cannot be framed, and are never cached.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# The global permissions every page may offer a control for (``may`` in the templates).
_OFFERED = ("binding.manage", "user.manage", "registry.manage")
_STATUS_HEADINGS = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    502: "A service failed",
}


class SignInRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by ``SignedIn`` when nobody is signed in; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(next_url)


class PasswordChangeRequired(Exception):  # noqa: N818 - answered with a redirect
    """Raised by ``SignedIn`` while the visitor must change their password (a generated or
    admin-set one); answered with a redirect to ``ACCOUNT_PAGE``."""


class GroupsCheckRequired(Exception):  # noqa: N818 - answered with a redirect
    """Raised by ``SignedIn`` when the visitor's SSO groups are older than the configured
    lifetime; answered by sending the browser through the provider (silently where it can),
    then to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url
        super().__init__(next_url)


class CsrfRefused(Exception):  # noqa: N818 - answered with a 403 page
    """A state-changing form came without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in person: their principal, their session, and its cookie value.
    ``groups_due``: an SSO visitor whose groups are past their lifetime; the principal then
    holds no groups until the provider is asked again."""

    principal: Principal
    session: SessionState
    cookie: str
    must_change_password: bool = False
    groups_due: bool = False

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def app_state(request: Request) -> AppState[Request]:
    """The state the server built at startup (``services.app_state``)."""
    state: AppState[Request] = getattr(request.app.state, STATE_ATTRIBUTE)
    return state


def session_factory_of(request: Request) -> sessionmaker[Session]:
    """The database session factory of the server's store."""
    return app_state(request).sessions


def current_visitor(request: Request) -> Visitor | None:
    """The visitor behind the request's session cookie, or ``None`` (cached per request)."""
    if hasattr(request.state, "web_visitor"):
        cached: Visitor | None = request.state.web_visitor
        return cached
    visitor: Visitor | None = None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        sessions = session_factory_of(request)
        now = app_state(request).clock()
        state = resolve_session(sessions, cookie, now=now)
        if state is not None:
            user = signed_in_user(sessions, state.user_id)
            if user is not None:
                due = state.groups_due(now)
                visitor = Visitor(
                    # An SSO user's groups are the provider's last check's, while they hold.
                    principal=replace(user.principal, groups=() if due else state.groups),
                    session=state,
                    cookie=cookie,
                    must_change_password=user.must_change_password,
                    groups_due=due,
                )
    request.state.web_visitor = visitor
    return visitor


def _check_return_path(request: Request) -> str:
    """Where to come back after a check of the groups: the page asked for; for a form post
    (which is not carried out) the page it was posted from when that is on this site."""
    if request.method in {"GET", "HEAD"}:
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    base = urlsplit(str(request.base_url))
    if (referer.scheme, referer.netloc) == (base.scheme, base.netloc) and referer.path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/"


def _signed_in(request: Request) -> Visitor:
    visitor = current_visitor(request)
    if visitor is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    if visitor.groups_due and request.url.path != "/logout":  # signing out needs no groups
        raise GroupsCheckRequired(_check_return_path(request))
    if visitor.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired
    return visitor


SignedIn = Annotated[Visitor, Depends(_signed_in)]


async def _checked_form(request: Request, visitor: SignedIn) -> AsyncIterator[FormData]:
    form = await request.form(max_part_size=MAX_FORM_PART_BYTES)
    try:
        submitted = form.get(CSRF_FIELD)
        if not isinstance(submitted, str) or not check_csrf(visitor.csrf_token, submitted):
            raise CsrfRefused
        yield form
    finally:
        await form.close()  # uploads are spooled to temporary files


CheckedForm = Annotated[FormData, Depends(_checked_form)]


def moment(value: datetime | None) -> str:
    """A timestamp as people read it in a table (UTC, to the second)."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def form_text(form: FormData, name: str, default: str = "") -> str:
    """A text field of a posted form (an upload or a missing field gives ``default``)."""
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return default
    return value


_PATH_BREAK = re.compile(r"(?<=\.)|(?=\[)")  # after each dot, before each index


def path_breaks(path: str) -> Markup:
    """``path`` (a value path such as ``spec.values[2].name``) escaped, with a line-break
    opportunity after each dot and before each index: on a narrow screen it wraps between its
    keys, never inside one (templates: ``{{ row.path|path_breaks }}``)."""
    return Markup("<wbr>").join(escape(key) for key in _PATH_BREAK.split(path))


@cache
def _templates() -> Jinja2Templates:
    # Built at the first page, not at import: the pages' Jinja environment, shared by all.
    templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
    templates.env.filters["path_breaks"] = path_breaks
    return templates


def render(
    request: Request,
    page: str,
    /,
    *,
    status_code: int = 200,
    section: str = "",
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    """Render page template ``page`` with the visitor, CSRF token and site-wide values."""
    visitor = current_visitor(request)
    # The navigation and the pages offer what the services would allow, by their decisions.
    may = (
        access.held(session_factory_of(request), visitor.principal, _OFFERED)
        if visitor is not None
        else frozenset()
    )
    base = {
        "user": visitor.principal if visitor else None,
        "csrf_token": visitor.csrf_token if visitor else "",
        "helmforge_version": __version__,
        "section": section,
        "title": title,
        "flashes": context.pop("flashes", []),
        "may": may,
        "may_manage_access": "binding.manage" in may,
    }
    response = _templates().TemplateResponse(
        request, page, {**base, **context}, status_code=status_code
    )
    response.headers.update(PAGE_HEADERS)
    return response


def render_error(
    request: Request, status_code: int, message: str, *, back_url: str = ""
) -> HTMLResponse:
    """A plain error page with the status heading and a way back."""
    heading = _STATUS_HEADINGS.get(status_code, "Something went wrong")
    return render(
        request,
        "error.html",
        status_code=status_code,
        title=heading,
        heading=heading,
        message=message,
        back_url=back_url,
    )


def render_failure(request: Request, error: HelmforgeError, *, back_url: str = "") -> HTMLResponse:
    """The error page for ``error``, with the status ``core.errors.HTTP_STATUS`` gives it."""
    return render_error(request, http_status_for(error), error.message, back_url=back_url)
