"""``/api/v1/charts``: build and record charts, fetch archives and files, preview, effective
values."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Query, Response, status

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.schemas import (
    ChartBuildCreate,
    ChartBuildPublic,
    ChartFilesPublic,
    ChartPreviewCreate,
    ChartPreviewPublic,
    EffectiveValuesPublic,
)
from helmforge.services import chart_builds

router = APIRouter(prefix="/charts", tags=["charts"])


@router.post("", status_code=status.HTTP_201_CREATED)
def build_chart(
    body: ChartBuildCreate, sessions: SessionsDep, actor: PrincipalDep
) -> ChartBuildPublic:
    """Build a chart from a published template version and record it."""
    view = chart_builds.build_chart(
        sessions,
        template=body.template,
        context=body.context,
        values=body.values,
        chart_version=body.chart_version,
        actor=actor,
    )
    return ChartBuildPublic.model_validate(view)


@router.get("")
def list_builds(
    sessions: SessionsDep,
    actor: PrincipalDep,
    template: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[ChartBuildPublic]:
    """Recorded builds, newest first."""
    views = chart_builds.list_builds(sessions, actor=actor, template=template, limit=limit)
    return [ChartBuildPublic.model_validate(view) for view in views]


@router.post("/preview")
def preview_chart(
    body: ChartPreviewCreate, sessions: SessionsDep, actor: PrincipalDep
) -> ChartPreviewPublic:
    """Every file the chart would have; nothing is recorded (drafts allowed)."""
    preview = chart_builds.preview_chart(
        sessions,
        template=body.template,
        context=body.context,
        values=body.values,
        chart_version=body.chart_version,
        actor=actor,
    )
    return ChartPreviewPublic.model_validate(preview)


@router.post("/effective-values")
def effective_values(
    body: ChartPreviewCreate, sessions: SessionsDep, actor: PrincipalDep
) -> EffectiveValuesPublic:
    """The values a chart would get and where each comes from (default, layer, override)."""
    result = chart_builds.effective_values_for(
        sessions, template=body.template, context=body.context, values=body.values, actor=actor
    )
    return EffectiveValuesPublic.model_validate(result)


@router.get("/{build_id}")
def get_build(build_id: str, sessions: SessionsDep, actor: PrincipalDep) -> ChartBuildPublic:
    """One recorded build: inputs, digest, who, when."""
    return ChartBuildPublic.model_validate(chart_builds.get_build(sessions, build_id, actor=actor))


@router.get(
    "/{build_id}/archive",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {"schema": {"type": "string"}}}}},
)
def get_archive(build_id: str, sessions: SessionsDep, actor: PrincipalDep) -> Response:
    """The chart .tgz; its sha256 is the build's digest."""
    file_name, archive = chart_builds.get_archive(sessions, build_id, actor=actor)
    return Response(
        archive,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )


@router.get("/{build_id}/files")
def get_files(build_id: str, sessions: SessionsDep, actor: PrincipalDep) -> ChartFilesPublic:
    """Every file of the recorded archive, as text."""
    files = chart_builds.build_files(sessions, build_id, actor=actor)
    return ChartFilesPublic(id=build_id, files=files)
