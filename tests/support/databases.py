"""Fresh databases for storage tests: a SQLite file, or a new PostgreSQL database on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@contextmanager
def fresh_database_url(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of an empty database of ``backend`` and drop it afterwards.

    PostgreSQL must be reachable: a missing server fails the test, never skips it.
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'helmforge-test.db'}"
        return
    name = f"helmforge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.format(name=name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
