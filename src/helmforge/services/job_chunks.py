"""Chunked jobs (DESIGN §10): one fleet job shared by every worker on the queue.

A job's function may split its work (``JobContext.split``): chunk jobs of kind ``KIND#chunk``
are recorded beside it, in one transaction with the list of their ids (the parent's
checkpoint), and handed to the engine; any worker takes any chunk (procrastinate on
PostgreSQL, the in-process runner on SQLite: the same code). The parent stays ``running``
without a worker. A chunk runs the same function on its own slice of ``params`` (with
``_parent`` set, so it does not split again), saves its own checkpoint, and adds its progress
to the parent's in the same transaction; a chunk finds the parent cancelled or failed at its
next checkpoint and stops. The chunk that finishes last, in the transaction recording its end,
merges the chunks' results with the kind's merger (``MERGERS``) and ends the parent; a failed
chunk fails the parent. A worker killed in a chunk leaves that chunk alone to be resumed: the
chunks done are not run again.
"""

from __future__ import annotations

__all__ = ["CHUNK_SUFFIX", "MERGERS", "chunk_rows", "found_so_far", "settle"]

import importlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from helmforge.adapters.storage.jobs_tables import JobRow

CHUNK_SUFFIX = "#chunk"
PARENT = "_parent"

#: Kind -> ``module:function(params, [chunk results in order]) -> result``.
MERGERS: Mapping[str, str] = {
    "fleet.impact": "helmforge.services.fleet_impact:merge_impact",
}


def chunk_rows(
    parent: JobRow,
    slices: Sequence[Mapping[str, Any]],
    *,
    total_of: Callable[[Mapping[str, Any]], int],
) -> list[JobRow]:
    """The queued chunk rows of ``parent``, one per params slice."""
    now = datetime.now(UTC)
    return [
        JobRow.queued(
            parent.kind + CHUNK_SUFFIX,
            {**dict(part), PARENT: parent.id},
            created_by=parent.created_by,
            total=total_of(part),
            now=now,
        )
        for part in slices
    ]


def _merger(kind: str) -> Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]]:
    module_name, _, function = MERGERS[kind].partition(":")
    merge: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]] = getattr(
        importlib.import_module(module_name), function
    )
    return merge


def settle(session: Session, parent_id: str) -> None:
    """End the parent ``parent_id`` when its chunks all ended (in ``session``'s transaction,
    the parent's row locked): succeeded with the merged result, or failed with the first
    failed chunk's error. Nothing when a chunk still runs or the parent ended already."""
    parent = session.scalars(
        sa.select(JobRow).where(JobRow.id == parent_id).with_for_update()
    ).first()
    if parent is None or parent.state != "running":
        return
    ids = list((parent.result or {}).get("chunks", []))
    rows = {
        row.id: row for row in session.scalars(sa.select(JobRow).where(JobRow.id.in_(ids))).all()
    }
    chunks = [rows[chunk] for chunk in ids if chunk in rows]
    now = datetime.now(UTC)
    failed = [row for row in chunks if row.state in ("failed", "cancelled")]
    if failed:
        parent.state = "failed"
        parent.error = failed[0].error or f"chunk {failed[0].id} was {failed[0].state}"
        parent.finished_at = parent.updated_at = now
        return
    if len(chunks) < len(ids) or any(row.state != "succeeded" for row in chunks):
        return
    parent.result = _merger(parent.kind)(
        dict(parent.params), [dict(row.result or {}) for row in chunks]
    )
    parent.state = "succeeded"
    parent.progress_done = parent.progress_total
    parent.finished_at = parent.updated_at = now


def found_so_far(session: Session, parent: JobRow) -> dict[str, Any] | None:
    """What the running split job ``parent`` found so far, as its result will show it: the
    kind's merger over the chunks that ended (in their order), with ``chunks_done`` and
    ``chunks_total``; ``None`` when ``parent`` is not a running split job."""
    ids = list((parent.result or {}).get("chunks", []))
    if parent.state != "running" or not ids or parent.kind not in MERGERS:
        return None
    ended = {
        row.id: dict(row.result or {})
        for row in session.scalars(
            sa.select(JobRow).where(JobRow.id.in_(ids), JobRow.state == "succeeded")
        ).all()
    }
    results = [ended[chunk] for chunk in ids if chunk in ended]
    merged = _merger(parent.kind)(dict(parent.params), results)
    return {**merged, "chunks_done": len(results), "chunks_total": len(ids)}
