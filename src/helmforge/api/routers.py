"""The REST API under ``/api/v1`` and the probes at the root."""

from __future__ import annotations

__all__ = ["API_PREFIX", "api_router", "probes_router"]

from fastapi import APIRouter

from helmforge.api import accounts, audit_events, charts, probes, templates

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(templates.router)
api_router.include_router(charts.router)
api_router.include_router(accounts.router)
api_router.include_router(audit_events.router)

probes_router = probes.router
