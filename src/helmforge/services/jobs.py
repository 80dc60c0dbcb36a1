"""Jobs (DESIGN §10): long fleet work, recorded in ``jobs``, resumable after a crash.

A service submits a job (``submit``: a row in state ``queued``) and answers 202 with its id;
a worker runs it (``execute``) and records ``running``, progress ``{done, total}`` as it goes,
then ``succeeded`` with the result or ``failed`` with the error; ``cancel`` stops it at its
next checkpoint. What a job found so far is saved with its progress (``JobContext.report``):
an attempt after its worker died starts from there instead of from the beginning.

Two engines run the same job code:

- PostgreSQL: procrastinate (``adapters.jobs``). ``submit`` defers "run job ID"; every
  helmforge process on the database runs a worker (``helmforge serve``, or ``helmforge jobs
  worker`` alone), so they share the work; a worker that stops sending heartbeats for
  ``HELMFORGE_JOBS_STALLED_SECONDS`` has its job deferred again.
- SQLite (one machine): an in-process runner per process claims queued rows itself (one
  ``UPDATE ... WHERE state = 'queued'`` wins); at its start, rows left ``running`` by a
  process of this machine that no longer exists are queued again.

The kinds of work are data: ``JOB_KINDS`` maps a kind to ``module:function`` (imported when a
job of that kind runs), each taking a ``JobContext`` and returning the result (JSON).
"""

from __future__ import annotations

__all__ = [
    "JOB_KINDS",
    "STATES",
    "JobCancelledError",
    "JobContext",
    "JobInterruptedError",
    "JobResources",
    "JobSplitError",
    "JobView",
    "cancel",
    "database_url_of",
    "execute",
    "execute_here",
    "get_job",
    "get_progress",
    "is_postgresql",
    "list_jobs",
    "queue_for",
    "submit",
    "waker",
]

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    Location,
    NotFoundError,
)
from helmforge.services import access, audit, job_chunks
from helmforge.services.gitops_repositories import GitWorkspace

if TYPE_CHECKING:
    from helmforge.adapters.jobs import JobQueue

_log = logging.getLogger("helmforge.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
_DONE = (SUCCEEDED, FAILED, CANCELLED)
#: A job whose workers died this often is failed instead of started again (a crash loop).
MAX_ATTEMPTS = 5

#: Kind -> ``module:function`` running it.
JOB_KINDS: Mapping[str, str] = {
    "fleet.verify": "helmforge.services.fleet_verification:run_verification",
    "fleet.impact": "helmforge.services.fleet_impact:run_impact",
    "fleet.rollout": "helmforge.services.fleet_rollout_runs:run_rollout",
}


@dataclass(frozen=True, slots=True)
class JobView:
    """One job as ``GET /api/v1/jobs/{id}`` shows it."""

    id: str
    kind: str
    state: str
    done: int
    total: int
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: What the job was asked (its submitting service's parameters), for pages to show.
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in _DONE


@dataclass(frozen=True, slots=True)
class JobResources:
    """What jobs need beyond the database: the Git workspace (its secret key also decrypts
    registry credentials) and the deadline of one registry request."""

    workspace: GitWorkspace
    registry_deadline: float = 30.0

    @property
    def registry_key(self) -> bytes:
        return self.workspace.key


class JobCancelledError(Exception):
    """The job was cancelled while it ran: its handler stops at the checkpoint it reached."""


class JobSplitError(Exception):
    """The job's function split its work into chunk jobs (``JobContext.split``): the job
    stays running without a worker until its last chunk ends it (``services.job_chunks``)."""


class JobInterruptedError(Exception):
    """The worker is stopping (its process shuts down): the job stops at the checkpoint it
    reached and is queued again for another worker, which resumes it from there."""


@dataclass
class JobContext:
    """What a job's function gets: its ``params``, the principal it acts for (its submitter,
    whose rights were checked when it was submitted), the database and ``resources``, and
    ``saved``: the partial result an earlier attempt reported (``{}`` on the first)."""

    job_id: str
    kind: str
    params: dict[str, Any]
    actor: Principal
    sessions: sessionmaker[Session]
    resources: JobResources
    saved: dict[str, Any] = field(default_factory=dict)
    stopping: threading.Event | None = None
    #: The progress this attempt's row had (a chunk adds the difference to its parent's).
    reported: int = 0

    @property
    def parent(self) -> str | None:
        """The job this one is a chunk of (``None``: a job of its own)."""
        parent = self.params.get(job_chunks.PARENT)
        return str(parent) if parent else None

    def split(
        self, slices: list[dict[str, Any]], *, total_of: Callable[[Mapping[str, Any]], int]
    ) -> None:
        """Hand the work over to one chunk job per params slice (any worker runs each; see
        ``services.job_chunks``); raises ``JobSplitError``. The chunk rows and their messages
        on the queue are written in one transaction, so each chunk is queued exactly once: a
        job split before (its checkpoint lists its chunks) queues nothing again."""
        with self.sessions.begin() as session:
            row = session.scalars(
                sa.select(JobRow).where(JobRow.id == self.job_id).with_for_update()
            ).one()
            row.owner = None
            # Split by an earlier attempt, whose transaction queued every chunk: queueing
            # them again would run a chunk twice.
            fresh = not (row.result or {}).get("chunks")
            if fresh:
                rows = job_chunks.chunk_rows(row, slices, total_of=total_of)
                session.add_all(rows)
                row.result = {"chunks": [chunk.id for chunk in rows]}
                for chunk in rows:
                    _dispatch_within(self.sessions, session, chunk.id)
        if fresh:
            _wake(self.sessions)
        raise JobSplitError(self.job_id)

    def report(self, *, done: int, total: int, partial: Mapping[str, Any] | None = None) -> None:
        """Record progress and (optionally) the partial result to resume from; raises
        ``JobCancelledError`` once the job was cancelled."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {"progress_done": done, "progress_total": total, "updated_at": now}
        if partial is not None:
            values["result"] = dict(partial)
            self.saved = dict(partial)
        with self.sessions.begin() as session:
            changed = session.execute(
                sa.update(JobRow)
                .where(JobRow.id == self.job_id, JobRow.state == RUNNING)
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            if changed and self.parent is not None:
                changed = session.execute(
                    sa.update(JobRow)
                    .where(JobRow.id == self.parent, JobRow.state == RUNNING)
                    .values(
                        progress_done=JobRow.progress_done + (done - self.reported),
                        updated_at=now,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if not changed:  # the parent was cancelled or failed: so is this chunk
                    session.execute(
                        sa.update(JobRow)
                        .where(JobRow.id == self.job_id)
                        .values(state=CANCELLED, finished_at=now)
                    )
        if not changed:
            raise JobCancelledError(self.job_id)
        self.reported = done
        if self.stopping is not None and self.stopping.is_set():
            raise JobInterruptedError(self.job_id)


def _view(row: JobRow) -> JobView:
    return JobView(
        id=row.id,
        kind=row.kind,
        state=row.state,
        done=row.progress_done,
        total=row.progress_total,
        result=row.result,
        error=row.error,
        attempts=row.attempts,
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        params=dict(row.params or {}),
    )


# --- submitting and reading ---------------------------------------------------------------


def submit(
    sessions: sessionmaker[Session],
    *,
    kind: str,
    params: Mapping[str, Any],
    actor: Principal,
    total: int = 0,
    now: datetime | None = None,
) -> JobView:
    """Record a new job of ``kind`` (a key of ``JOB_KINDS``) acting for ``actor``, created
    ``now`` (default: the clock's), and hand it to the engine; the caller has checked
    ``actor``'s rights. Raises ``ExternalServiceError`` when the queue refuses it (the row is
    then ``failed``)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    now = now or datetime.now(UTC)
    row = JobRow.queued(kind, dict(params), created_by=actor.name, total=total, now=now)
    with sessions.begin() as session:
        session.add(row)
        audit.record(
            session, actor, f"{kind}.submit", f"job:{row.id}", after={"params": row.params}
        )
        session.flush()
        session.expunge(row)
    try:
        _dispatch(sessions, row.id)
    except HelmforgeError as error:
        _finish(sessions, row.id, state=FAILED, error=str(error))
        raise
    return _view(row)


def _missing(job_id: str) -> str:
    return f"job {job_id!r} does not exist"


def get_job(sessions: sessionmaker[Session], job_id: str, *, actor: Principal) -> JobView:
    """The job, for the one who submitted it or anyone holding ``audit.read``; to anyone
    else it is missing (``NotFoundError``). While a split job runs, its ``result`` is what
    its chunks that ended found, merged (``job_chunks.found_so_far``)."""
    with sessions() as session:
        row = session.get(JobRow, job_id) if 0 < len(job_id) <= 32 else None
        if row is None:
            raise NotFoundError(_missing(job_id), location=Location(path="job"))
        if row.created_by != actor.name:
            access.require(sessions, actor, "audit.read", hide_as=_missing(job_id))
        view = _view(row)
        so_far = job_chunks.found_so_far(session, row)
    return view if so_far is None else replace(view, result=so_far)


def get_progress(
    sessions: sessionmaker[Session], job_id: str, *, actor: Principal
) -> tuple[str, int, int]:
    """``(state, done, total)`` of the job, read without its result (a page following it
    asks every second), for whom ``get_job`` shows it; else ``NotFoundError``."""
    columns = (JobRow.state, JobRow.progress_done, JobRow.progress_total, JobRow.created_by)
    with sessions() as session:
        row = session.execute(sa.select(*columns).where(JobRow.id == job_id)).first()
    if row is None:
        raise NotFoundError(_missing(job_id), location=Location(path="job"))
    if row.created_by != actor.name:
        access.require(sessions, actor, "audit.read", hide_as=_missing(job_id))
    return str(row.state), int(row.progress_done), int(row.progress_total)


def list_jobs(
    sessions: sessionmaker[Session], *, actor: Principal, limit: int = 20
) -> list[JobView]:
    """The newest ``limit`` jobs ``actor`` may read, newest first: their own, and everyone's
    for holders of ``audit.read`` (the rule of ``get_job``)."""
    query = sa.select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    query = query.where(JobRow.kind.not_like(f"%{job_chunks.CHUNK_SUFFIX}"))
    if "audit.read" not in access.held(sessions, actor, ("audit.read",)):
        query = query.where(JobRow.created_by == actor.name)
    with sessions() as session:
        rows = session.execute(query).scalars().all()
        return [_view(row) for row in rows]


def cancel(sessions: sessionmaker[Session], job_id: str, *, actor: Principal) -> JobView:
    """Cancel a queued or running job (its submitter, or an admin): a running one stops at
    its next checkpoint, keeping what it found. ``ConflictError`` when it already ended."""
    view = get_job(sessions, job_id, actor=actor)
    if view.created_by != actor.name:
        access.require(sessions, actor, "policy.manage")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        changed = session.execute(
            sa.update(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_((QUEUED, RUNNING)))
            .values(state=CANCELLED, finished_at=now, updated_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            raise ConflictError(
                f"job {job_id} already {view.state}: only a queued or running job can be cancelled",
                location=Location(path="job"),
            )
        audit.record(session, actor, "job.cancel", f"job:{job_id}")
    return get_job(sessions, job_id, actor=actor)


# --- running ------------------------------------------------------------------------------


def _handler(kind: str) -> Callable[[JobContext], dict[str, Any]]:
    module_name, _, function = JOB_KINDS[kind.removesuffix(job_chunks.CHUNK_SUFFIX)].partition(":")
    handler: Callable[[JobContext], dict[str, Any]] = getattr(
        importlib.import_module(module_name), function
    )
    return handler


def _claim(sessions: sessionmaker[Session], job_id: str, owner: str) -> JobRow | None:
    """Mark the job running for ``owner`` (a new attempt); ``None`` when it has ended."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        row = session.scalars(
            sa.select(JobRow).where(JobRow.id == job_id).with_for_update()
        ).first()
        if row is None or row.state in _DONE:
            return None
        row.state = RUNNING
        row.owner = owner
        row.attempts += 1
        row.started_at = row.started_at or now
        row.updated_at = now
        session.flush()
        session.expunge(row)
        return row


def _finish(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    state: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    parent: str | None = None,
) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {"state": state, "finished_at": now, "updated_at": now}
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    with sessions.begin() as session:
        session.execute(
            sa.update(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_((QUEUED, RUNNING)))
            .values(**values)
        )
        if state == SUCCEEDED:
            session.execute(
                sa.update(JobRow)
                .where(JobRow.id == job_id)
                .values(progress_done=JobRow.progress_total)
            )
        if parent is not None:
            job_chunks.settle(session, parent)


def _acting(name: str) -> Principal:
    # The submitter's rights were checked at submission; the job's own records name them.
    return Principal(name=name, role="", kind="system", id=0)


def _hand_over(sessions: sessionmaker[Session], job_id: str) -> None:
    """Queue an interrupted job again (any worker resumes it from its checkpoint)."""
    with sessions.begin() as session:
        session.execute(
            sa.update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == RUNNING)
            .values(state=QUEUED, owner=None, updated_at=datetime.now(UTC))
        )
    _log.info("job %s is queued again: its worker is stopping", job_id)
    try:
        _dispatch(sessions, job_id)
    except HelmforgeError:
        _log.exception("job %s waits for a worker's restart: the queue refused it", job_id)


def execute(
    sessions: sessionmaker[Session],
    job_id: str,
    *,
    resources: JobResources,
    owner: str,
    stopping: threading.Event | None = None,
) -> None:
    """Run job ``job_id`` to its end (or to its cancellation, or until ``stopping`` is set:
    then it is queued again at its next checkpoint) and record the outcome: the result, or
    the error's message for a helmforge error, or "internal error" and a log line with the
    traceback for anything else. A job that has ended already is left as it is."""
    row = _claim(sessions, job_id, owner)
    if row is None:
        return
    if row.attempts > MAX_ATTEMPTS:
        _finish(
            sessions,
            job_id,
            state=FAILED,
            error=f"the job's worker died {MAX_ATTEMPTS} times while running it: see the logs",
            parent=(row.params or {}).get(job_chunks.PARENT),
        )
        return
    context = JobContext(
        job_id=row.id,
        kind=row.kind,
        params=dict(row.params),
        actor=_acting(row.created_by),
        sessions=sessions,
        resources=resources,
        saved=dict(row.result or {}),
        stopping=stopping,
        reported=row.progress_done,
    )
    parent = context.parent
    try:
        result = _handler(row.kind)(context)
    except JobCancelledError:
        _log.info("job %s (%s) was cancelled", job_id, row.kind)
        return
    except JobSplitError:
        _log.info("job %s (%s) runs as chunks", job_id, row.kind)
        return
    except JobInterruptedError:
        _hand_over(sessions, job_id)
        return
    except HelmforgeError as error:
        _finish(sessions, job_id, state=FAILED, error=str(error), parent=parent)
        return
    except Exception as error:
        _log.exception("job %s (%s) failed", job_id, row.kind)
        _finish(
            sessions,
            job_id,
            state=FAILED,
            error=f"internal error ({type(error).__name__}): see the server log",
            parent=parent,
        )
        return
    _finish(sessions, job_id, state=SUCCEEDED, result=result, parent=parent)


# --- engines ------------------------------------------------------------------------------


def database_url_of(sessions: sessionmaker[Session]) -> str:
    """The database URL of ``sessions``, password kept (for the queue's own connections)."""
    return engine_of(sessions).url.render_as_string(hide_password=False)


def is_postgresql(sessions: sessionmaker[Session]) -> bool:
    """Whether jobs on ``sessions`` run on procrastinate (else the in-process runner)."""
    return engine_of(sessions).dialect.name == "postgresql"


_wakers_lock = threading.Lock()
_wakers: dict[str, threading.Event] = {}


def waker(url: str) -> threading.Event:
    """The event that wakes this process's in-process runners of database ``url``."""
    with _wakers_lock:
        return _wakers.setdefault(url, threading.Event())


_ready_queues: set[str] = set()


def queue_for(sessions: sessionmaker[Session], run: Callable[[str], None]) -> JobQueue:
    """procrastinate on the database of ``sessions``, its schema installed (once a process)."""
    try:
        from helmforge.adapters.jobs import JobQueue
    except ImportError as error:
        raise ExternalServiceError(
            "fleet jobs on PostgreSQL need procrastinate, which is not installed: "
            "pip install -r requirements.lock"
        ) from error
    url = database_url_of(sessions)
    queue = JobQueue(url, run=run)
    if url not in _ready_queues:
        queue.ensure_schema()
        _ready_queues.add(url)
    return queue


def prepare_queue(sessions: sessionmaker[Session]) -> None:
    """Install the job queue's schema now on PostgreSQL (``helmforge migrate`` calls this, so
    no worker and no first submission has to); SQLite needs none."""
    if is_postgresql(sessions):
        queue_for(sessions, lambda _id: None)


def _dispatch(sessions: sessionmaker[Session], job_id: str) -> None:
    if is_postgresql(sessions):
        queue_for(sessions, lambda _id: None).defer(job_id)
    else:
        _wake(sessions)


def _dispatch_within(sessions: sessionmaker[Session], session: Session, job_id: str) -> None:
    """Queue ``job_id`` in ``session``'s transaction: procrastinate's message on PostgreSQL;
    on SQLite the queued row is all the in-process runner needs (``_wake`` it after the
    commit)."""
    if is_postgresql(sessions):
        queue_for(sessions, lambda _id: None).defer(job_id, connection=session.connection())


def _wake(sessions: sessionmaker[Session]) -> None:
    if not is_postgresql(sessions):
        waker(database_url_of(sessions)).set()


def execute_here(
    sessions: sessionmaker[Session], job_id: str, *, resources: JobResources, owner: str
) -> None:
    """Run job ``job_id`` and, when it splits, each of its queued chunks, on this thread one
    after the other (what a single worker does; tests and one-shot tools)."""
    execute(sessions, job_id, resources=resources, owner=owner)
    with sessions() as session:
        row = session.get(JobRow, job_id)
        chunks = list(((row.result if row else None) or {}).get("chunks", []))
        queued = session.scalars(
            sa.select(JobRow.id).where(JobRow.id.in_(chunks), JobRow.state == QUEUED)
        ).all()
    for chunk in queued:
        execute(sessions, chunk, resources=resources, owner=owner)
