"""Help pages: the reference of the template format, linked from the template editor."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helmforge.web.views import SignedIn, render

router = APIRouter(include_in_schema=False)


@router.get("/help/template-format", response_class=HTMLResponse)
def template_format(request: Request, _visitor: SignedIn) -> Response:
    """What a template holds, key by key, with the placeholders and how layers apply."""
    return render(
        request, "help_template_format.html", section="templates", title="Template format"
    )
