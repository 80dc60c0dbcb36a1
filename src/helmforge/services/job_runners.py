"""Job workers (DESIGN §10): the threads that run jobs beside the rest of a process.

``start_worker`` starts this process's worker: procrastinate's on PostgreSQL
(``adapters.jobs``: every process on the database shares the queue; the job of a worker whose
heartbeats stopped is deferred again), the in-process runner on SQLite (claims queued rows
itself; at its start, queues again the rows left running by processes of this machine that no
longer exist). Both run ``services.jobs.execute`` and a periodic ``tick`` (scheduled work), and
on ``stop()`` hand the running job over at its next checkpoint.
"""

from __future__ import annotations

__all__ = ["TICK_SECONDS", "JobWorker", "start_worker"]

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.core.errors import HelmforgeError
from helmforge.services.jobs import (
    QUEUED,
    RUNNING,
    JobResources,
    database_url_of,
    execute,
    is_postgresql,
    queue_for,
    waker,
)

_log = logging.getLogger("helmforge.jobs")

#: How often an idle in-process runner looks for jobs other processes queued.
_LOCAL_POLL_SECONDS = 2.0
#: How often a worker runs its periodic work (the scheduled verification's check).
TICK_SECONDS = 30.0


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive_here(owner: str | None) -> bool:
    """Whether ``owner`` (``host:pid``) is a process of this machine that still runs."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return host != socket.gethostname()  # another machine's: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _requeue_orphans(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        rows = session.scalars(sa.select(JobRow).where(JobRow.state == RUNNING)).all()
        orphans = [row for row in rows if not _alive_here(row.owner)]
        for row in orphans:
            _log.warning("job %s of dead process %s is queued again", row.id, row.owner)
            row.state = QUEUED
            row.owner = None
        return len(orphans)


def _claim_next(sessions: sessionmaker[Session]) -> str | None:
    with sessions.begin() as session:
        job_id = session.scalar(
            sa.select(JobRow.id)
            .where(JobRow.state == QUEUED)
            .order_by(JobRow.created_at, JobRow.id)
            .limit(1)
        )
        if job_id is None:
            return None
        taken = session.execute(
            sa.update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == QUEUED)
            .values(state=RUNNING, owner=_owner(), updated_at=datetime.now(UTC))
        ).rowcount  # type: ignore[attr-defined]
        return job_id if taken else None


class JobWorker:
    """A worker running on its own thread beside whatever else the process does."""

    def __init__(
        self,
        target: Callable[[threading.Event, threading.Event], None],
        *,
        wake: threading.Event | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.ready = threading.Event()
        self._stop = stop or threading.Event()
        self._wake = wake
        self._thread = threading.Thread(
            target=target, args=(self.ready, self._stop), name="helmforge-jobs", daemon=True
        )

    def start(self) -> JobWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to stop: the job it runs is queued again at its next checkpoint
        (another worker resumes it); wait up to ``timeout`` seconds for that."""
        self._stop.set()
        if self._wake is not None:
            self._wake.set()
        self._thread.join(timeout)

    def join(self) -> None:
        self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the worker's thread still runs (a stopped one has returned)."""
        return self._thread.is_alive()

    @property
    def stopping(self) -> threading.Event:
        return self._stop


def _guarded(tick: Callable[[], None]) -> Callable[[], None]:
    """``tick`` whose failure is logged, not fatal: the worker goes on running jobs."""

    def run() -> None:
        try:
            tick()
        except (HelmforgeError, SQLAlchemyError):
            _log.exception("the job worker's periodic work failed; it is tried again later")

    return run


def _local_loop(
    sessions: sessionmaker[Session],
    resources: JobResources,
    ready: threading.Event,
    stop: threading.Event,
    *,
    on_job_end: Callable[[str], None],
    tick: Callable[[], None],
) -> None:
    wake = waker(database_url_of(sessions))
    _requeue_orphans(sessions)
    ready.set()
    ticked: float | None = None
    while not stop.is_set():
        wake.clear()
        if ticked is None or time.monotonic() - ticked >= TICK_SECONDS:
            ticked = time.monotonic()
            tick()
        job_id = _claim_next(sessions)
        if job_id is None:
            wake.wait(_LOCAL_POLL_SECONDS)
            continue
        try:
            execute(sessions, job_id, resources=resources, owner=_owner(), stopping=stop)
        except HelmforgeError:
            _log.exception("job %s could not be recorded", job_id)
        on_job_end(job_id)


def start_worker(
    sessions: sessionmaker[Session],
    resources: JobResources,
    *,
    concurrency: int = 1,
    stalled_seconds: float = 30.0,
    on_job_end: Callable[[str], None] = lambda _job_id: None,
    tick: Callable[[], None] = lambda: None,
) -> JobWorker:
    """Start this process's job worker on a thread: procrastinate's on PostgreSQL, the
    in-process runner on SQLite. ``on_job_end`` hears each job id this worker ran (to its
    end, or to its cancellation); ``tick`` runs at the start and about every
    ``TICK_SECONDS`` (scheduled work: it must be safe to run in every process at once; a
    failure is logged). ``stop()`` it at shutdown."""
    tick = _guarded(tick)
    stopping = threading.Event()
    if is_postgresql(sessions):

        def run(job_id: str) -> None:
            try:
                execute(sessions, job_id, resources=resources, owner=_owner(), stopping=stopping)
            finally:
                on_job_end(job_id)

        queue = queue_for(sessions, run)

        def serve(ready: threading.Event, stop: threading.Event) -> None:
            try:
                queue.serve(
                    name=_owner(),
                    concurrency=concurrency,
                    stalled_seconds=stalled_seconds,
                    ready=ready,
                    stop=stop,
                    tick=tick,
                    tick_seconds=TICK_SECONDS,
                )
            except HelmforgeError:
                _log.exception("the job worker stopped")
                ready.set()

        return JobWorker(serve, stop=stopping).start()
    return JobWorker(
        lambda ready, stop: _local_loop(
            sessions, resources, ready, stop, on_job_end=on_job_end, tick=tick
        ),
        wake=waker(database_url_of(sessions)),
        stop=stopping,
    ).start()
