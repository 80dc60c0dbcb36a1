"""The audit trail: who did what to which thing, when, with the state before and after.

``record`` adds the event to the caller's session, so it commits (or rolls back) in the same
transaction as the change it describes. Events are append-only: nothing in helmforge updates or
deletes them, and database triggers refuse it (RELIABILITY 38).

The trail must not grow with the size of what it describes (a 1.9 MB draft saved 20 times once
made one page of it 71 MiB): ``bounded_states`` keeps short texts as they are, records a long
one (a template document) as ``{"sha256", "bytes", "lines"}``, and a change between two long
texts under the same key as a unified diff cut at ``MAX_DIFF_CHARS`` (``<key>_diff``); a state
still over ``MAX_STATE_BYTES`` is recorded as its digest alone. Events written before this
are bounded the same way (without a diff) when read back (``services/audit_trail.py``).
"""

from __future__ import annotations

__all__ = [
    "MAX_DIFF_CHARS",
    "MAX_STATE_BYTES",
    "MAX_TEXT_CHARS",
    "bounded_state",
    "bounded_states",
    "insert_now",
    "record",
]

import difflib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import Principal


def record(
    session: Session,
    actor: Principal,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    """Add an audit event to ``session`` (committed with the change it describes).

    ``action`` is ``<resource>.<verb>`` (``template.publish``); ``target`` names the object
    (``web-service@1.2.0``); ``before``/``after`` are JSON-ready and never hold a secret.
    """
    session.add(AuditEventRow(**_event(actor, action, target, before, after)))


#: A text longer than this is recorded by digest; a template's name or a label never is.
MAX_TEXT_CHARS = 1024
#: The diff recorded between two long texts, at most (the rest is counted, not kept).
MAX_DIFF_CHARS = 4096
#: One state (``before`` or ``after``) as JSON, at most; over it only its digest is kept.
MAX_STATE_BYTES = 8192


def _digest_of_text(text: str) -> dict[str, Any]:
    data = text.encode("utf-8", "surrogatepass")
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "lines": text.count("\n") + (not text.endswith("\n") and bool(text)),
    }


def _bounded_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), "before", "after", n=1
    )
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > MAX_DIFF_CHARS:
            rest = sum(1 for _ in lines) + 1
            kept.append(f"... {rest} more diff lines not recorded\n")
            break
        kept.append(line if line.endswith("\n") else line + "\n")
        size += len(line)
    return "".join(kept)


def bounded_state(state: Any) -> Any:
    if isinstance(state, str) and len(state) > MAX_TEXT_CHARS:
        return _digest_of_text(state)
    if isinstance(state, dict):
        state = {
            key: _digest_of_text(value)
            if isinstance(value, str) and len(value) > MAX_TEXT_CHARS
            else value
            for key, value in state.items()
        }
    if state is None or isinstance(state, (bool, int, float)):
        return state
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) <= MAX_STATE_BYTES:
        return state
    return {**_digest_of_text(text), "omitted": f"larger than {MAX_STATE_BYTES} bytes as JSON"}


def bounded_states(before: Any, after: Any) -> tuple[Any, Any]:
    """``before`` and ``after`` as the trail records them: long texts as digests (plus a
    bounded diff where both states hold a long text under one key), and any state still over
    ``MAX_STATE_BYTES`` as its digest."""
    diffs: dict[str, str] = {}
    if isinstance(before, dict) and isinstance(after, dict):
        for key, new in after.items():
            old = before.get(key)
            if (
                isinstance(old, str)
                and isinstance(new, str)
                and max(len(old), len(new)) > MAX_TEXT_CHARS
            ):
                diffs[f"{key}_diff"] = _bounded_diff(old, new)
    bounded_after = bounded_state(after)
    if diffs and isinstance(bounded_after, dict) and "omitted" not in bounded_after:
        bounded_after = {**bounded_after, **diffs}
    return bounded_state(before), bounded_after


def _event(actor: Principal, action: str, target: str, before: Any, after: Any) -> dict[str, Any]:
    """The columns of one audit event, stamped now, its states bounded."""
    before, after = bounded_states(before, after)
    return {
        "at": datetime.now(UTC),
        "actor": actor.name,
        "actor_kind": actor.kind,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
    }


_INSERT = sa.insert(AuditEventRow.metadata.tables[AuditEventRow.__tablename__])


def insert_now(
    connection: Connection,
    actor: Principal,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    """``record`` for hot paths (a chart build) that only add rows: one prebuilt INSERT on the
    caller's Core connection, in its transaction, without a Session or reading back the id."""
    connection.execute(_INSERT, _event(actor, action, target, before, after))


#: A state read back larger than this was recorded before states were bounded.
