"""The job queue on PostgreSQL (``adapters.jobs``, procrastinate) against a real server: a job
id is its message's queueing lock, so a job waits in the queue once however often it is
deferred, and recovering a dead worker's message for a job that waits again already ends the
dead one instead of failing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from helmforge.adapters.jobs import JobQueue, libpq_conninfo
from tests.support.databases import fresh_database_url

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
