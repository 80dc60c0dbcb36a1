"""The job queue on PostgreSQL: procrastinate (its tables live in helmforge's database).

helmforge keeps the truth about a job in its own ``jobs`` table; procrastinate only carries
"run job ID" messages between the processes that share the database, hands each to exactly
one worker, and notices workers that died: a job whose worker stopped sending heartbeats is
deferred again (``recover_stalled``), so another worker resumes it from its checkpoint.

One task, ``helmforge.run_job(job_id)``; the callable given to ``JobQueue`` does the work.
procrastinate's schema (its ``procrastinate_*`` types, tables and functions) is installed in
the database by ``helmforge migrate``, else at the queue's first use (``ensure_schema``: once a
process, under an advisory lock).
Errors of procrastinate and of the database become ``ExternalServiceError``.
"""

from __future__ import annotations

__all__ = ["JobQueue", "libpq_conninfo", "queue_schema"]

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate import exceptions as procrastinate_errors
from procrastinate.jobs import JobDeferrer, Status
from procrastinate.schema import SchemaManager

from helmforge.core.errors import ExternalServiceError

_log = logging.getLogger("helmforge.jobs")

# An arbitrary constant naming the schema installation among PostgreSQL advisory locks.
_SCHEMA_LOCK_KEY = 0x68666A62
TASK_NAME = "helmforge.run_job"
QUEUE = "helmforge"


def queue_schema() -> str:
    """procrastinate's schema (types, tables, functions) as one SQL script."""
    return str(SchemaManager.get_schema())


def libpq_conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (password kept)."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class JobQueue:
    """procrastinate on the database at ``database_url``; ``run`` executes one job by id."""

    def __init__(self, database_url: str, run: Callable[[str], None]) -> None:
        self._conninfo = libpq_conninfo(database_url)
        self._run = run
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=self._conninfo)
        )

        def run_job(job_id: str) -> None:
            self._run(job_id)

        self.app.task(name=TASK_NAME, queue=QUEUE, pass_context=False)(run_job)

    def ensure_schema(self) -> None:
        """Install procrastinate's schema unless the database has it (idempotent, safe
        across processes); ``ExternalServiceError`` when the database refuses."""
        try:
            with psycopg.connect(self._conninfo) as connection, connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                present = connection.execute(
                    "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
                ).fetchone()
                if not (present and present[0]):
                    connection.execute(queue_schema())
        except psycopg.Error as error:
            raise ExternalServiceError(
                f"the job queue's schema could not be installed: {type(error).__name__}"
            ) from error

    def _deferrer(self, job_id: str, driver: object = None) -> JobDeferrer:
        return self.app.configure_task(
            TASK_NAME, queue=QUEUE, queueing_lock=job_id, connection=driver
        )

    def defer(self, job_id: str, *, connection: sa.Connection | None = None) -> None:
        """Queue "run job ``job_id``" for any worker; ``ExternalServiceError`` on failure.

        The job id is the message's queueing lock: while a message for the job waits in the
        queue, another is not added (the one waiting runs it). With ``connection`` (a
        SQLAlchemy connection to the same database, in a transaction) the message is written
        in that transaction, under a savepoint: it exists exactly when the caller's rows do."""
        try:
            if connection is None:
                with self.app.open():
                    self._deferrer(job_id).defer(job_id=job_id)
            else:
                with connection.begin_nested():
                    driver = connection.connection.driver_connection
                    self._deferrer(job_id, driver).defer(job_id=job_id)
        except procrastinate_errors.AlreadyEnqueued:
            _log.info("job queue: job %s already waits in the queue", job_id)
        except (
            procrastinate_errors.ProcrastinateException,
            psycopg.Error,
            sa.exc.SQLAlchemyError,
            OSError,
        ) as error:
            raise ExternalServiceError(
                f"the job queue did not take job {job_id}: {type(error).__name__}"
            ) from error

    async def recover_stalled(self, *, seconds_since_heartbeat: float) -> int:
        """Defer again every running helmforge job whose worker sent no heartbeat for
        ``seconds_since_heartbeat`` seconds (it died); how many were."""
        manager = self.app.job_manager
        stalled = list(
            await manager.get_stalled_jobs(
                task_name=TASK_NAME, seconds_since_heartbeat=seconds_since_heartbeat
            )
        )
        for job in stalled:
            _log.warning("job queue: job %s of a dead worker is run again", job.id)
            try:
                await manager.retry_job(job)
            except procrastinate_errors.UniqueViolation:
                # Its queueing lock: a message for the same helmforge job waits already (the
                # dead worker handed the job over first), and that one runs it.
                _log.info("job queue: job %s waits in the queue already", job.id)
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        return len(stalled)

    async def _work(
        self,
        *,
        name: str,
        concurrency: int,
        stalled_seconds: float,
        ready: threading.Event,
        tick: Callable[[], None],
        tick_seconds: float,
    ) -> None:
        # Opened here, closed by ``serve`` on this loop whatever ends this (see there).
        await self.app.open_async()
        await self.recover_stalled(seconds_since_heartbeat=stalled_seconds)
        await asyncio.to_thread(tick)
        worker = asyncio.ensure_future(
            self.app.run_worker_async(
                name=name,
                queues=[QUEUE],
                concurrency=concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=max(1.0, min(10.0, stalled_seconds / 3 or 1.0)),
                stalled_worker_timeout=max(stalled_seconds, 1.0),
            )
        )
        ready.set()
        try:
            # With 0 (tests), only the start recovers: later, this worker's own running
            # job would look stalled too.
            pause = min(max(stalled_seconds, 5.0), tick_seconds)
            while not worker.done():
                await asyncio.wait({worker}, timeout=pause)
                if worker.done():
                    break
                if stalled_seconds > 0:
                    await self.recover_stalled(seconds_since_heartbeat=stalled_seconds)
                await asyncio.to_thread(tick)
            worker.result()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def serve(
        self,
        *,
        name: str,
        concurrency: int = 1,
        stalled_seconds: float = 30.0,
        ready: threading.Event | None = None,
        stop: threading.Event | None = None,
        tick: Callable[[], None] = lambda: None,
        tick_seconds: float = 30.0,
    ) -> None:
        """Run a worker until ``stop`` is set (or forever): first the jobs of workers silent
        for ``stalled_seconds`` (dead) are deferred again, then every ``stalled_seconds``
        too (``0``: at the start only, any other worker counting as dead: one worker alone).
        ``tick`` runs (on a thread) at the start and about every ``tick_seconds``.
        ``ready`` is set once the worker listens. Blocks: run it on a thread of its own to
        serve beside an application."""
        started = ready or threading.Event()
        loop = asyncio.new_event_loop()
        main = loop.create_task(
            self._work(
                name=name,
                concurrency=concurrency,
                stalled_seconds=stalled_seconds,
                ready=started,
                tick=tick,
                tick_seconds=tick_seconds,
            )
        )
        if stop is not None:

            def watch() -> None:
                stop.wait()
                # The loop is closed when the worker ended on its own first.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(main.cancel)

            threading.Thread(target=watch, name="helmforge-jobs-stop", daemon=True).start()
        try:
            loop.run_until_complete(main)
        except asyncio.CancelledError:
            pass
        except (procrastinate_errors.ProcrastinateException, psycopg.Error, OSError) as error:
            raise ExternalServiceError(
                f"the job queue's worker stopped: {type(error).__name__}: {error}"
            ) from error
        finally:
            try:
                # The connection pool stops its own tasks (workers, scheduler) and closes its
                # connections, on this loop, however the worker ended: also on a stop while
                # the pool was still opening, which ``async with open_async()`` never closed
                # (its tasks stayed pending on the closed loop, destroyed at a later gc).
                # Cancelling the pool's tasks instead hung the stop (03e1bd6).
                loop.run_until_complete(self.app.close_async())
            except (procrastinate_errors.ProcrastinateException, psycopg.Error, OSError):
                _log.exception("job queue: the worker's connection pool did not close")
            finally:
                loop.close()
