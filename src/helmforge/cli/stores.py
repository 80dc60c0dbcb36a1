"""The local store a command acts on directly: the one named by HELMFORGE_DATABASE_URL (or the
SQLite file in the data directory), migrated, and closed when the command is done."""

from __future__ import annotations

__all__ = ["local_sessions"]

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


@contextlib.contextmanager
def local_sessions() -> Iterator[sessionmaker[Session]]:
    """Sessions on the local store, its engine disposed on the way out (the services and
    SQLAlchemy are imported only when a command opens it)."""
    from helmforge.services.settings import load_settings
    from helmforge.services.stores import open_store

    store = open_store(load_settings(os.environ))
    try:
        yield store.sessions
    finally:
        store.engine.dispose()
