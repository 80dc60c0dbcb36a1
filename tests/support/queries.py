"""What code reads from the database while it runs: the SQL statements its engine executes
and the ORM rows its sessions load, for tests that bound the reads of a piece of work."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of


@dataclass
class Reads:
    """The statements executed (SQL text) and the rows loaded (ORM objects), in order."""

    statements: list[str] = field(default_factory=list)
    loaded: list[Any] = field(default_factory=list)

    def selects_from(self, table: str) -> list[str]:
        """The SELECT statements that read ``table`` (in a FROM or a JOIN)."""
        pattern = re.compile(rf"\b(?:FROM|JOIN)\s+\"?{re.escape(table)}\"?(?:\s|$)", re.I)
        return [
            statement
            for statement in self.statements
            if statement.lstrip().upper().startswith("SELECT") and pattern.search(statement)
        ]

    def loaded_of(self, kind: type) -> list[Any]:
        return [row for row in self.loaded if isinstance(row, kind)]


@contextmanager
def counted_reads(sessions: sessionmaker[Session]) -> Iterator[Reads]:
    """Record what ``sessions`` (its engine, and the sessions it makes) reads inside the
    block."""
    reads = Reads()
    engine = engine_of(sessions)

    def executed(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        reads.statements.append(statement)

    def loaded(_session: Session, row: Any) -> None:
        reads.loaded.append(row)

    sa.event.listen(engine, "before_cursor_execute", executed)
    sa.event.listen(sessions, "loaded_as_persistent", loaded)
    try:
        yield reads
    finally:
        sa.event.remove(sessions, "loaded_as_persistent", loaded)
        sa.event.remove(engine, "before_cursor_execute", executed)
