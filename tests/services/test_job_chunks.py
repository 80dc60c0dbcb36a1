"""Chunked jobs (services.job_chunks): a job split into chunk jobs that any worker takes, its
progress and merged result in the parent's row, resumable chunk by chunk, cancellable; on
SQLite and PostgreSQL. The workers here are ``jobs.execute`` calls, one per chunk taken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.core.access.principals import Principal
from helmforge.services import job_chunks, jobs
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.jobs import JobContext, JobResources

ADMIN = Principal(name="root", role="admin", kind="user", id=1)
#: (chunk's first item, item) per item worked on, across every test's attempts.
WORKED: list[tuple[int, int]] = []


class WorkerKilled(BaseException):
    """Stands for kill -9: nothing of the worker runs after it (``execute`` catches nothing)."""


def count_job(context: JobContext) -> dict[str, Any]:
    items = list(context.params["items"])
    if context.parent is None:
        context.split(
            [{"items": items[start : start + 3]} for start in range(0, len(items), 3)],
            total_of=lambda part: len(part["items"]),
        )
    done = list(context.saved.get("done", []))
    for item in items:
        if item in done:
            continue
        WORKED.append((items[0], int(item)))
        done.append(item)
        context.report(done=len(done), total=len(items), partial={"done": done})
        if item == context.params.get("die_after"):
            raise WorkerKilled
    return {"done": done}


def merge_counts(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": [item for result in results for item in result["done"]]}


@pytest.fixture
def kind(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(jobs.JOB_KINDS, "test.count", f"{__name__}:count_job")  # type: ignore[index]
    monkeypatch.setitem(job_chunks.MERGERS, "test.count", f"{__name__}:merge_counts")  # type: ignore[index]
    WORKED.clear()
    return "test.count"


@pytest.fixture
def resources(tmp_path: Path) -> JobResources:
    return JobResources(workspace=GitWorkspace(key=b"k" * 32, cache_root=tmp_path / "cache"))


def _chunks(sessions: sessionmaker[Session], state: str = jobs.QUEUED) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(JobRow.id)
                .where(JobRow.kind.like("%#chunk"), JobRow.state == state)
                .order_by(JobRow.created_at, JobRow.id)
            )
        )


def _chunk_of(sessions: sessionmaker[Session], first: object) -> str:
    with sessions() as session:
        for row in session.scalars(sa.select(JobRow).where(JobRow.kind.like("%#chunk"))):
            if row.params["items"][0] == first:
                return row.id
    raise AssertionError(first)


def test_a_split_job_ends_with_every_item_once_after_a_worker_died_in_a_chunk(
    sessions: sessionmaker[Session], kind: str, resources: JobResources
) -> None:
    job = jobs.submit(sessions, kind=kind, params={"items": list(range(10))}, actor=ADMIN, total=10)
    jobs.execute(sessions, job.id, resources=resources, owner="w1")
    assert len(_chunks(sessions)) == 4
    assert jobs.get_job(sessions, job.id, actor=ADMIN).state == jobs.RUNNING
    # Worker w1 takes the first chunk and finishes it; w2 dies in the second one.
    first, second = _chunk_of(sessions, 0), _chunk_of(sessions, 3)
    jobs.execute(sessions, first, resources=resources, owner="w1")
    with sessions.begin() as session:
        row = session.get(JobRow, second)
        assert row is not None
        row.params = {**row.params, "die_after": 3}
    with pytest.raises(WorkerKilled):
        jobs.execute(sessions, second, resources=resources, owner="w2")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert (view.state, view.done, view.total) == (jobs.RUNNING, 4, 10)
    # The dead worker's chunk is taken again (as procrastinate's recovery does), the rest too.
    with sessions.begin() as session:
        row = session.get(JobRow, second)
        assert row is not None
        row.params = {key: value for key, value in row.params.items() if key != "die_after"}
    for chunk in [second, *_chunks(sessions)]:
        jobs.execute(sessions, chunk, resources=resources, owner="w1")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert (view.state, view.done, view.total) == (jobs.SUCCEEDED, 10, 10)
    assert view.result == {"items": list(range(10))}
    assert sorted(item for _, item in WORKED) == list(range(10))  # none worked on twice
    assert [listed.id for listed in jobs.list_jobs(sessions, actor=ADMIN)] == [job.id]


def test_a_cancelled_split_job_stops_its_chunks_at_their_next_checkpoint(
    sessions: sessionmaker[Session], kind: str, resources: JobResources
) -> None:
    job = jobs.submit(sessions, kind=kind, params={"items": list(range(6))}, actor=ADMIN)
    jobs.execute(sessions, job.id, resources=resources, owner="w1")
    jobs.execute(sessions, _chunk_of(sessions, 0), resources=resources, owner="w1")
    jobs.cancel(sessions, job.id, actor=ADMIN)
    jobs.execute(sessions, _chunk_of(sessions, 3), resources=resources, owner="w1")
    assert [item for _, item in WORKED] == [0, 1, 2, 3]  # the chunk stopped at its first
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert (view.state, view.done) == (jobs.CANCELLED, 3)
    assert _chunks(sessions, jobs.CANCELLED) == [_chunk_of(sessions, 3)]


def test_a_failed_chunk_fails_its_job(
    sessions: sessionmaker[Session], kind: str, resources: JobResources
) -> None:
    job = jobs.submit(sessions, kind=kind, params={"items": [0, 1, 2, "x"]}, actor=ADMIN)
    jobs.execute(sessions, job.id, resources=resources, owner="w1")
    assert len(_chunks(sessions)) == 2
    for first in (0, "x"):
        jobs.execute(sessions, _chunk_of(sessions, first), resources=resources, owner="w1")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert view.state == jobs.FAILED
    assert _chunks(sessions, jobs.SUCCEEDED) == [_chunk_of(sessions, 0)]
    assert view.error is not None
    assert "internal error" in view.error


def _messages(sessions: sessionmaker[Session]) -> dict[str, int]:
    """How many "run job ID" messages procrastinate holds per job id (PostgreSQL); on SQLite
    the in-process runner takes queued rows themselves (one ``UPDATE`` claims a row), so each
    queued row counts once."""
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return dict.fromkeys(session.scalars(sa.select(JobRow.id)), 1)
        rows = session.execute(sa.text("SELECT args->>'job_id' FROM procrastinate_jobs")).all()
    counted: dict[str, int] = {}
    for (job_id,) in rows:
        counted[job_id] = counted.get(job_id, 0) + 1
    return counted


def test_a_parent_run_again_after_its_worker_died_queues_no_chunk_twice(
    sessions: sessionmaker[Session], kind: str, resources: JobResources
) -> None:
    job = jobs.submit(sessions, kind=kind, params={"items": list(range(7))}, actor=ADMIN, total=7)
    jobs.execute(sessions, job.id, resources=resources, owner="w1")
    chunks = sorted(_chunks(sessions))
    assert len(chunks) == 3
    # The worker died before the queue heard the parent ended: the queue runs it again (as
    # procrastinate's recovery of a stalled worker does), once more after another death.
    for owner in ("w2", "w3"):
        jobs.execute(sessions, job.id, resources=resources, owner=owner)
    assert sorted(_chunks(sessions)) == chunks  # the chunks of the first split, no others
    messages = _messages(sessions)
    assert {chunk: messages.get(chunk, 0) for chunk in chunks} == dict.fromkeys(chunks, 1)
    # Every message handed to a worker: each chunk's items are worked on once.
    for chunk in chunks:
        for _ in range(messages[chunk]):
            jobs.execute(sessions, chunk, resources=resources, owner="w1")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert (view.state, view.done, view.total) == (jobs.SUCCEEDED, 7, 7)
    assert sorted(item for _, item in WORKED) == list(range(7))


def test_a_running_split_job_shows_what_its_ended_chunks_found(
    sessions: sessionmaker[Session], kind: str, resources: JobResources
) -> None:
    job = jobs.submit(sessions, kind=kind, params={"items": list(range(8))}, actor=ADMIN, total=8)
    jobs.execute(sessions, job.id, resources=resources, owner="w1")
    started = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert started.result == {"items": [], "chunks_done": 0, "chunks_total": 3}
    jobs.execute(sessions, _chunk_of(sessions, 3), resources=resources, owner="w1")
    with sessions.begin() as session:  # the last chunk's worker dies after its first item
        row = session.get(JobRow, _chunk_of(sessions, 6))
        assert row is not None
        row.params = {**row.params, "die_after": 6}
    with pytest.raises(WorkerKilled):
        jobs.execute(sessions, _chunk_of(sessions, 6), resources=resources, owner="w2")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert (view.state, view.done, view.total) == (jobs.RUNNING, 4, 8)
    assert view.result == {"items": [3, 4, 5], "chunks_done": 1, "chunks_total": 3}
    jobs.execute(sessions, _chunk_of(sessions, 0), resources=resources, owner="w1")
    view = jobs.get_job(sessions, job.id, actor=ADMIN)
    assert view.result == {"items": [0, 1, 2, 3, 4, 5], "chunks_done": 2, "chunks_total": 3}
    jobs.execute(sessions, _chunk_of(sessions, 6), resources=resources, owner="w1")
    assert jobs.get_job(sessions, job.id, actor=ADMIN).result == {"items": list(range(8))}
