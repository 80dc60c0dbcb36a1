"""Account pages: API tokens (created and shown once, revoked), users (admins), the audit log."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.access.principals import ROLES
from helmforge.core.access.single_sign_on import is_sso_user
from helmforge.core.errors import (
    ConflictError,
    HelmforgeError,
    InputError,
    PermissionDeniedError,
)
from helmforge.services import accounts, audit_trail, user_sign_outs
from helmforge.services.user_sign_outs import SignOut
from helmforge.web.audit_views import audit_row
from helmforge.web.paging import page_links, page_request
from helmforge.web.views import (
    CheckedForm,
    SignedIn,
    form_text,
    moment,
    render,
    render_error,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)
AUDIT_FILTERS = ("user", "action", "object")


def _tokens_page(
    request: Request, visitor: SignedIn, *, new_token: dict[str, str] | None = None
) -> HTMLResponse:
    tokens = accounts.list_tokens(
        session_factory_of(request), actor=visitor.principal, user=visitor.principal.name
    )
    rows = [
        {
            "id": token.id,
            "name": token.label or f"token {token.prefix}",
            "created_at": moment(token.created_at),
            "prefix": f"hf_{token.prefix}_…",
            "revoked": token.revoked_at is not None,
        }
        for token in tokens
    ]
    return render(
        request,
        "tokens.html",
        section="tokens",
        title="API tokens",
        tokens=rows,
        new_token=new_token,
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, visitor: SignedIn) -> Response:
    """The visitor's API tokens and a form to create one."""
    return _tokens_page(request, visitor)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Create a token and show its secret, this once."""
    label = form_text(form, "name").strip()
    try:
        created = accounts.create_token(
            session_factory_of(request),
            user=visitor.principal.name,
            label=label,
            actor=visitor.principal,
        )
    except HelmforgeError as error:
        return render_error(request, 422, error.message, back_url="/tokens")
    return _tokens_page(request, visitor, new_token={"name": label, "secret": created.token})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: int, visitor: SignedIn, _form: CheckedForm
) -> Response:
    """Revoke one of the visitor's tokens at once."""
    try:
        accounts.revoke_token(session_factory_of(request), token_id, actor=visitor.principal)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/tokens")
    return RedirectResponse("/tokens", status_code=303)


def _users_page(
    request: Request,
    visitor: SignedIn,
    *,
    problems: list[dict[str, object]] | None = None,
    form_name: str = "",
    form_role: str = "user",
    status_code: int = 200,
    new_password: dict[str, str | int | None] | None = None,
    signed_out: SignOut | None = None,
) -> Response:
    try:
        users = accounts.page_users(
            session_factory_of(request), actor=visitor.principal, page=page_request(request)
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message)
    rows = [
        {
            "name": user.name,
            "role": user.role,
            "created_at": moment(user.created_at),
            "is_visitor": user.name == visitor.principal.name,
            # An SSO user has no password here: signing them out is what applies.
            "sso": is_sso_user(user.name),
        }
        for user in users.items
    ]
    return render(
        request,
        "users.html",
        status_code=status_code,
        section="users",
        title="Users",
        users=rows,
        links=page_links(request, users),
        roles=ROLES,
        problems=problems or [],
        form_name=form_name,
        form_role=form_role,
        password_hint=(
            f"At least {accounts.MIN_PASSWORD_LENGTH} characters. Give it to them: they"
            " choose their own password when they first sign in."
        ),
        new_password=new_password,
        signed_out=signed_out,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, visitor: SignedIn) -> Response:
    """Every user and a form to create one (administrators only)."""
    return _users_page(request, visitor)


@router.post("/users", response_class=HTMLResponse)
def create_user(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Create a user; problems are shown above the form, which keeps what was typed."""
    name = form_text(form, "name").strip()
    role = form_text(form, "role", "user")
    try:
        accounts.create_user(
            session_factory_of(request),
            name,
            role=role,
            password=form_text(form, "password"),
            actor=visitor.principal,
            must_change_password=True,  # the administrator chose it, not the user
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message)
    except HelmforgeError as error:
        problems: list[dict[str, object]] = [
            {"line": None, "path": "", "message": part} for part in error.message.split("; ")
        ]
        return _users_page(
            request,
            visitor,
            problems=problems,
            form_name=name,
            form_role=role,
            status_code=409 if isinstance(error, ConflictError) else 422,
        )
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/reset-password", response_class=HTMLResponse)
def reset_password(request: Request, name: str, visitor: SignedIn, form: CheckedForm) -> Response:
    """An administrator gives user ``name`` a generated one-time password, shown this once;
    their web sessions end (and, with the box ticked, their API tokens are revoked) and they
    choose their own password at the next sign-in."""
    revoke_tokens = form_text(form, "revoke_tokens") == "on"
    if name == visitor.principal.name:
        return render_error(
            request, 422, "change your own password on the Account page", back_url="/account"
        )
    password = accounts.generate_password()
    try:
        revoked = accounts.set_password(
            session_factory_of(request),
            name,
            password=password,
            actor=visitor.principal,
            revoke_tokens=revoke_tokens,
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message)
    except InputError as error:  # an SSO user: no password here; the page offers Sign out
        return render_error(request, 422, error.message, back_url="/users")
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/users")
    return _users_page(
        request,
        visitor,
        new_password={
            "name": name,
            "secret": password,
            "tokens_revoked": revoked if revoke_tokens else None,
        },
    )


@router.post("/users/{name}/sign-out", response_class=HTMLResponse)
def sign_out_user(request: Request, name: str, visitor: SignedIn, form: CheckedForm) -> Response:
    """An administrator ends every web session of user ``name`` (and, with the box ticked,
    revokes their API tokens): for an SSO user, what applies instead of a password reset."""
    try:
        done = user_sign_outs.sign_out_user(
            session_factory_of(request),
            name,
            actor=visitor.principal,
            revoke_tokens=form_text(form, "revoke_tokens") == "on",
        )
    except PermissionDeniedError as error:
        return render_error(request, 403, error.message)
    except HelmforgeError as error:
        return render_error(request, 404, error.message, back_url="/users")
    return _users_page(request, visitor, signed_out=done)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, visitor: SignedIn) -> Response:
    """The audit trail, newest first, fifty a page (read-only); ``?q=`` searches it and
    ``?user=``, ``?action=``, ``?object=`` keep exactly that actor, action or object."""
    filters = {name: request.query_params.get(name, "")[:512] for name in AUDIT_FILTERS}
    events = audit_trail.page_events(
        session_factory_of(request),
        actor=visitor.principal,
        page=page_request(request),
        who=filters["user"],
        action=filters["action"],
        target=filters["object"],
    )
    rows = [audit_row(event, at=moment(event.at)) for event in events.items]
    return render(
        request,
        "audit.html",
        section="audit",
        title="Audit log",
        events=rows,
        filters=filters,
        links=page_links(request, events, keep=filters),
    )
