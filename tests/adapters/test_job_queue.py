"""The job queue on PostgreSQL (``adapters.jobs``, procrastinate) against a real server: a job
id is its message's queueing lock, so a job waits in the queue once however often it is
deferred, and recovering a dead worker's message for a job that waits again already ends the
dead one instead of failing; a stopped worker returns, its connection pool closed, and leaves
no task pending on its closed event loop (also when it stops while the pool opens)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from helmforge.adapters.jobs import JobQueue, libpq_conninfo
from helmforge.services.job_runners import JobWorker
from tests.support.databases import fresh_database_url
from tests.support.peers import SilentPeer

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url("postgresql", tmp_path) as url:
        yield url


def _statuses(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT args->>'job_id', status::text FROM procrastinate_jobs ORDER BY id"
        ).fetchall()
    return [(str(job_id), str(status)) for job_id, status in rows]


def _recover(queue: JobQueue) -> int:
    async def recover() -> int:
        async with queue.app.open_async():
            return await queue.recover_stalled(seconds_since_heartbeat=30)

    return asyncio.run(recover())


def test_a_job_waits_in_the_queue_once_and_a_dead_workers_duplicate_is_ended(url: str) -> None:
    queue = JobQueue(url, run=lambda _job_id: None)
    queue.ensure_schema()
    queue.defer("a" * 32)
    queue.defer("a" * 32)
    assert _statuses(url) == [("a" * 32, "todo")]
    # A worker took it and died (no worker row: procrastinate counts it stalled) after it
    # had handed the job over, which deferred it again.
    with psycopg.connect(libpq_conninfo(url)) as connection:
        connection.execute("UPDATE procrastinate_jobs SET status = 'doing'")
    queue.defer("a" * 32)
    assert _recover(queue) == 1
    assert _statuses(url) == [("a" * 32, "failed"), ("a" * 32, "todo")]


#: Long enough for any machine; a hung worker fails the test instead of hanging it.
BOUND = 120.0


def _pending_on_closed_loops() -> list[str]:
    """The tasks left pending on a closed event loop: none can ever finish, and each is
    destroyed pending whenever it is collected (procrastinate's built-in tasks keep the last
    app, so its pool, alive until the next app: "during another test")."""
    gc.collect()
    return [
        task.get_name()
        for task in gc.get_objects()
        if isinstance(task, asyncio.Task) and not task.done() and task.get_loop().is_closed()
    ]


@contextlib.contextmanager
def _logged(name: str, sign: str) -> Iterator[threading.Event]:
    """An event set once logger ``name`` logs a message holding ``sign`` (at any level)."""
    seen = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if sign in record.getMessage():
                seen.set()

    logger, watch = logging.getLogger(name), Watch(logging.DEBUG)
    level = logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    try:
        yield seen
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)


def _serving(queue: JobQueue) -> JobWorker:
    """The worker thread a server starts (``job_runners.start_worker``) on ``queue``."""
    return JobWorker(
        lambda ready, stop: queue.serve(name="test", ready=ready, stop=stop, stalled_seconds=0)
    ).start()


def test_a_worker_stopped_while_its_pool_opens_closes_the_pool_and_leaves_no_task() -> None:
    # The database answers nothing: the pool is still opening when the server stops.
    database = SilentPeer()
    with _logged("psycopg.pool", "closed") as pool_closed:
        # Once the pool closes, the connections it waits for fail (else it waits for them).
        dropping = threading.Thread(target=lambda: (pool_closed.wait(BOUND), database.close()))
        dropping.start()
        worker = _serving(JobQueue(f"postgresql+psycopg://postgres@{database.authority}/x", print))
        try:
            database.wait_for_connections(1)
            assert not worker.ready.is_set()
            worker.stop(BOUND)
        finally:
            closed = pool_closed.is_set()
            pool_closed.set()
            dropping.join(BOUND)
    assert not worker.alive, "the stopping worker never returned"
    assert _pending_on_closed_loops() == []
    assert closed, "the worker's connection pool was left open"


def test_a_stopped_worker_returns_and_leaves_no_task(url: str) -> None:
    JobQueue(url, run=print).ensure_schema()
    worker = _serving(JobQueue(url, run=print))
    assert worker.ready.wait(BOUND)
    worker.stop(BOUND)
    assert not worker.alive, "the stopping worker never returned"
    assert _pending_on_closed_loops() == []
