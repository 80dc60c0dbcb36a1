"""Unauthenticated probes: ``/healthz`` (the process answers), ``/readyz`` (the database
answers), ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

__all__ = ["router"]

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from helmforge.api.dependencies import AppStateDep
from helmforge.services.fleet_verification import DriftCollector
from helmforge.services.stores import database_problem

router = APIRouter(tags=["probes"])

READINESS_BOUND = 5.0
"""Seconds /readyz waits for the database before answering 503."""
# One thread: a database that hangs holds it, and later probes time out behind it rather
# than piling up threads.
_readiness = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive. Answered on the event loop: it never waits for a request thread,
    so it answers while every thread is busy (a registry that hangs, a slow build)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database does not answer"}})
async def readyz(state: AppStateDep) -> JSONResponse:
    """The database answers a query within a few seconds. The query runs on a thread of its
    own, not on the request threads, so readiness does not wait behind requests."""
    check = asyncio.get_running_loop().run_in_executor(_readiness, database_problem, state.sessions)
    try:
        problem = await asyncio.wait_for(check, timeout=READINESS_BOUND)
    except TimeoutError:
        problem = "Timeout"
    if problem is not None:
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: AppStateDep) -> Response:
    """Request counters and latency histograms in the Prometheus text format: of the whole
    server, whichever worker answers (``serve --workers N`` gives its workers one
    PROMETHEUS_MULTIPROC_DIR, where each keeps its counts). On the event loop, like the
    probes, so a scrape still answers while every request thread is busy; reading the
    workers' small count files there costs less than the hop to a thread."""
    registry = state.metrics
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        registry.register(DriftCollector(state.sessions))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
