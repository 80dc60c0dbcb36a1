"""``/api/v1/templates``: create from YAML, edit drafts, validate, diff, publish, deprecate,
export."""

from __future__ import annotations

__all__ = ["router"]

from dataclasses import asdict

from fastapi import APIRouter, Depends, Query, Response, status

from helmforge.api.bodies import YAML_BODY, YamlBodyDep
from helmforge.api.change_requests import ChangeRequestPublic, change_request_public
from helmforge.api.dependencies import AppStateDep, PrincipalDep, SessionsDep, get_principal
from helmforge.api.schemas import (
    DiffPublic,
    ProblemPublic,
    TemplateDraftUpdate,
    TemplateSummaryPublic,
    TemplateVersionPublic,
    ValidationPublic,
    VersionStatusPublic,
)
from helmforge.services import template_reviews, template_store
from helmforge.services.change_requests import ChangeRequestView

router = APIRouter(prefix="/templates", tags=["templates"])


def _public(view: template_store.TemplateVersionView) -> TemplateVersionPublic:
    return TemplateVersionPublic.model_validate(view)


@router.get("")
def list_templates(sessions: SessionsDep, actor: PrincipalDep) -> list[TemplateSummaryPublic]:
    """Every template with its versions and statuses."""
    return [
        TemplateSummaryPublic(
            name=summary.name,
            versions=[VersionStatusPublic(version=v, status=s) for v, s in summary.versions],
            latest_published=summary.latest_published,
        )
        for summary in template_store.list_templates(sessions, actor=actor)
    ]


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=YAML_BODY)
def create_template(
    content: YamlBodyDep, sessions: SessionsDep, actor: PrincipalDep, state: AppStateDep
) -> TemplateVersionPublic:
    """Store a template (YAML body) as a new draft version; 409 if that version exists."""
    return _public(
        template_store.create_version(
            sessions, content, actor=actor, environments=state.settings.environments
        )
    )


# Signed-in callers only, though nothing is read or stored.
@router.post("/validate", openapi_extra=YAML_BODY, dependencies=[Depends(get_principal)])
def validate_template(content: YamlBodyDep, state: AppStateDep) -> ValidationPublic:
    """Every problem of a template text, by line; nothing is stored."""
    problems = template_store.check_template_text(content, environments=state.settings.environments)
    return ValidationPublic(
        valid=not any(problem.severity == "error" for problem in problems),
        problems=[ProblemPublic(**asdict(problem)) for problem in problems],
    )


@router.get("/{name}/versions")
def list_versions(
    name: str, sessions: SessionsDep, actor: PrincipalDep
) -> list[TemplateVersionPublic]:
    """Every version of a template, oldest first."""
    return [_public(v) for v in template_store.list_versions(sessions, name, actor=actor)]


@router.get("/{name}/versions/{version}")
def get_version(
    name: str, version: str, sessions: SessionsDep, actor: PrincipalDep
) -> TemplateVersionPublic:
    """One version with its YAML text, status and revision."""
    return _public(template_store.get_version(sessions, name, version, actor=actor))


@router.put("/{name}/versions/{version}")
def update_draft(
    name: str,
    version: str,
    body: TemplateDraftUpdate,
    *,
    sessions: SessionsDep,
    actor: PrincipalDep,
    state: AppStateDep,
) -> TemplateVersionPublic:
    """Replace a draft's text; 409 with ``current`` when ``revision`` is stale."""
    return _public(
        template_store.update_draft(
            sessions,
            name,
            version,
            body.content,
            expected_revision=body.revision,
            actor=actor,
            environments=state.settings.environments,
        )
    )


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
def delete_draft(
    name: str,
    version: str,
    sessions: SessionsDep,
    actor: PrincipalDep,
    revision: int = Query(ge=0, description="the revision you saw"),
) -> Response:
    """Delete a draft (published versions stay forever); 409 with ``current`` when stale."""
    template_store.delete_draft(sessions, name, version, expected_revision=revision, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{name}/versions/{version}/yaml",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
def export_version(name: str, version: str, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """The stored YAML, as saved."""
    content = template_store.export_yaml(sessions, name, version, actor=actor)
    return Response(
        content,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{name}-{version}.yaml"'},
    )


@router.post(
    "/{name}/versions/{version}/publish",
    responses={202: {"model": ChangeRequestPublic, "description": "review needed first"}},
)
def publish_version(
    name: str,
    version: str,
    *,
    response: Response,
    sessions: SessionsDep,
    actor: PrincipalDep,
    revision: int | None = Query(default=None, ge=0, description="refuse if changed since"),
) -> TemplateVersionPublic | ChangeRequestPublic:
    """Publish a draft: from now on it never changes. With HELMFORGE_TEMPLATE_REVIEW on, the
    answer is 202 with the change request another template creator approves."""
    outcome = template_reviews.publish_or_propose(
        sessions, name, version, actor=actor, expected_revision=revision
    )
    if isinstance(outcome, ChangeRequestView):
        response.status_code = status.HTTP_202_ACCEPTED
        return change_request_public(outcome)
    return _public(outcome)


@router.post("/{name}/versions/{version}/deprecate")
def deprecate_version(
    name: str, version: str, sessions: SessionsDep, actor: PrincipalDep
) -> TemplateVersionPublic:
    """Deprecate a published version: no new charts are built from it."""
    return _public(template_store.deprecate_version(sessions, name, version, actor=actor))


@router.get("/{name}/diff")
def diff_versions(
    name: str,
    sessions: SessionsDep,
    actor: PrincipalDep,
    old: str = Query(max_length=128, description="the older version"),
    new: str = Query(max_length=128, description="the newer version"),
) -> DiffPublic:
    """A unified diff of two versions' YAML."""
    diff = template_store.diff_versions(sessions, name, old, new, actor=actor)
    return DiffPublic(name=name, old=old, new=new, diff=diff)
