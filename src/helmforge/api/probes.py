"""Unauthenticated probes: ``/healthz`` (the process answers), ``/readyz`` (the database
answers), ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

__all__ = ["router"]

import os

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from helmforge.api.dependencies import SessionsDep

router = APIRouter(tags=["probes"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database does not answer"}})
def readyz(sessions: SessionsDep) -> JSONResponse:
    """The database answers a query."""
    try:
        with sessions() as session:
            session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        return JSONResponse(
            {"status": "unavailable", "reason": type(error).__name__}, status_code=503
        )
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Request counters and latency histograms in the Prometheus text format: of the whole
    server, whichever worker answers (``serve --workers N`` gives its workers one
    PROMETHEUS_MULTIPROC_DIR, where each keeps its counts)."""
    registry = request.app.state.metrics.registry
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
