"""Editing an instance's values (DESIGN §6): a form built from the chart's values.schema.json
beside a YAML editor of values.yaml, a Preview step, and Save.

Either side is previewed on its own (each pane is its own form, so the page works without
script): the form's inputs are read back with ``schema_forms`` and only what differs from the
chart's defaults becomes an override; the YAML pane is taken as the whole overrides. The
preview (``services.instances.preview_values``) shows the diff of values.yaml, of the
effective values and of the rendered manifests, and every schema problem with its path. Save
sends the revision the edit started from as ``If-Match``: when someone changed the instance
meanwhile nothing is written and the page shows what changed (409); in an environment that
needs approval it creates a change request and the instance's page links to it.
"""

from __future__ import annotations

__all__ = ["router"]

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.errors import HelmforgeError, InputError, NotFoundError, http_status_for
from helmforge.core.instances.values_text import ValuesText, checked_values_text
from helmforge.core.templates.layering import changed_values
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import change_requests, instances
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.instances import (
    InstanceDetail,
    InvalidValuesError,
    StaleInstanceError,
    ValuesForm,
    ValuesPreview,
)
from helmforge.web.instance_pages import (
    PAGE,
    InstancePath,
    diff_lines,
    instance_page_with_request,
    instance_url,
)
from helmforge.web.schema_forms import (
    FormField,
    build_fields,
    field_name,
    read_submission,
    to_json,
)
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

_INDEX = re.compile(r"\[(\d+)\]")
_MAX_VALUES_JSON = 1024 * 1024


def _merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` over ``base`` as Helm merges values: maps key by key, the rest replaced."""
    result = dict(base)
    for key, value in overrides.items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[key] = _merged(current, value)
        else:
            result[key] = value
    return result


def _form_overrides(
    form_values: ValuesForm, submitted: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """The overrides a submitted form means: what differs from the chart's defaults, plus the
    current overrides of values the form has no input for (it cannot change those)."""
    overrides = changed_values(submitted, form_values.defaults)
    shown = set(form_values.schema.get("properties", {}))
    for key, value in current.items():
        if key not in shown:
            overrides.setdefault(key, value)
    return overrides


def _field_of(path: str) -> str:
    """The form field of a problem's value path (``ports[0].name`` → ``v.ports.0.name``)."""
    if path in ("", "$"):
        return "v"
    return field_name(tuple(_INDEX.sub(r".\1", path).split(".")))


def _editor(
    request: Request,
    visitor: Visitor,
    instance_id: str,
    *,
    detail: InstanceDetail,
    form_values: ValuesForm,
    revision: str,
    overrides: Mapping[str, Any] | None = None,
    yaml_text: str | None = None,
    field_errors: Mapping[str, str] | None = None,
    yaml_error: str = "",
    preview: ValuesPreview | None = None,
    proposed: Mapping[str, Any] | None = None,
    proposed_text: ValuesText | None = None,
    problems: list[dict[str, str]] | None = None,
    problem: str = "",
    conflict: StaleInstanceError | None = None,
    message: str = "",
    posted: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The editor: both panes filled with ``overrides`` (the current ones unless given), the
    preview of ``proposed`` when there is one, and what went wrong."""
    sessions = session_factory_of(request)
    view = detail.view
    current = overrides if overrides is not None else (detail.values or {})
    filled = _merged(form_values.defaults, current)
    if yaml_text is None:
        yaml_text = detail.values_yaml if overrides is None else _yaml_of(current)
    preview_errors = (
        [{"path": p.path, "message": p.message} for p in preview.errors] if preview else []
    )
    fields = build_fields(form_values.schema, filled, errors=field_errors or {})
    if posted is not None:
        _refill(fields, posted)
    return render(
        request,
        "instance_edit.html",
        status_code=status_code,
        section="instances",
        title=f"Edit values of {view.id}",
        view=view,
        url=instance_url(view.id),
        revision=revision,
        fields=fields,
        field_errors=field_errors or {},
        yaml_text=yaml_text or "",
        yaml_error=yaml_error,
        preview=preview,
        preview_errors=preview_errors,
        diffs=(
            {
                "values": diff_lines(preview.values_diff),
                "effective": diff_lines(preview.effective_diff),
                "manifests": diff_lines(preview.manifests_diff),
            }
            if preview
            else {}
        ),
        proposed_json=to_json(dict(proposed)) if proposed is not None else "",
        # From the YAML pane: the text itself is saved (comments kept), and what was quoted.
        proposed_text=proposed_text.text if proposed_text is not None else None,
        quoted=proposed_text.quoted if proposed_text is not None else (),
        moved=bool(preview and preview.revision and preview.revision != revision),
        problems=problems or [],
        problem=problem,
        conflict=conflict,
        conflict_diff=diff_lines(conflict.diff) if conflict else [],
        message=message,
        approvals=change_requests.required_approvals(sessions, view.environment),
    )


def _refill(fields: list[FormField], posted: Mapping[str, str]) -> None:
    """Show what the visitor typed (also what could not be read) in the inputs again."""
    for item in fields:
        if item.children:
            _refill(item.children, posted)
        elif item.name in posted:
            item.value = posted[item.name]


def _yaml_of(values: Mapping[str, Any]) -> str:
    return dump_yaml(dict(values)) if values else ""


def _load(
    request: Request, visitor: Visitor, instance_id: str
) -> tuple[InstanceDetail, ValuesForm] | Response:
    """The instance (as Git has it now) and its form, or the page saying why not."""
    sessions = session_factory_of(request)
    actor = visitor.principal
    try:
        detail = instances.get_instance(
            sessions,
            instance_id,
            actor=actor,
            workspace=app_state(request).git_workspace,
            with_sync=False,
        )
        if "values.update" not in instances.allowed_actions(sessions, instance_id, actor=actor):
            return render_error(
                request,
                403,
                f"you may read {detail.view.id} but not change its values (values.update)",
                back_url=instance_url(detail.view.id),
            )
        form_values = instances.values_form(sessions, instance_id, actor=actor)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/instances")
    if detail.values is None:
        return render_error(
            request,
            409,
            detail.values_error or "values.yaml cannot be read",
            back_url=instance_url(detail.view.id),
        )
    return detail, form_values


@router.get(PAGE + "/edit", response_class=HTMLResponse)
def edit_page(request: Request, instance_id: InstancePath, visitor: SignedIn) -> Response:
    """The values editor: the schema form and values.yaml side by side."""
    loaded = _load(request, visitor, instance_id)
    if isinstance(loaded, Response):
        return loaded
    detail, form_values = loaded
    return _editor(
        request,
        visitor,
        instance_id,
        detail=detail,
        form_values=form_values,
        revision=detail.revision or "",
    )


@router.post(PAGE + "/edit", response_class=HTMLResponse)
def edit(
    request: Request, instance_id: InstancePath, visitor: SignedIn, form: CheckedForm
) -> Response:
    """``action=preview-form``/``preview-yaml``: the diffs of what saving would change;
    ``action=save``: commit the previewed values on the revision the edit started from."""
    loaded = _load(request, visitor, instance_id)
    if isinstance(loaded, Response):
        return loaded
    detail, form_values = loaded
    revision = form_text(form, "revision").strip() or (detail.revision or "")
    # The editor page of this request: each answer below names only what differs.
    editor = functools.partial(
        _editor,
        request,
        visitor,
        instance_id,
        detail=detail,
        form_values=form_values,
        revision=revision,
    )
    action = form_text(form, "action")
    if action == "save":
        return _save(request, visitor, instance_id, form, editor=editor, revision=revision)
    current = detail.values or {}
    values_text: ValuesText | None = None
    if action == "preview-yaml":
        # A textarea submits its lines ending in CRLF; values.yaml's end in LF.
        text = form_text(form, "values_yaml").replace("\r\n", "\n")
        try:
            values_text = checked_values_text(text, source="values.yaml")
            overrides = values_text.values
        except InputError as error:
            return editor(
                yaml_text=text,
                yaml_error=str(error),
                status_code=422,
            )
        yaml_text: str | None = text
    else:
        posted = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        submitted, errors = read_submission(form_values.schema, posted)
        if errors:
            return editor(
                overrides=changed_values(submitted, form_values.defaults),
                field_errors=errors,
                posted=posted,
                status_code=422,
            )
        overrides = _form_overrides(form_values, submitted, current)
        yaml_text = None
    return _previewed(
        request,
        visitor,
        instance_id,
        editor=editor,
        overrides=overrides,
        yaml_text=yaml_text,
        values_text=values_text,
    )


def _previewed(
    request: Request,
    visitor: Visitor,
    instance_id: str,
    *,
    editor: Callable[..., Response],
    overrides: Mapping[str, Any],
    yaml_text: str | None,
    values_text: ValuesText | None,
) -> Response:
    try:
        preview = instances.preview_values(
            session_factory_of(request),
            instance_id,
            overrides,
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
            values_text=values_text.text if values_text is not None else None,
        )
    except HelmforgeError as error:
        return editor(
            overrides=overrides,
            yaml_text=yaml_text,
            problem=error.message,
            status_code=http_status_for(error),
        )
    return editor(
        overrides=overrides,
        yaml_text=yaml_text,
        field_errors={_field_of(p.path): p.message for p in preview.errors},
        preview=preview,
        proposed=overrides,
        proposed_text=values_text,
        status_code=422 if preview.errors else 200,
    )


def _proposed_values(text: str) -> dict[str, Any]:
    if len(text) > _MAX_VALUES_JSON:
        raise InputError("the previewed values are too large to save from this page")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InputError("nothing was previewed to save: preview the values first")
    return data


def _save(
    request: Request,
    visitor: Visitor,
    instance_id: str,
    form: CheckedForm,
    *,
    editor: Callable[..., Response],
    revision: str,
) -> Response:
    message = form_text(form, "message").strip()
    # Saved from the YAML pane: the previewed text, committed as written.
    text = form_text(form, "values_text") if form_text(form, "from_yaml") == "yes" else None
    try:
        values = _proposed_values(form_text(form, "values_json"))
    except InputError as error:
        return editor(
            problem=error.message,
            status_code=422,
        )
    try:
        outcome = instances.update_values_or_propose(
            session_factory_of(request),
            instance_id,
            values if text is None else None,
            if_match=revision or None,
            actor=visitor.principal,
            workspace=app_state(request).git_workspace,
            message=message or None,
            values_yaml=text,
        )
    except StaleInstanceError as error:
        # Nothing was written. The editor keeps the visitor's values and now starts from the
        # revision they have just been shown, so a new preview shows their change against it.
        return editor(
            revision=error.current_revision or revision,
            overrides=values,
            yaml_text=text,
            conflict=error,
            message=message,
            status_code=409,
        )
    except InvalidValuesError as error:
        return editor(
            overrides=values,
            yaml_text=text,
            field_errors={_field_of(p.path): p.message for p in error.errors},
            problems=[{"path": p.path, "message": p.message} for p in error.errors],
            message=message,
            status_code=422,
        )
    except NotFoundError as error:
        return render_failure(request, error, back_url="/instances")
    except HelmforgeError as error:
        return editor(
            overrides=values,
            yaml_text=text,
            problem=error.message,
            message=message,
            status_code=http_status_for(error),
        )
    if isinstance(outcome, ChangeRequestView):
        return instance_page_with_request(request, visitor, instance_id, outcome)
    done = "saved" if outcome.committed else "unchanged"
    return RedirectResponse(instance_url(instance_id, f"?done={done}"), status_code=303)
