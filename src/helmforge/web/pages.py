"""The web UI, mounted onto the server's FastAPI application.

``mount(app)`` adds the static files, the page routers and the error handling of the pages,
and returns the session resolver the server puts in its ``AppState`` so the REST API also
accepts the UI's session cookie (for unsafe methods only with the session's CSRF token in the
``X-CSRF-Token`` header). The pages read the ``AppState`` at request time.
"""

from __future__ import annotations

__all__ = ["CSRF_HEADER", "mount", "resolve_api_principal"]

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from helmforge.core.access.principals import Principal
from helmforge.core.errors import AuthenticationError, PermissionDeniedError
from helmforge.services.app_state import SessionResolver
from helmforge.services.web_sessions import close_session
from helmforge.web.access_pages import router as access_router
from helmforge.web.account_pages import router as account_router
from helmforge.web.admin_pages import router as admin_router
from helmforge.web.auth_pages import router as auth_router
from helmforge.web.chart_pages import router as chart_router
from helmforge.web.deploy_pages import router as deploy_router
from helmforge.web.fleet_pages import router as fleet_router
from helmforge.web.help_pages import router as help_router
from helmforge.web.instance_pages import router as instance_router
from helmforge.web.registry_pages import router as registry_router
from helmforge.web.sessions import SESSION_COOKIE, check_csrf
from helmforge.web.sso_pages import router as sso_router
from helmforge.web.template_pages import router as template_router
from helmforge.web.values_pages import router as values_router
from helmforge.web.views import (
    ACCOUNT_PAGE,
    CsrfRefused,
    GroupsCheckRequired,
    PasswordChangeRequired,
    SignInRequired,
    app_state,
    current_visitor,
    render_error,
    session_factory_of,
)

CSRF_HEADER = "X-CSRF-Token"
_HERE = Path(__file__).resolve().parent
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_API_PASSWORD_PATH = "/api/v1/account/password"  # noqa: S105 (a path, not a secret)


def resolve_api_principal(request: Request) -> Principal | None:
    """The principal of a UI session calling the REST API, or ``None``.

    Safe methods need only the cookie; others also need the session's CSRF token in the
    ``X-CSRF-Token`` header, so another site cannot make a signed-in browser change anything.
    """
    visitor = current_visitor(request)
    if visitor is None:
        return None
    if request.method not in _SAFE_METHODS and not check_csrf(
        visitor.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        return None
    if visitor.groups_due:
        raise AuthenticationError(
            "this session's single sign-on groups are due for a check with the identity "
            "provider: open any page of helmforge in the browser (it asks the provider and "
            "comes back), then call again"
        )
    if visitor.must_change_password and request.url.path != _API_PASSWORD_PATH:
        raise PermissionDeniedError(
            "you must change your password before anything else: use the Account page "
            f"({ACCOUNT_PAGE}) or POST {_API_PASSWORD_PATH}"
        )
    return visitor.principal


async def _to_sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    return RedirectResponse(f"/login?next={_quote(error.next_url)}", status_code=303)


async def _to_groups_check(request: Request, error: Exception) -> Response:
    """Through the provider (silently where it can) and back to the page, or, when single
    sign-on is no longer configured, out to the sign-in page."""
    assert isinstance(error, GroupsCheckRequired)
    target = _quote(error.next_url)
    if app_state(request).single_sign_on is None:
        close_session(session_factory_of(request), request.cookies.get(SESSION_COOKIE))
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return RedirectResponse(f"/sso/login?next={target}&silent=1", status_code=303)


async def _to_account(request: Request, error: Exception) -> Response:
    return RedirectResponse(ACCOUNT_PAGE, status_code=303)


async def _csrf_refused(request: Request, error: Exception) -> Response:
    return render_error(
        request,
        403,
        "This form was not sent from a page of this site (its CSRF token is missing or wrong). "
        "Reload the page and try again.",
    )


def _quote(url: str) -> str:
    from urllib.parse import quote

    return quote(url, safe="/")


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script asking for JSON)."""
    if request.url.path.startswith(("/api/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, error: Exception) -> Response:
    """Unknown URLs and refused methods: a page for browsers, FastAPI's JSON for the rest."""
    assert isinstance(error, StarletteHTTPException)
    if not _wants_page(request):
        return await http_exception_handler(request, error)
    message = {
        404: f"There is no page at {request.url.path[:200]}.",
        405: f"{request.url.path[:200]} does not take {request.method} requests.",
    }.get(error.status_code, str(error.detail))
    response = render_error(request, error.status_code, message)
    if error.headers:
        response.headers.update(error.headers)
    return response


def _favicon(request: Request) -> Response:
    # Browsers ask for /favicon.ico whatever the page says; the icon is one small SVG file.
    return RedirectResponse("/static/favicon.svg", status_code=301)


def _home(request: Request) -> Response:
    return RedirectResponse("/generate", status_code=303)


def mount(app: FastAPI) -> SessionResolver[Request]:
    """Add the web UI to ``app`` (pages, static files, error handlers); returns the resolver
    of the UI's session cookie for API requests."""
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="web-static")
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/favicon.ico", _favicon, methods=["GET"], include_in_schema=False)
    for router in (
        auth_router,
        sso_router,
        template_router,
        chart_router,
        instance_router,
        deploy_router,
        values_router,
        admin_router,
        registry_router,
        help_router,
        fleet_router,
    ):
        app.include_router(router)
    app.include_router(account_router)
    app.include_router(access_router)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PasswordChangeRequired, _to_account)
    app.add_exception_handler(GroupsCheckRequired, _to_groups_check)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return resolve_api_principal
