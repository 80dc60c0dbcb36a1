"""The ASGI application: the REST API and the web UI over one store.

``create_app(settings)`` opens (creating and migrating) the database, creates the first admin
when there is no user (its generated password goes to ``announce``, stdout by default; the
admin must change it at first sign-in), seeds the example template, and composes the API
routers and, when present, the web UI.

Everything the routes share is one frozen ``services.app_state.AppState`` (settings, engine,
sessions, the registry secret key, the metrics registry, and the web UI's session resolver,
which ``helmforge.web.pages.mount(app)`` returns so that API calls also accept the session
cookie), stored once on the application; ``state_of(app)`` reads it back.
"""

from __future__ import annotations

__all__ = ["create_app", "create_worker_app", "print_first_admin", "state_of"]

import contextlib
import gc
import importlib.util
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import anyio.to_thread
from fastapi import FastAPI, Request

from helmforge import __version__
from helmforge.api.errors import install_error_handlers
from helmforge.api.middlewares import (
    BodyLimitMiddleware,
    ClientAddressMiddleware,
    HttpMetrics,
    ObservationMiddleware,
)
from helmforge.api.routers import api_router, probes_router
from helmforge.core.errors import HelmforgeError
from helmforge.server.log_formats import configure_logging
from helmforge.services.app_state import STATE_ATTRIBUTE, AppState, SessionResolver
from helmforge.services.fleet_verification import DriftCollector
from helmforge.services.job_runners import JobWorker, start_worker
from helmforge.services.job_workers import scheduled_work
from helmforge.services.jobs import JobResources
from helmforge.services.registries import secret_key_for
from helmforge.services.settings import Settings, load_settings
from helmforge.services.single_sign_on import SingleSignOn
from helmforge.services.stores import connect_store, open_store, prepare_store

_log = logging.getLogger("helmforge.server")
#: How long a stopping server waits for its job worker to hand its job over.
_JOB_STOP_SECONDS = 30.0


def print_first_admin(password: str) -> None:
    """Print the generated first admin password to stdout (the only time it is shown)."""
    # Shown once, on purpose, to whoever started the server.
    print(
        "helmforge: created the first user 'admin' with the generated password\n"
        f"    {password}\n"
        "sign in as admin: you will be asked to choose your own password before anything else\n"
        "(or reset it later with `helmforge users set-password admin`).",
        flush=True,
    )


def create_app(
    settings: Settings,
    *,
    announce: Callable[[str], None] = print_first_admin,
    with_web: bool = True,
    prepared: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the application for ``settings``; raises ``InputError`` or
    ``ExternalServiceError`` when the database cannot be opened or migrated.

    ``with_web=False`` leaves the web UI out (API-only tests and benchmarks).
    ``prepared=True`` only connects: another process migrated and prepared the store.
    ``clock`` (aware UTC datetimes; tests inject one) times the web sessions.
    """
    configure_logging(settings.log_format)
    secret_key = secret_key_for(settings)  # a bad key fails the start, not a publish
    if prepared:
        store = connect_store(settings)
    else:
        store = open_store(settings)
        password = prepare_store(store, seed_examples=settings.seed_examples)
        if password is not None:
            announce(password)

    @contextlib.asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        # Sync routes run on this limiter's threads; a few threads queue requests fairly
        # instead of letting dozens fight over the interpreter lock.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        # What startup loaded (schema sets, the parsed example) lives as long as the process:
        # keep it out of the collector's full passes.
        gc.collect()
        gc.freeze()
        # A request allocates tens of thousands of short-lived objects and makes almost no
        # cycles: collect the youngest generation every 50,000 allocations instead of 2,000
        # (about a twentieth of the server's CPU under load, for a few MB).
        gc.set_threshold(50_000, 20, 20)
        worker = _start_jobs(state_of(running)) if settings.jobs_worker else None
        try:
            yield
        finally:
            if worker is not None:
                # A running job is queued again at its next checkpoint; past this bound the
                # process ends anyway and the job is resumed as a dead worker's would be.
                await anyio.to_thread.run_sync(lambda: worker.stop(_JOB_STOP_SECONDS))
            store.engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="helmforge",
        version=__version__,
        description="Governed Helm charts: templates and contexts in, reproducible charts out.",
    )
    metrics = HttpMetrics()
    install_error_handlers(app)
    app.include_router(probes_router)
    app.include_router(api_router)
    resolver: SessionResolver[Request] | None = None
    if with_web and importlib.util.find_spec("helmforge.web.pages") is not None:
        from helmforge.web import pages

        resolver = pages.mount(app)
    state: AppState[Request] = AppState(
        settings=settings,
        engine=store.engine,
        sessions=store.sessions,
        registry_secret_key=secret_key,
        metrics=metrics.registry,
        session_resolver=resolver,
        single_sign_on=SingleSignOn(settings.oidc) if settings.oidc else None,
        **({"clock": clock} if clock is not None else {}),
    )
    metrics.registry.register(DriftCollector(store.sessions))
    setattr(app.state, STATE_ATTRIBUTE, state)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservationMiddleware, metrics=metrics)
    # Outermost: logs, metrics and sign-in throttling all see the settled client address.
    app.add_middleware(ClientAddressMiddleware, trusted_proxies=settings.trusted_proxies)
    return app


def _start_jobs(state: AppState[Request]) -> JobWorker | None:
    """This process's fleet-job worker (DESIGN §10): it shares the queue with every other
    process on the database, and resumes the jobs of processes that died. A worker that
    cannot start (the queue's schema refused, say) is logged and the server serves without
    it: its jobs wait for another worker."""
    settings = state.settings
    resources = JobResources(
        workspace=state.git_workspace, registry_deadline=float(settings.registry_deadline)
    )
    try:
        return start_worker(
            state.sessions,
            resources,
            concurrency=settings.jobs_concurrency,
            stalled_seconds=settings.jobs_stalled_seconds,
            tick=scheduled_work(state.sessions, settings),
        )
    except HelmforgeError as error:
        _log.error("this server runs no job worker: %s", error)
        return None


def state_of(app: FastAPI) -> AppState[Request]:
    """The ``AppState`` that ``create_app`` stored on ``app``."""
    state: AppState[Request] = getattr(app.state, STATE_ATTRIBUTE)
    return state


def create_worker_app() -> FastAPI:
    """uvicorn's factory for each worker process of ``helmforge serve --workers N``: the
    HELMFORGE_* settings of the environment, on a store the starting process has prepared."""
    return create_app(load_settings(os.environ), prepared=True)
