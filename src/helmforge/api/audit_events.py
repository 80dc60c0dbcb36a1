"""``/api/v1/audit``: the append-only audit trail (read only; there is no way to change it)."""

from __future__ import annotations

__all__ = ["router"]

from fastapi import APIRouter, Query

from helmforge.api.dependencies import PrincipalDep, SessionsDep
from helmforge.api.schemas import AuditEventPublic
from helmforge.services import audit

router = APIRouter(tags=["audit"])


@router.get("/audit")
def list_events(
    *,
    sessions: SessionsDep,
    actor: PrincipalDep,
    action: str | None = Query(default=None, max_length=64),
    target: str | None = Query(default=None, max_length=300),
    limit: int = Query(default=100, ge=1, le=1000),
    before_id: int | None = Query(default=None, ge=0, le=2**62),
) -> list[AuditEventPublic]:
    """Audit events, newest first; page with ``before_id``."""
    events = audit.list_events(
        sessions, actor=actor, action=action, target=target, limit=limit, before_id=before_id
    )
    return [AuditEventPublic.model_validate(event) for event in events]
