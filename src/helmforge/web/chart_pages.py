"""Generate Helm Chart: the main workflow, and the recorded builds.

Step 1 picks a published template version and the context; step 2 shows the effective values
with their source (default, layer N, override); step 3 is a form built from the chart's
values.schema.json, filled with the effective values. Only what the visitor changed becomes an
override. Input that cannot be read, or that breaks the schema, is explained beside its field;
a valid form builds and records the chart and leads to its page: every file, and the .tgz.
"""

from __future__ import annotations

__all__ = ["router"]

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from helmforge.core.access.principals import Principal
from helmforge.core.contexts import CONTEXT_KEYS, parse_context
from helmforge.core.errors import HelmforgeError, InputError, NotFoundError, PermissionDeniedError
from helmforge.core.templates.layering import changed_values
from helmforge.core.templates.models import Template
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import chart_builds, template_store
from helmforge.web.paging import page_links, page_request
from helmforge.web.schema_forms import build_fields, read_submission
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    app_state,
    form_text,
    moment,
    render,
    render_error,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)
_CONTEXT_LABELS = {
    "product": "Product",
    "customer": "Customer",
    "environment": "Environment",
    "instance": "Instance",
    "version": "Application version",
}
_CONTEXT_HINTS = {
    "product": "Lower-case letters, digits and '-' (DNS label).",
    "customer": "Lower-case letters, digits and '-' (DNS label).",
    "instance": "Lower-case letters, digits and '-', e.g. 01 or a1.",
    "version": "The application version, e.g. 3.4.0 (also the chart version when SemVer).",
}


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return "(not set)"
    return dump_yaml(value).strip().removesuffix("...").strip()


def _layer_condition(template: Template, source: str) -> str:
    """``layer N`` as people read it: the condition that chose the layer."""
    number = source.removeprefix("layer ")
    if not number.isdigit() or int(number) >= len(template.layers):
        return source
    when = template.layers[int(number)].when
    if not when:
        return "layer: every context"
    parts = [
        f"{key} = {options[0]}" if len(options) == 1 else f"{key} in {', '.join(options)}"
        for key, options in when.items()
    ]
    return "layer: " + " and ".join(parts)


def _provenance_rows(
    values: Mapping[str, Any], provenance: Mapping[str, Any], template: Template
) -> list[dict[str, str]]:
    rows = []
    for dotted in sorted(provenance):
        source = str(provenance[dotted])
        kind = source.split(" ", maxsplit=1)[0].rstrip(":")
        if kind == "layer":
            source = _layer_condition(template, source)
        rows.append(
            {
                "path": dotted,
                "value": _shown(_lookup(values, dotted)),
                "source": source,
                "kind": kind,
            }
        )
    return rows


def _template_options(sessions: sessionmaker[Session], actor: Principal) -> list[dict[str, str]]:
    options = []
    for summary in template_store.list_templates(sessions, actor=actor):
        for version, status in reversed(summary.versions):
            if status == template_store.PUBLISHED:
                options.append({"ref": f"{summary.name}@{version}", "status": status})
    return options


def _context_errors(error: InputError) -> dict[str, str]:
    found: dict[str, str] = {}
    text = error.message.removeprefix("invalid context: ")
    for part in text.split("; "):
        for key in CONTEXT_KEYS:
            if part.startswith(f"{key} "):
                found.setdefault(key, part)
        if part.startswith("chart name"):
            found.setdefault("instance", part)
    return found


def _page(request: Request, *, status_code: int = 200, **context: Any) -> Response:
    defaults: dict[str, Any] = {
        "context_keys": CONTEXT_KEYS,
        "environments": app_state(request).settings.environments,
        "context_hints": _CONTEXT_HINTS,
        "context_labels": _CONTEXT_LABELS,
        "context_errors": {},
        "context": {},
        "fields": None,
        "provenance": [],
        "problems": [],
        "value_errors": {},
        "chart_name": "",
    }
    defaults.update(context)
    return render(
        request,
        "generate.html",
        status_code=status_code,
        section="generate",
        title="Generate Helm Chart",
        **defaults,
    )


@router.get("/generate", response_class=HTMLResponse)
def generate_page(
    request: Request, visitor: SignedIn, template: str = "", version: str = ""
) -> Response:
    """Step 1: choose a published template version and enter the context."""
    sessions = session_factory_of(request)
    options = _template_options(sessions, visitor.principal)
    selected = f"{template}@{version}" if template and version else ""
    if not selected and template:
        selected = next((o["ref"] for o in options if o["ref"].startswith(f"{template}@")), "")
    return _page(
        request,
        template_options=options,
        selected_template=selected,
        context={"environment": "dev"},
    )


def _problem(message: str) -> dict[str, Any]:
    return {"line": None, "path": "", "message": message}


@router.post("/generate", response_class=HTMLResponse)
def generate(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Steps 2 and 3: effective values and the override form; build when asked and valid."""
    sessions = session_factory_of(request)
    actor = visitor.principal
    reference = form_text(form, "template")
    raw_context = {key: form_text(form, f"ctx.{key}").strip() for key in CONTEXT_KEYS}
    page: dict[str, Any] = {
        "template_options": _template_options(sessions, actor),
        "selected_template": reference,
        "context": raw_context,
    }
    try:
        parse_context(raw_context)
    except InputError as error:
        return _page(request, status_code=422, context_errors=_context_errors(error), **page)
    try:
        _view, template = template_store.load_published(sessions, reference, actor=actor)
        schema = chart_builds.values_schema_of(template)
    except HelmforgeError as error:
        status = 404 if isinstance(error, NotFoundError) else 422
        return _page(request, status_code=status, problems=[_problem(error.message)], **page)
    page["chart_name"] = "-".join(raw_context[k] for k in CONTEXT_KEYS[:4])
    return _values_step(
        request, form, sessions=sessions, actor=actor, template=template, schema=schema, page=page
    )


def _values_step(
    request: Request,
    form: FormData,
    *,
    sessions: sessionmaker[Session],
    actor: Principal,
    template: Template,
    schema: dict[str, Any],
    page: dict[str, Any],
) -> Response:
    reference, raw_context = page["selected_template"], page["context"]
    posted = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    has_values = any(key.startswith("v.") for key in posted)
    submitted, errors = read_submission(schema, posted) if has_values else ({}, {})
    problems: list[dict[str, Any]] = []
    try:
        base_effective, missing = chart_builds.defaults_for(
            sessions, template=reference, context=raw_context, actor=actor
        )
    except InputError as error:
        return _page(request, status_code=422, problems=[_problem(error.message)], **page)
    missing_paths = {".".join(path) for path in missing}
    base = base_effective.values
    overrides = changed_values(submitted, base) if has_values else {}
    shown_values = base
    provenance: dict[str, Any] = {
        path: ("required: fill it in below" if path in missing_paths else source)
        for path, source in base_effective.provenance.items()
    }
    if overrides or not missing_paths:
        try:
            effective = chart_builds.effective_values_for(
                sessions, template=reference, context=raw_context, values=overrides, actor=actor
            )
            shown_values, provenance = effective.values, dict(effective.provenance)
        except InputError as error:
            problems.append(_problem(error.message))
    wants_build = form_text(form, "action") == "build" and has_values
    refused = False
    if wants_build and not errors and not problems:
        try:
            build = chart_builds.build_chart(
                sessions, template=reference, context=raw_context, values=overrides, actor=actor
            )
        except HelmforgeError as error:
            # A forbidden build answers 403 as the API does (DESIGN §9), not 422.
            refused = isinstance(error, PermissionDeniedError)
            problems.append(_problem(error.message))
        else:
            return RedirectResponse(f"/charts/{build.id}", status_code=303)
    form_values = submitted if has_values else shown_values
    return _page(
        request,
        status_code=403 if refused else 422 if (errors or problems) and wants_build else 200,
        fields=build_fields(schema, form_values, errors=errors),
        provenance=_provenance_rows(shown_values, provenance, template),
        problems=problems,
        value_errors=errors,
        **page,
    )


@router.get("/charts", response_class=HTMLResponse)
def charts_page(request: Request, visitor: SignedIn) -> Response:
    """Recorded chart builds, newest first, fifty a page; ``?q=`` searches them."""
    builds = chart_builds.page_builds(
        session_factory_of(request), actor=visitor.principal, page=page_request(request)
    )
    rows = [
        {
            "id": b.id,
            "name": b.name,
            "version": b.version,
            "template": b.template,
            "created_by": b.created_by,
            "created_at": moment(b.created_at),
        }
        for b in builds.items
    ]
    return render(
        request,
        "charts_list.html",
        section="charts",
        title="Chart builds",
        builds=rows,
        links=page_links(request, builds),
    )


@router.get("/charts/{build_id}", response_class=HTMLResponse)
def chart_page(request: Request, build_id: str, visitor: SignedIn) -> Response:
    """One build: its record and a preview of every file."""
    sessions = session_factory_of(request)
    try:
        build = chart_builds.get_build(sessions, build_id, actor=visitor.principal)
        files = chart_builds.build_files(sessions, build_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/charts")
    record = {
        "id": build.id,
        "name": build.name,
        "version": build.version,
        "template": build.template,
        "context": build.context,
        "digest": build.digest,
        "created_by": build.created_by,
        "created_at": moment(build.created_at),
        "overrides": dump_yaml(build.values) if build.values else "",
        "generator": build.generator or {},
    }
    previews = [
        {"path": path, "text": text, "size": len(text.encode())}
        for path, text in sorted(files.items(), key=lambda item: _file_order(item[0]))
    ]
    return render(
        request,
        "chart.html",
        section="charts",
        title=f"Chart {build.name}",
        build=record,
        files=previews,
    )


def _file_order(path: str) -> tuple[int, str]:
    first = ("Chart.yaml", "values.yaml", "values.schema.json")
    return (first.index(path), path) if path in first else (len(first), path)


@router.get("/charts/{build_id}/download")
def download(request: Request, build_id: str, visitor: SignedIn) -> Response:
    """The build's .tgz (its SHA-256 is the recorded digest)."""
    try:
        file_name, archive = chart_builds.get_archive(
            session_factory_of(request), build_id, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/charts")
    return Response(
        archive,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )
