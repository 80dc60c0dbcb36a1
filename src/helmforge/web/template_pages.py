"""Template pages: list, create (paste or upload), edit a draft with problems shown by line,
compare two versions, publish, deprecate and export.

A stale save (someone saved the draft in between) is answered 409 with the current state;
the visitor's text stays in the editor and nothing is overwritten.
"""

from __future__ import annotations

__all__ = ["diff_rows", "router"]

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from helmforge.core.errors import (
    HelmforgeError,
    InputError,
    NotFoundError,
    TooLargeError,
    http_status_for,
)
from helmforge.services import template_reviews, template_store
from helmforge.services.change_requests import ChangeRequestView
from helmforge.web.paging import page_links, page_request
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    Visitor,
    app_state,
    form_text,
    render,
    render_error,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)
#: A small valid template to start from (New template page, "Start from a starter").
_STARTER = Path(__file__).resolve().parent / "starter-template.yaml"
_HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_MESSAGES = {
    "created": "Draft {version} created.",
    "published": "Version {version} published: it will never change from now on.",
    "deprecated": "Version {version} deprecated.",
    "deleted": "Draft {version} deleted.",
}
_NAME_OR_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,127}\Z")


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One line of a readable diff: ``kind`` is same, add, del or gap."""

    kind: str
    text: str
    old_number: int | None = None
    new_number: int | None = None


def diff_rows(unified: str) -> list[DiffRow]:
    """The rows of a unified diff, with the line numbers on both sides."""
    rows: list[DiffRow] = []
    old = new = 0
    for line in unified.splitlines():
        if line.startswith(("---", "+++")) and not rows and old == new == 0:
            continue
        hunk = _HUNK.match(line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
            if rows:
                rows.append(DiffRow("gap", "…"))
        elif line.startswith("+"):
            rows.append(DiffRow("add", line[1:], new_number=new))
            new += 1
        elif line.startswith("-"):
            rows.append(DiffRow("del", line[1:], old_number=old))
            old += 1
        elif line.startswith(" "):
            rows.append(DiffRow("same", line[1:], old_number=old, new_number=new))
            old += 1
            new += 1
    return rows


def _problems(error: HelmforgeError) -> list[dict[str, Any]]:
    found = error.problems if isinstance(error, InputError) and error.problems else (error,)
    return [
        {
            "line": p.location.line if p.location else None,
            "path": p.location.path if p.location else "",
            "message": p.message,
        }
        for p in found
    ]


def _problem_dicts(problems: list[template_store.ProblemView]) -> list[dict[str, Any]]:
    return [
        {"line": p.line, "path": p.path or "", "message": p.message, "severity": p.severity}
        for p in problems
    ]


def _editor(content: str, problems: list[dict[str, Any]]) -> dict[str, Any]:
    problems = sorted(problems, key=lambda p: (p.get("line") is None, p.get("line") or 0))
    return {
        "content": content,
        "line_count": max(1, content.count("\n") + 1),
        "error_lines": {p["line"] for p in problems if p.get("line")},
        "problems": problems,
    }


@router.get("/templates", response_class=HTMLResponse)
def templates_page(request: Request, visitor: SignedIn) -> Response:
    """Templates by name with their versions, fifty a page; ``?q=`` searches the names."""
    summaries = template_store.page_templates(
        session_factory_of(request), actor=visitor.principal, page=page_request(request)
    )
    rows = [
        {
            "name": summary.name,
            "versions": [
                {"version": version, "status": status}
                for version, status in reversed(summary.versions)
            ],
            "latest": summary.latest_published,
        }
        for summary in summaries.items
    ]
    return render(
        request,
        "templates_list.html",
        section="templates",
        title="Templates",
        templates=rows,
        links=page_links(request, summaries),
    )


@router.get("/templates/new", response_class=HTMLResponse)
def new_template_page(
    request: Request,
    visitor: SignedIn,
    from_reference: Annotated[str | None, Query(alias="from")] = None,
    starter: bool = False,
) -> Response:
    """The form for a new template, or for a new version copied from ``?from=NAME@VERSION``
    with its ``metadata.version`` already moved to the next free patch version."""
    content = _STARTER.read_text("utf-8") if starter else ""
    flashes = []
    if from_reference:
        try:
            name, version = template_store.parse_reference(from_reference)
            sessions = session_factory_of(request)
            if version is None:
                version = template_store.list_versions(sessions, name, actor=visitor.principal)[
                    -1
                ].version
            draft = template_store.new_draft_from(sessions, name, version, actor=visitor.principal)
        except HelmforgeError as error:
            return render_failure(request, error, back_url="/templates")
        content = draft.content
        text = f"Copied from {draft.name} {draft.source_version}"
        if draft.version != draft.source_version:
            text += f" as version {draft.version} (metadata.version); change it if you like."
        else:
            text += ": change metadata.version before you save."
        flashes.append({"kind": "info", "text": text})
    return render(
        request,
        "template_new.html",
        section="templates",
        title="New template",
        flashes=flashes,
        **_editor(content, []),
    )


async def _upload_text(form: Any) -> str | None:
    upload = form.get("upload")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(template_store.MAX_TEMPLATE_BYTES + 1)
    if len(data) > template_store.MAX_TEMPLATE_BYTES:
        raise TooLargeError(
            f"{upload.filename} is larger than {template_store.MAX_TEMPLATE_BYTES} bytes"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{upload.filename} is not UTF-8 text (byte {error.start})") from error


@router.post("/templates/new", response_class=HTMLResponse)
async def create_template(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Store pasted or uploaded YAML as a draft; problems come back beside the editor."""
    content = form_text(form, "content")
    try:
        uploaded = await _upload_text(form)
        content = uploaded if uploaded is not None else content
        if not content.strip():
            raise InputError("paste the template YAML or choose a file to upload")
        view = template_store.create_version(
            session_factory_of(request),
            content,
            actor=visitor.principal,
            environments=app_state(request).settings.environments,
        )
    except HelmforgeError as error:
        return render(
            request,
            "template_new.html",
            status_code=http_status_for(error),
            section="templates",
            title="New template",
            **_editor(content, _problems(error)),
        )
    return RedirectResponse(
        f"/templates/{view.name}/{view.version}/edit?done=created", status_code=303
    )


def _versions_page(
    request: Request, visitor: Visitor, name: str, *, done: str = "", version: str = ""
) -> Response:
    try:
        versions = template_store.list_versions(
            session_factory_of(request), name, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/templates")
    rows = [
        {
            "version": v.version,
            "status": v.status,
            "revision": v.revision,
            "updated": f"{v.updated_at:%Y-%m-%d %H:%M} UTC by {v.updated_by}",
        }
        for v in reversed(versions)
    ]
    flashes = []
    if done in _MESSAGES and _NAME_OR_VERSION.match(version):
        flashes.append({"kind": "ok", "text": _MESSAGES[done].format(version=version)})
    return render(
        request,
        "template_detail.html",
        section="templates",
        title=f"Template {name}",
        name=name,
        versions=rows,
        description="",
        flashes=flashes,
    )


@router.get("/templates/{name}", response_class=HTMLResponse)
def template_page(
    request: Request, name: str, visitor: SignedIn, done: str = "", version: str = ""
) -> Response:
    """The versions of one template, with their actions and the compare form."""
    return _versions_page(request, visitor, name, done=done, version=version)


def _edit_page(
    request: Request,
    view: template_store.TemplateVersionView,
    *,
    content: str,
    revision: int,
    problems: list[dict[str, Any]],
    status_code: int = 200,
    saved: str = "",
    conflict: dict[str, Any] | None = None,
) -> Response:
    return render(
        request,
        "template_edit.html",
        status_code=status_code,
        section="templates",
        title=f"Edit {view.name} {view.version}",
        name=view.name,
        version=view.version,
        revision=revision,
        saved=saved,
        conflict=conflict,
        **_editor(content, problems),
    )


@router.get("/templates/{name}/{version}/edit", response_class=HTMLResponse)
def edit_page(
    request: Request, name: str, version: str, visitor: SignedIn, done: str = ""
) -> Response:
    """The draft's YAML in the editor."""
    try:
        view = template_store.get_version(
            session_factory_of(request), name, version, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/templates")
    if view.status != template_store.DRAFT:
        return render_error(
            request,
            409,
            f"{name}@{version} is {view.status}: a published version never changes. "
            "Start a new version from it instead.",
            back_url=f"/templates/{name}",
        )
    saved = _MESSAGES["created"].format(version=version) if done == "created" else ""
    if done == "saved":
        saved = f"Saved: revision {view.revision}."
    return _edit_page(
        request, view, content=view.content, revision=view.revision, problems=[], saved=saved
    )


@router.post("/templates/{name}/{version}/edit", response_class=HTMLResponse)
def save_draft(
    request: Request, name: str, version: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Validate, or save at the revision the editor was loaded with (409 when stale)."""
    sessions = session_factory_of(request)
    content = form_text(form, "content")
    try:
        revision = int(form_text(form, "revision", "0"))
        current = template_store.get_version(sessions, name, version, actor=visitor.principal)
    except ValueError:
        return render_error(request, 400, "the form's revision is not a number")
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/templates")
    if form_text(form, "action") == "validate":
        problems = _problem_dicts(
            template_store.check_template_text(
                content,
                source=f"{name}@{version}",
                environments=app_state(request).settings.environments,
            )
        )
        saved = "" if any(p["severity"] == "error" for p in problems) else "Valid: no errors found."
        status = 422 if not saved else 200
        return _edit_page(
            request,
            current,
            content=content,
            revision=revision,
            problems=problems,
            saved=saved,
            status_code=status,
        )
    try:
        template_store.update_draft(
            sessions,
            name,
            version,
            content,
            expected_revision=revision,
            actor=visitor.principal,
            environments=app_state(request).settings.environments,
        )
    except template_store.StaleRevisionError as error:
        latest = error.current
        conflict = {
            "revision": latest.revision,
            "by": latest.updated_by,
            "at": f"{latest.updated_at:%Y-%m-%d %H:%M:%S} UTC",
            "content": latest.content,
        }
        return _edit_page(
            request,
            current,
            content=content,
            revision=revision,
            problems=[],
            conflict=conflict,
            status_code=409,
        )
    except HelmforgeError as error:
        return _edit_page(
            request,
            current,
            content=content,
            revision=revision,
            problems=_problems(error),
            status_code=http_status_for(error),
        )
    return RedirectResponse(f"/templates/{name}/{version}/edit?done=saved", status_code=303)


#: What each status change asks before it is done: (question, consequence, button).
_CONFIRMATIONS = {
    "publish": (
        "Publish {name} {version}?",
        "A published version never changes again; charts can be generated from it.",
        "Publish {version}",
    ),
    "deprecate": (
        "Deprecate {name} {version}?",
        "New charts are no longer generated from it unless it is named explicitly.",
        "Deprecate {version}",
    ),
    "delete": (
        "Delete the draft {name} {version}?",
        "The draft and its text are gone for good (the audit log keeps that it existed).",
        "Delete draft {version}",
    ),
}


def _confirmed(form: CheckedForm) -> bool:
    return form_text(form, "confirmed") == "yes"


def _confirm_page(
    request: Request, name: str, version: str, action: str, *, revision: str = ""
) -> Response:
    """Asked when the form came without ``confirmed=yes`` (no script ran its dialog)."""
    question, consequence, button = (
        text.format(name=name, version=version) for text in _CONFIRMATIONS[action]
    )
    return render(
        request,
        "confirm.html",
        section="templates",
        title=question,
        question=question,
        consequence=consequence,
        button=button,
        action_url=f"/templates/{name}/{version}/{action}",
        danger=action != "publish",
        revision=revision,
        back_url=f"/templates/{name}",
    )


@router.post("/templates/{name}/{version}/publish")
def publish(
    request: Request, name: str, version: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Publish a draft once confirmed; from then on it never changes."""
    if not _confirmed(form):
        return _confirm_page(request, name, version, "publish")
    try:
        outcome = template_reviews.publish_or_propose(
            session_factory_of(request), name, version, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url=f"/templates/{name}")
    if isinstance(outcome, ChangeRequestView):
        # Under review: the change request's page shows it waiting for another creator.
        return RedirectResponse(f"/changes/{outcome.id}", status_code=303)
    return RedirectResponse(f"/templates/{name}?done=published&version={version}", status_code=303)


@router.post("/templates/{name}/{version}/deprecate")
def deprecate(
    request: Request, name: str, version: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Deprecate a published version once confirmed."""
    if not _confirmed(form):
        return _confirm_page(request, name, version, "deprecate")
    return _change_status(
        request,
        name,
        version=version,
        change=template_store.deprecate_version,
        visitor=visitor,
        done="deprecated",
    )


@router.post("/templates/{name}/{version}/delete")
def delete(
    request: Request, name: str, version: str, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Delete a draft once confirmed, if nobody saved it since the page showed ``revision``."""
    revision = form_text(form, "revision")
    if not revision.isdigit():
        return render_error(request, 400, "the form's revision is not a number")
    if not _confirmed(form):
        return _confirm_page(request, name, version, "delete", revision=revision)
    try:
        template_store.delete_draft(
            session_factory_of(request),
            name,
            version,
            expected_revision=int(revision),
            actor=visitor.principal,
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url=f"/templates/{name}")
    try:
        template_store.list_versions(session_factory_of(request), name, actor=visitor.principal)
    except NotFoundError:  # its only version is gone, and the template with it
        return RedirectResponse("/templates", status_code=303)
    return RedirectResponse(f"/templates/{name}?done=deleted&version={version}", status_code=303)


def _change_status(
    request: Request,
    name: str,
    *,
    version: str,
    change: Callable[..., object],
    visitor: Visitor,
    done: str,
) -> Response:
    """Publish or deprecate (``change``) a version, then back to the template with ``done``."""
    try:
        change(session_factory_of(request), name, version, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url=f"/templates/{name}")
    return RedirectResponse(f"/templates/{name}?done={done}&version={version}", status_code=303)


@router.get("/templates/{name}/{version}/export")
def export(request: Request, name: str, version: str, visitor: SignedIn) -> Response:
    """The version's YAML as a download, byte for byte as stored."""
    try:
        text = template_store.export_yaml(
            session_factory_of(request), name, version, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/templates")
    filename = f"{name}-{version}.yaml"
    if not _NAME_OR_VERSION.match(filename):
        filename = "template.yaml"
    return PlainTextResponse(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/templates/{name}/diff", response_class=HTMLResponse)
def diff_page(
    request: Request,
    name: str,
    visitor: SignedIn,
    from_version: Annotated[str, Query(alias="from")],
    to_version: Annotated[str, Query(alias="to")],
) -> Response:
    """A readable, coloured line diff of two versions."""
    try:
        unified = template_store.diff_versions(
            session_factory_of(request), name, from_version, to_version, actor=visitor.principal
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url=f"/templates/{name}")
    return render(
        request,
        "template_diff.html",
        section="templates",
        title=f"Compare {name}",
        name=name,
        from_version=from_version,
        to_version=to_version,
        rows=diff_rows(unified),
    )
