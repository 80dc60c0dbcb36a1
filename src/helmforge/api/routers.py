"""The REST API under ``/api/v1`` and the probes at the root."""

from __future__ import annotations

__all__ = ["API_PREFIX", "api_router", "probes_router"]

from fastapi import APIRouter, Depends

from helmforge.api import (
    access,
    accounts,
    argocd,
    audit_events,
    change_requests,
    charts,
    fleet,
    gitops,
    instance_operations,
    instances,
    jobs,
    passwords,
    probes,
    registries,
    templates,
)
from helmforge.api.dependencies import get_principal

API_PREFIX = "/api/v1"

# Authentication runs first, before any body is parsed: anonymous callers learn nothing more.
api_router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(get_principal)])
api_router.include_router(templates.router)
api_router.include_router(charts.router)
api_router.include_router(accounts.router)
api_router.include_router(audit_events.router)
api_router.include_router(registries.router)
api_router.include_router(passwords.router)
api_router.include_router(access.router)
api_router.include_router(change_requests.router)
api_router.include_router(gitops.router)
api_router.include_router(instances.router)
api_router.include_router(instance_operations.router)
api_router.include_router(argocd.router)
api_router.include_router(jobs.router)
api_router.include_router(fleet.router)

probes_router = probes.router
