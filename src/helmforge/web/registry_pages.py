"""Registry pages: configure OCI registries (admins), publish a chart build, list published
versions. Passwords go into a form once and are never shown again (not even re-filled into a
form after an error)."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import (
    ConflictError,
    HelmforgeError,
    PermissionDeniedError,
    http_status_for,
)
from helmforge.core.oci.references import redact_userinfo
from helmforge.core.secrets import Secret
from helmforge.services import (
    chart_builds,
    chart_pushes,
    publish_conflicts,
    publish_requests,
    registries,
    registry_settings,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    app_state,
    form_text,
    moment,
    render,
    render_error,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)


def _key(request: Request) -> bytes:
    return app_state(request).registry_secret_key


def _registries_page(
    request: Request,
    visitor: SignedIn,
    *,
    problem: str = "",
    form: dict[str, str] | None = None,
    editing: str = "",
    check: registry_settings.ConnectionCheck | None = None,
    status_code: int = 200,
) -> Response:
    views = registries.list_registries(session_factory_of(request), actor=visitor.principal)
    rows = [
        {
            "name": view.name,
            "url": view.url,
            "username": view.username or "(anonymous)",
            "login": view.username or "",
            "plain_http": view.plain_http,
            "has_ca": view.has_ca,
            "password": "set" if view.has_password else "none",
            "transport": "plain HTTP"
            if view.plain_http
            else ("HTTPS, own CA" if view.has_ca else "HTTPS"),
            "created": f"{moment(view.created_at)} by {view.created_by}",
        }
        for view in views
    ]
    return render(
        request,
        "registries.html",
        status_code=status_code,
        section="registries",
        title="Registries",
        registries=rows,
        problem=problem,
        form=form or {},
        editing=editing,
        check=check,
    )


@router.get("/registries", response_class=HTMLResponse)
def registries_page(request: Request, visitor: SignedIn) -> Response:
    """Configured registries; administrators also get the form to add one."""
    return _registries_page(request, visitor)


@router.post("/registries", response_class=HTMLResponse)
def create_registry(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Add a registry; the password is encrypted before it is stored."""
    kept = {
        "name": form_text(form, "name").strip(),
        "url": form_text(form, "url").strip(),
        "username": form_text(form, "username").strip(),
        "plain_http": "on" if form_text(form, "plain_http") else "",
    }
    password = form_text(form, "password")
    try:
        registries.create_registry(
            session_factory_of(request),
            name=kept["name"],
            url=kept["url"],
            key=_key(request),
            actor=visitor.principal,
            username=kept["username"] or None,
            password=Secret(password) if password else None,
            ca_pem=form_text(form, "ca_pem").strip() or None,
            plain_http=bool(kept["plain_http"]),
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message, back_url="/registries")
    except HelmforgeError as error:
        # The form comes back filled in, but never with a password typed into the URL.
        kept["url"] = redact_userinfo(kept["url"])
        return _registries_page(
            request, visitor, problem=error.message, form=kept, status_code=http_status_for(error)
        )
    return RedirectResponse("/registries", status_code=303)


@router.post("/registries/{name}/edit", response_class=HTMLResponse)
def update_registry(request: Request, name: str, visitor: SignedIn, form: CheckedForm) -> Response:
    """Change a registry; an empty password field keeps the stored password."""
    password = form_text(form, "password")
    changes = registry_settings.RegistryChanges(
        url=form_text(form, "url"),
        username=form_text(form, "username"),
        password=Secret(password) if password else None,
        # The stored bundle is never shown: an empty field keeps it, unless asked to drop it.
        ca_pem="" if form_text(form, "drop_ca") else (form_text(form, "ca_pem").strip() or None),
        plain_http=bool(form_text(form, "plain_http")),
    )
    try:
        registry_settings.update_registry(
            session_factory_of(request), name, changes, key=_key(request), actor=visitor.principal
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message, back_url="/registries")
    except HelmforgeError as error:
        return _registries_page(
            request,
            visitor,
            problem=f"{name}: {error.message}",
            editing=name,
            status_code=http_status_for(error),
        )
    return RedirectResponse("/registries", status_code=303)


@router.post("/registries/{name}/test", response_class=HTMLResponse)
def check_page(request: Request, name: str, visitor: SignedIn, _form: CheckedForm) -> Response:
    """Log in to the registry with its stored credentials and show what it answered."""
    try:
        check = registry_settings.check_connection(
            session_factory_of(request),
            name,
            key=_key(request),
            actor=visitor.principal,
            deadline=app_state(request).settings.registry_deadline,
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/registries")
    return _registries_page(request, visitor, check=check)


@router.post("/registries/{name}/delete")
def delete_registry(request: Request, name: str, visitor: SignedIn, _form: CheckedForm) -> Response:
    """Forget a registry (its push history stays)."""
    try:
        registries.delete_registry(session_factory_of(request), name, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/registries")
    return RedirectResponse("/registries", status_code=303)


@router.get("/registries/{name}/charts/{chart}", response_class=HTMLResponse)
def versions_page(request: Request, name: str, chart: str, visitor: SignedIn) -> Response:
    """The versions of a chart published in a registry (its tag list)."""
    try:
        result = chart_pushes.list_chart_versions(
            session_factory_of(request),
            name,
            chart,
            key=_key(request),
            actor=visitor.principal,
            deadline=app_state(request).settings.registry_deadline,
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/registries")
    return render(
        request,
        "chart_versions.html",
        section="registries",
        title=f"{chart} in {name}",
        result=result,
    )


def _publish_page(
    request: Request,
    visitor: SignedIn,
    build_id: str,
    *,
    outcome: chart_pushes.PublishOutcome | None = None,
    change_request: ChangeRequestView | None = None,
    problem: str = "",
    conflict_registry: str = "",
    published_diff: publish_conflicts.PublishedDiff | None = None,
    status_code: int = 200,
) -> Response:
    sessions = session_factory_of(request)
    try:
        build = chart_builds.get_build(sessions, build_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/charts")
    pushes = [
        {
            "at": moment(push.at),
            "registry": push.registry,
            "reference": f"{push.repository}:{push.tag}",
            "digest": push.layer_digest,
            "status": push.status,
            "actor": push.actor,
            "error": push.error or "",
        }
        for push in chart_pushes.list_pushes(sessions, actor=visitor.principal, build_id=build_id)
    ]
    return render(
        request,
        "chart_publish_page.html",
        status_code=status_code,
        section="charts",
        title=f"Publish {build.name} {build.version}",
        build=build,
        registries=registries.list_registries(sessions, actor=visitor.principal),
        pushes=pushes,
        outcome=outcome,
        change_request=change_request,
        problem=problem,
        conflict_registry=conflict_registry,
        published_diff=published_diff,
        template_name=build.template.partition("@")[0],
        template_version=build.template.partition("@")[2],
    )


@router.get("/charts/{build_id}/publish", response_class=HTMLResponse)
def publish_page(request: Request, build_id: str, visitor: SignedIn) -> Response:
    """The Publish form of a build and its push history."""
    return _publish_page(request, visitor, build_id)


@router.post("/charts/{build_id}/publish", response_class=HTMLResponse)
def publish_build(
    request: Request, build_id: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Push the build to the chosen registry (or, where approval is needed, propose it as a
    change request); a conflict shows both digests."""
    try:
        outcome = publish_requests.publish_or_propose(
            session_factory_of(request),
            build_id,
            registry=form_text(form, "registry"),
            key=_key(request),
            actor=visitor.principal,
            deadline=app_state(request).settings.registry_deadline,
        )
    except HelmforgeError as error:
        # A version taken by other content is not a dead end: the page offers the way on.
        registry = form_text(form, "registry") if isinstance(error, ConflictError) else ""
        registry = registry if is_dns_label(registry) else ""
        published = (
            publish_conflicts.diff_with_published(
                session_factory_of(request), build_id, registry=registry, actor=visitor.principal
            )
            if registry
            else None
        )
        return _publish_page(
            request,
            visitor,
            build_id,
            problem=error.message,
            conflict_registry=registry,
            published_diff=published,
            status_code=http_status_for(error),
        )
    if isinstance(outcome, ChangeRequestView):
        return _publish_page(request, visitor, build_id, change_request=outcome)
    return _publish_page(request, visitor, build_id, outcome=outcome)
