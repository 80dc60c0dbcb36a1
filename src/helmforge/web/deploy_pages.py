"""Deploy (DESIGN §6): a generated chart's page offers it as a new instance, with the id from
the build's context, a registry, a GitOps repository, an Argo CD server and the build's
overrides as values.

The form calls ``services.instances.create_or_propose`` with the signed-in principal: where
the environment needs approval the answer is a change request, shown on the form; a visitor
who may create but not read instances (a template-user) stays on the form with what was
created. The instance pages themselves are ``instance_pages``.
"""

from __future__ import annotations

__all__ = ["router"]

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.errors import HelmforgeError, InputError, http_status_for
from helmforge.core.yaml_codec import dump_yaml, load_single
from helmforge.services import (
    argocd_servers,
    change_requests,
    chart_builds,
    gitops_repositories,
    instances,
    registries,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.instances import InvalidValuesError
from helmforge.web.instance_pages import instance_url
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    Visitor,
    app_state,
    form_text,
    render,
    render_error,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)

_SEGMENTS = ("product", "customer", "environment", "instance")


def _deploy_page(
    request: Request,
    visitor: Visitor,
    build_id: str,
    *,
    entered: Mapping[str, str] | None = None,
    problem: str = "",
    errors: list[dict[str, str]] | None = None,
    change_request: ChangeRequestView | None = None,
    created: instances.ValuesChange | None = None,
    status_code: int = 200,
) -> Response:
    sessions = session_factory_of(request)
    actor = visitor.principal
    flashes = []
    if created is not None:
        flashes.append(
            {
                "kind": "ok",
                "text": f"Instance {created.instance.id} was created (commit "
                f"{created.revision[:12]}). Operating it is not part of your access, so its "
                "page does not open for you.",
            }
        )
    try:
        build = chart_builds.get_build(sessions, build_id, actor=actor)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/charts")
    context = dict(build.context)
    fields = {
        "product": context.get("product", ""),
        "customer": context.get("customer", ""),
        "environment": context.get("environment", ""),
        "instance": context.get("instance", ""),
        "version": context.get("version", ""),
        "registry": "",
        "repository": "",
        "argocd": "",
        "values": dump_yaml(build.values) if build.values else "",
        "message": "",
        **(entered or {}),
    }
    registry_names = [
        r.name for r in _listed(lambda: registries.list_registries(sessions, actor=actor))
    ]
    repository_names = [
        r.name
        for r in _listed(lambda: gitops_repositories.list_repositories(sessions, actor=actor))
    ]
    argocd_names = [
        r.name for r in _listed(lambda: argocd_servers.list_servers(sessions, actor=actor))
    ]
    instance_id = "/".join(fields[key] for key in _SEGMENTS)
    try:
        may_create = instances.may_create(sessions, instance_id, actor=actor)
    except InputError:
        may_create = True  # the id is checked (and explained) when the form is sent
    return render(
        request,
        "instance_deploy.html",
        status_code=status_code,
        section="charts",
        title=f"Deploy {build.name}",
        build=build,
        fields=fields,
        environments=list(app_state(request).settings.environments),
        registries=registry_names,
        repositories=repository_names,
        argocd_servers=argocd_names,
        may_create=may_create,
        gated={
            environment: needed
            for environment in app_state(request).settings.environments
            if (needed := change_requests.required_approvals(sessions, environment))
        },
        problem=problem,
        errors=errors or [],
        change_request=change_request,
        flashes=flashes,
    )


def _listed(read: Any) -> list[Any]:
    try:
        return list(read())
    except HelmforgeError:
        return []


@router.get("/charts/{build_id}/deploy", response_class=HTMLResponse)
def deploy_page(request: Request, build_id: str, visitor: SignedIn) -> Response:
    """The Deploy form of a generated chart: the instance's id (from the build's context),
    registry, GitOps repository and values (the build's overrides)."""
    return _deploy_page(request, visitor, build_id)


def _values_of(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    data = load_single(text, source="values").data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("values must be a YAML mapping of value names to values")
    return data


@router.post("/charts/{build_id}/deploy", response_class=HTMLResponse)
def deploy(request: Request, build_id: str, visitor: SignedIn, form: CheckedForm) -> Response:
    """Create the instance (build, publish, one commit) or, where approval is needed,
    propose it as a change request."""
    sessions = session_factory_of(request)
    names = (
        "product",
        "customer",
        "environment",
        "instance",
        "version",
        "registry",
        "repository",
        "argocd",
    )
    entered = {name: form_text(form, name).strip() for name in names}
    entered["values"] = form_text(form, "values")
    entered["message"] = form_text(form, "message").strip()
    try:
        build = chart_builds.get_build(sessions, build_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/charts")
    try:
        values = _values_of(entered["values"])
        outcome = instances.create_or_propose(
            sessions,
            instances.NewInstance(
                product=entered["product"],
                customer=entered["customer"],
                environment=entered["environment"],
                instance=entered["instance"],
                template=build.template,
                version=entered["version"],
                registry=entered["registry"],
                repository=entered["repository"],
                argocd=entered["argocd"] or None,
                values=values,
                message=entered["message"] or None,
            ),
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
        )
    except InvalidValuesError as error:
        problems = [{"path": p.path, "message": p.message} for p in error.errors]
        return _deploy_page(
            request, visitor, build_id, entered=entered, errors=problems, status_code=422
        )
    except HelmforgeError as error:
        return _deploy_page(
            request,
            visitor,
            build_id,
            entered=entered,
            problem=error.message,
            status_code=http_status_for(error),
        )
    if isinstance(outcome, ChangeRequestView):
        return _deploy_page(request, visitor, build_id, entered=entered, change_request=outcome)
    if not instances.may_read(sessions, outcome.instance.id, actor=visitor.principal):
        # A template-user creates instances and does not read them: its page would be a 404.
        return _deploy_page(request, visitor, build_id, created=outcome)
    return RedirectResponse(instance_url(outcome.instance.id, "?done=created"), status_code=303)
