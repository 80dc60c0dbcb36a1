"""The visitor's own account: change the password.

A visitor whose password was generated (the first admin) or set by an admin must change it
before anything else: ``SignedIn`` sends them here from every other page. An SSO user has no
password in helmforge: the page offers no form, and the service refuses a forged post.
"""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helmforge.core.access.single_sign_on import is_sso_user
from helmforge.core.errors import (
    AuthenticationError,
    InputError,
    PermissionDeniedError,
    http_status_for,
)
from helmforge.services import accounts
from helmforge.web.views import (
    ACCOUNT_PAGE,
    CheckedForm,
    SignedIn,
    form_text,
    render,
    render_failure,
    session_factory_of,
)

router = APIRouter(include_in_schema=False)


def _account_page(
    request: Request,
    visitor: SignedIn,
    *,
    errors: dict[str, str] | None = None,
    changed: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    flashes = []
    if changed:
        flashes.append(
            {
                "kind": "ok",
                "text": "Your password was changed; your other browsers were signed out.",
            }
        )
    return render(
        request,
        "account.html",
        status_code=status_code,
        section="account",
        title="Account",
        must_change=visitor.must_change_password,
        has_password=not is_sso_user(visitor.principal.name),
        min_length=accounts.MIN_PASSWORD_LENGTH,
        errors=errors or {},
        flashes=flashes,
    )


@router.get(ACCOUNT_PAGE, response_class=HTMLResponse)
def account_page(request: Request, visitor: SignedIn, changed: bool = False) -> Response:
    """The visitor's account and the change-password form."""
    return _account_page(request, visitor, changed=changed and not visitor.must_change_password)


@router.post(f"{ACCOUNT_PAGE}/password", response_class=HTMLResponse)
def change_password(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    """Change the visitor's password (the current one proves it is them)."""
    current = form_text(form, "current_password")
    new = form_text(form, "new_password")
    if new != form_text(form, "confirm_password"):
        errors = {"confirm_password": "The two new passwords differ; type the same one twice."}
        return _account_page(request, visitor, errors=errors, status_code=422)
    try:
        accounts.change_password(
            session_factory_of(request),
            actor=visitor.principal,
            current_password=current,
            new_password=new,
            keep_session=visitor.cookie,
        )
    except PermissionDeniedError as error:
        return render_failure(request, error, back_url=ACCOUNT_PAGE)
    except (AuthenticationError, InputError) as error:
        field = "current_password" if isinstance(error, AuthenticationError) else "new_password"
        message = error.message[:1].upper() + error.message[1:] + "."
        return _account_page(
            request, visitor, errors={field: message}, status_code=http_status_for(error)
        )
    return RedirectResponse(f"{ACCOUNT_PAGE}?changed=true", status_code=303)
