"""Access pages (DESIGN §9): "My access" for everyone, "Access" for administrators (bindings,
the policy CSV) and the change-request inbox (list, detail, approve / reject / break-glass, and
the requester's edit of a pending proposal).

Every page and button is offered from the services' own decisions (``access.allowed``,
``change_requests.offered_decisions``) and every post goes through the same services, so a
forged form is refused there (403 page) exactly as the REST API refuses it.
"""

from __future__ import annotations

__all__ = ["router"]

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.access.policy import BUILT_IN_ROLES
from helmforge.core.errors import (
    HelmforgeError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    http_status_for,
)
from helmforge.core.yaml_codec import dump_yaml, load_single
from helmforge.services import access, accounts, change_requests, instances
from helmforge.services.change_requests import ChangeRequestView
from helmforge.web.instance_pages import diff_lines, instance_url
from helmforge.web.paging import page_links, page_request
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    app_state,
    form_text,
    moment,
    render,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)
_STATES = ("pending", "applied", "rejected", "stale", "failed")
#: What a change request asks for, in words (its kind stays shown beside them, as a filter key).
_CHANGE_WORDS = {
    "chart.publish": "publish a chart",
    "template.publish": "publish a template",
    "instance.create": "create an instance",
    "instance.upgrade": "upgrade an instance",
    "instance.rollback": "roll back an instance",
    "instance.promote": "promote an instance",
    "values.update": "change an instance's values",
}


def change_words(kind: str) -> str:
    """What a change request of ``kind`` asks for, in words (the kind itself if unknown)."""
    return _CHANGE_WORDS.get(kind, kind)


def _binding_rows(views: list[access.BindingView]) -> list[dict[str, object]]:
    return [
        {
            "id": view.id,
            "subject": view.subject,
            "role": view.role,
            "scope": view.scope,
            "created_by": view.created_by,
            "created_at": moment(view.created_at),
        }
        for view in views
    ]


@router.get("/my-access", response_class=HTMLResponse)
def my_access(request: Request, visitor: SignedIn) -> Response:
    """What ``GET /api/v1/me`` says: the visitor's subjects, bindings and permissions."""
    sessions = session_factory_of(request)
    principal = visitor.principal
    subjects = [f"user:{principal.name}", *(f"group:{group}" for group in principal.groups)]
    return render(
        request,
        "my_access.html",
        section="my-access",
        title="My access",
        subjects=subjects,
        bindings=_binding_rows(access.bindings_of(sessions, actor=principal)),
        permissions=access.permissions_of(sessions, principal),
    )


def _access_page(
    request: Request,
    visitor: SignedIn,
    *,
    status_code: int = 200,
    problem: str = "",
    form: dict[str, str] | None = None,
    policy_text: str | None = None,
) -> Response:
    sessions = session_factory_of(request)
    try:
        bindings = access.list_bindings(sessions, actor=visitor.principal)
        users = accounts.list_users(sessions, actor=visitor.principal)
        exported = access.export_policy(sessions, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error)
    rows = _binding_rows(bindings)
    by_user = {
        user.name: [row for row in rows if row["subject"] == f"user:{user.name}"] for user in users
    }
    groups = [row for row in rows if str(row["subject"]).startswith("group:")]
    configuration = access.configuration(sessions)
    return render(
        request,
        "access.html",
        status_code=status_code,
        section="access",
        title="Access",
        users=by_user,
        groups=groups,
        roles=sorted(BUILT_IN_ROLES),
        # The scope examples name the configured environments (HELMFORGE_ENVIRONMENTS).
        environments=app_state(request).settings.environments,
        development=sorted(configuration.development_environments),
        problem=problem,
        form=form or {"subject": "", "role": "operator", "scope": "*/*/*/*"},
        policy_text=exported if policy_text is None else policy_text,
    )


@router.get("/access", response_class=HTMLResponse)
def access_page(request: Request, visitor: SignedIn) -> Response:
    """Users and groups with their bindings, forms to add and remove, the policy CSV."""
    return _access_page(request, visitor)


@router.post("/access/bindings", response_class=HTMLResponse)
def add_binding(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Add a binding; a refused one shows why above the form, which keeps what was typed."""
    fields = {name: form_text(form, name).strip() for name in ("subject", "role", "scope")}
    try:
        access.add_binding(
            session_factory_of(request),
            subject=fields["subject"],
            role=fields["role"],
            scope=fields["scope"],
            actor=visitor.principal,
        )
    except HelmforgeError as error:
        if isinstance(error, PermissionDeniedError):
            return render_failure(request, error)
        return _access_page(request, visitor, status_code=422, problem=error.message, form=fields)
    return RedirectResponse("/access", status_code=303)


@router.post("/access/bindings/{binding_id}/remove", response_class=HTMLResponse)
def remove_binding(
    request: Request, binding_id: int, visitor: SignedIn, _form: CheckedForm
) -> Response:
    """Remove one binding."""
    try:
        access.remove_binding(session_factory_of(request), binding_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/access")
    return RedirectResponse("/access", status_code=303)


@router.post("/access/policy", response_class=HTMLResponse)
def import_policy(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Replace the whole policy with the posted CSV (nothing changes when a line is bad)."""
    text = form_text(form, "policy")
    try:
        access.import_policy(session_factory_of(request), text, actor=visitor.principal)
    except HelmforgeError as error:
        if isinstance(error, PermissionDeniedError):
            return render_failure(request, error)
        return _access_page(
            request, visitor, status_code=422, problem=error.message, policy_text=text
        )
    return RedirectResponse("/access", status_code=303)


# --- change requests -------------------------------------------------------------------------


@router.get("/changes", response_class=HTMLResponse)
def changes_list(request: Request, visitor: SignedIn, state: str = "pending") -> Response:
    """The change requests the visitor may see, newest first, fifty a page (``state=all`` for
    every one)."""
    chosen = None if state == "all" else state
    try:
        found = change_requests.page_requests(
            session_factory_of(request),
            actor=visitor.principal,
            page=page_request(request),
            state=chosen,
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/changes")
    return render(
        request,
        "changes_list.html",
        section="changes",
        title="Change requests",
        requests=[
            {
                "id": view.id,
                "kind": view.kind,
                "kind_words": change_words(view.kind),
                "target": view.target,
                "requester": view.requester,
                "state": view.state,
                "approvals": f"{len(view.approvals)} of {view.required}",
                "created_at": moment(view.created_at),
            }
            for view in found.items
        ],
        states=_STATES,
        state=state,
        links=page_links(request, found, keep={"state": state}),
    )


def _review(request: Request, visitor: SignedIn, view: ChangeRequestView) -> dict[str, Any] | None:
    """What the page shows of a pending instance change as approving it would apply it now:
    the three diffs (``instances.review_request``), whether the instance moved since."""
    review = instances.review_request(
        session_factory_of(request),
        view,
        actor=visitor.principal,
        workspace=app_state(request).git_workspace,
    )
    if review is None:
        return None
    preview = review.preview
    return {
        "moved": review.moved,
        "revision": review.revision,
        "note": review.note,
        "creates": review.creates,
        "instance_url": instance_url(str(view.payload.get("instance", view.target))),
        "diffs": {
            "values": diff_lines(preview.values_diff),
            "effective": diff_lines(preview.effective_diff),
            "manifests": diff_lines(preview.manifests_diff),
        }
        if preview
        else None,
        "manifests_error": preview.manifests_error if preview else None,
        "errors": [{"path": e.path, "message": e.message} for e in preview.errors]
        if preview
        else [],
    }


def _change_page(
    request: Request,
    visitor: SignedIn,
    request_id: int,
    *,
    edit_text: str | None = None,
    edit_problem: str = "",
    edited: bool = False,
    status_code: int = 200,
) -> Response:
    sessions = session_factory_of(request)
    try:
        view = change_requests.get_request(sessions, request_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_failure(request, error, back_url="/changes")
    flashes = []
    if edited:
        flashes.append(
            {"kind": "ok", "text": "The request holds your edited proposal; approvals start over."}
        )
    return render(
        request,
        "change_detail.html",
        status_code=status_code,
        section="changes",
        title=f"Change request {view.id}",
        change=view,
        change_words=change_words(view.kind),
        review=_review(request, visitor, view),
        created_at=moment(view.created_at),
        updated_at=moment(view.updated_at),
        offered=change_requests.offered_decisions(sessions, view, actor=visitor.principal),
        is_requester=view.requester == visitor.principal.name,
        edit_text=dump_yaml(view.payload) if edit_text is None else edit_text,
        edit_problem=edit_problem,
        flashes=flashes,
    )


@router.get("/changes/{request_id}", response_class=HTMLResponse)
def change_detail(
    request: Request, request_id: int, visitor: SignedIn, edited: bool = False
) -> Response:
    """One change request: its diff, who asked, who approved, and what the visitor may do."""
    return _change_page(request, visitor, request_id, edited=edited)


def _proposal_of(text: str) -> dict[str, object]:
    if not text.strip():
        raise InputError("the proposal is empty: give the change's fields as the form showed them")
    data = load_single(text, source="proposal").data
    if not isinstance(data, dict):
        raise InputError(
            "the proposal must be a mapping of the change's fields (as the form showed them), "
            f"not {type(data).__name__}"
        )
    return {str(key): value for key, value in data.items()}


@router.post("/changes/{request_id}/edit", response_class=HTMLResponse)
async def edit_change(
    request: Request, request_id: int, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Replace a pending request's proposal (its requester or an earlier editor): approvals so
    far are void and the editor can never approve it; it cannot move to another target."""
    text = form_text(form, "payload")
    context = app_state(request).change_context()
    try:
        payload = _proposal_of(text)
        await anyio.to_thread.run_sync(
            lambda: change_requests.edit(
                session_factory_of(request),
                request_id,
                payload=payload,
                actor=visitor.principal,
                context=context,
            )
        )
    except NotFoundError as error:
        return render_failure(request, error, back_url="/changes")
    except PermissionDeniedError as error:
        return render_failure(request, error, back_url=f"/changes/{request_id}")
    except HelmforgeError as error:
        return _change_page(
            request,
            visitor,
            request_id,
            edit_text=text,
            edit_problem=error.message,
            status_code=http_status_for(error),
        )
    return RedirectResponse(f"/changes/{request_id}?edited=true", status_code=303)


def _confirmation(request_id: int) -> str:
    return f"break glass {request_id}"


@router.post("/changes/{request_id}/approve", response_class=HTMLResponse)
async def approve_change(
    request: Request, request_id: int, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Approve (``break_glass=on``: the administrators' emergency path, which must be typed)."""
    break_glass = form_text(form, "break_glass") == "on"
    back = f"/changes/{request_id}"
    if break_glass and form_text(form, "confirm").strip() != _confirmation(request_id):
        return render_failure(
            request,
            _typed_confirmation_missing(request_id),
            back_url=back,
        )
    state = app_state(request)
    context = state.change_context()
    comment = form_text(form, "comment")
    try:
        await anyio.to_thread.run_sync(
            lambda: change_requests.approve(
                session_factory_of(request),
                request_id,
                actor=visitor.principal,
                comment=comment,
                break_glass=break_glass,
                context=context,
            )
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url=back)
    return RedirectResponse(back, status_code=303)


def _typed_confirmation_missing(request_id: int) -> HelmforgeError:
    return InputError(
        f"break-glass needs the typed confirmation '{_confirmation(request_id)}'; nothing "
        "was applied"
    )


@router.post("/changes/{request_id}/reject", response_class=HTMLResponse)
def reject_change(
    request: Request, request_id: int, visitor: SignedIn, form: CheckedForm
) -> Response:
    """Reject (or, as its requester, withdraw) a pending change request."""
    back = f"/changes/{request_id}"
    try:
        change_requests.reject(
            session_factory_of(request),
            request_id,
            actor=visitor.principal,
            comment=form_text(form, "comment"),
        )
    except HelmforgeError as error:
        return render_failure(request, error, back_url=back)
    return RedirectResponse(back, status_code=303)
