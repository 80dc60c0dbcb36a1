"""A process that only runs jobs (``helmforge jobs worker``): beside the servers, or instead
of their own workers (HELMFORGE_JOBS_WORKER=false on them)."""

from __future__ import annotations

__all__ = ["run_job_worker", "scheduled_work"]

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from helmforge.services import fleet_verification
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.job_runners import start_worker
from helmforge.services.jobs import JobResources
from helmforge.services.registries import secret_key_for
from helmforge.services.settings import Settings
from helmforge.services.stores import open_store


def scheduled_work(sessions: sessionmaker[Session], settings: Settings) -> Callable[[], None]:
    """What every job worker does now and then: queue the scheduled verification of the
    fleet when it is due (``HELMFORGE_VERIFY_INTERVAL``)."""

    def tick() -> None:
        fleet_verification.schedule_if_due(
            sessions, now=datetime.now(UTC), interval=settings.verify_interval
        )

    return tick


def run_job_worker(
    settings: Settings, *, stop: threading.Event, announce: Callable[[str], None]
) -> None:
    """Open (and migrate) the store of ``settings`` and run its job worker until ``stop`` is
    set; the job it runs then is finished first (a process killed before that leaves it to
    the next worker, which resumes it). ``announce`` hears when it is ready."""
    store = open_store(settings)
    resources = JobResources(
        workspace=GitWorkspace.from_settings(settings, secret_key_for(settings)),
        registry_deadline=float(settings.registry_deadline),
    )
    worker = start_worker(
        store.sessions,
        resources,
        concurrency=settings.jobs_concurrency,
        stalled_seconds=settings.jobs_stalled_seconds,
        tick=scheduled_work(store.sessions, settings),
    )
    try:
        worker.ready.wait()
        engine = "procrastinate" if store.engine.dialect.name == "postgresql" else "in-process"
        announce(f"job worker ready ({engine} on {store.engine.dialect.name})")
        stop.wait()
    finally:
        worker.stop()
        store.engine.dispose()
