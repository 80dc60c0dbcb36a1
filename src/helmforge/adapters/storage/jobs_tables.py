"""The table of the jobs area (DESIGN §10): long fleet work, recorded and resumable.

Its migrations live on the ``jobs`` Alembic branch (``jobs_0001`` onwards). A row is the whole
truth about one job: what it does (``kind``, ``params``), who asked (``created_by``), where it
stands (``state``, ``progress_done``/``progress_total``), what it found so far (``result``,
also the checkpoint an attempt after a crash resumes from) and why it failed (``error``).
``owner`` names the worker running it now (``host:pid`` of the in-process runner on SQLite;
the procrastinate worker on PostgreSQL), ``attempts`` how often a worker started it.

A rollout (``rollouts``, ``jobs_0002``) is a plan of waves moving instances to a template
version: its ``state``, the control a user asked for (``requested``: pause or abort, read by
the running job between two instances), the job running it now, and ``waves``: per wave its
filter and what happened to each instance (from which version, the commit, the error).

On PostgreSQL the same branch installs procrastinate's own schema (its ``procrastinate_*``
tables and functions), the queue every helmforge process shares.
"""

from __future__ import annotations

__all__ = ["JobRow", "RolloutRow"]

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(63), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(), nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    owner: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @classmethod
    def queued(
        cls, kind: str, params: dict[str, Any], *, created_by: str, total: int, now: datetime
    ) -> JobRow:
        """A new job row, queued, never started, with a fresh id."""
        return cls(
            id=uuid.uuid4().hex,
            kind=kind,
            params=params,
            state="queued",
            progress_done=0,
            progress_total=total,
            result=None,
            error=None,
            owner=None,
            attempts=0,
            created_by=created_by,
            created_at=now,
            started_at=None,
            updated_at=now,
            finished_at=None,
        )


class RolloutRow(Base):
    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    template: Mapped[str] = mapped_column(sa.String(200))
    app_version: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    stop_on: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    requested: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    waves: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
