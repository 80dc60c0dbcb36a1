"""``/api/v1/audit``: the append-only audit trail (read only; there is no way to change it).

Paged newest first: ``limit`` (1-1000, default 100) events per page, and ``before_id`` (the
smallest id of the page before) for the next one. A full page carries
``Link: <...?before_id=N&limit=L...>; rel="next"``; the body stays a plain list, as before.
Long texts in ``before``/``after`` (template documents) are recorded as a digest and a bounded
diff (``helmforge.services.audit.bounded_states``), so a page stays small.
"""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Query, Request, Response

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.schemas import AuditEventPublic
from helmforge.services import audit_trail

router = APIRouter(tags=["audit"])


@router.get("/audit")
def list_events(
    *,
    request: Request,
    response: Response,
    sessions: SessionsDep,
    actor: PrincipalDep,
    action: str | None = Query(default=None, max_length=64),
    target: str | None = Query(default=None, max_length=300),
    limit: int = Query(default=100, ge=1, le=1000),
    before_id: int | None = Query(default=None, ge=0, le=2**62),
) -> list[AuditEventPublic]:
    """Audit events, newest first; page with ``before_id`` (a full page links the next one in
    its ``Link`` header)."""
    events = audit_trail.list_events(
        sessions, actor=actor, action=action, target=target, limit=limit, before_id=before_id
    )
    if len(events) == limit:
        following = request.url.include_query_params(before_id=events[-1].id, limit=limit)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return [AuditEventPublic.model_validate(event) for event in events]
