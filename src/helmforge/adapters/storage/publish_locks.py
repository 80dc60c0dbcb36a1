"""One publisher at a time per chart repository, across threads and server processes.

Checking a tag and then pushing to it are two registry calls: two publishers of one chart
version could both find the tag free and both push, leaving it at whichever came last. The
publishing service therefore holds ``publish_lock`` from its tag check (and, under the
``auto`` policy, its choice of the next version) until the push is recorded.

- PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on a 64-bit hash
  of the key, held by a connection of its own; it spans every server process on the database
  and is released when the transaction ends or the connection drops (a killed process).
- SQLite: an exclusive ``flock`` on a lock file in a folder beside the database file
  (``NAME.publish-locks``; one of 64 files per activity, by the key's hash). Each holder
  opens the file itself, so the lock excludes other threads of one process as well as other
  processes on the host (the only ones that can share a SQLite file). The kernel releases it
  when the process dies. A write transaction would do too, but it would stop every other
  write of the server, including the publish's own build and push records, for the length
  of the push.
"""

from __future__ import annotations

__all__ = ["LockTimeoutError", "publish_lock"]

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from helmforge.core.errors import ExternalServiceError

_LOCK_FILES = 64
"""Lock files per SQLite database and activity: keys of one activity share one by hash, which
only serializes more. Each activity has its own (a chart publish never waits behind a Git
write whose key hashes alike: a wave's upgrades build and publish while their group pushes)."""

_memory_locks: dict[tuple[str, int], threading.Lock] = {}
_memory_locks_mutex = threading.Lock()


class LockTimeoutError(ExternalServiceError):
    """Another publisher held the lock for longer than the caller would wait."""


def _key_hash(key: str) -> int:
    """A signed 64-bit integer naming ``key`` among PostgreSQL's advisory locks."""
    digest = hashlib.sha256(f"helmforge.publish:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def publish_lock(
    engine: Engine, key: str, *, wait: float, activity: str = "publish"
) -> Iterator[None]:
    """Hold the lock named ``key`` for the ``with`` block, waiting at most ``wait`` seconds.

    Raises ``LockTimeoutError`` when another holder keeps it longer (its message calls the
    holder's work ``activity``: a publish, or a Git write of a repository).
    """
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, key, wait=wait, activity=activity):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        # One process owns an in-memory database: a lock per process suffices.
        with _memory_locks_mutex:
            slot = (activity, _key_hash(key) % _LOCK_FILES)
            lock = _memory_locks.setdefault(slot, threading.Lock())
        if not lock.acquire(timeout=wait):
            raise _timeout(key, wait, activity)
        try:
            yield
        finally:
            lock.release()
        return
    with _file_lock(Path(database), key, wait=wait, activity=activity):
        yield


def _timeout(key: str, wait: float, activity: str) -> LockTimeoutError:
    return LockTimeoutError(
        f"another {activity} of {key} has been under way for over {wait:g} s; try again later"
    )


@contextlib.contextmanager
def _advisory_lock(engine: Engine, key: str, *, wait: float, activity: str) -> Iterator[None]:
    with engine.connect() as connection, connection.begin():
        # lock_timeout bounds the wait for advisory locks too; SET LOCAL ends with the
        # transaction, so the pooled connection goes back as it came.
        milliseconds = max(1, int(wait * 1000))
        connection.execute(sa.text(f"SET LOCAL lock_timeout = {milliseconds}"))
        # The transaction idles while the push runs: a server-wide idle timeout must not end
        # it (and the lock with it) halfway.
        connection.execute(sa.text("SET LOCAL idle_in_transaction_session_timeout = 0"))
        try:
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key_hash(key)}
            )
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise _timeout(key, wait, activity) from None
            raise
        yield


@contextlib.contextmanager
def _file_lock(database: Path, key: str, *, wait: float, activity: str) -> Iterator[None]:
    # Named apart from the database's own files (NAME.db, NAME.db-wal, NAME.db-shm), which a
    # backup copies; locks are nothing to copy.
    folder = database.parent / f"{database.stem}.publish-locks"
    folder.mkdir(mode=0o700, exist_ok=True)
    kind = re.sub(r"[^a-z0-9]+", "-", activity.lower()).strip("-") or "lock"
    path = folder / f"{kind}-{_key_hash(key) % _LOCK_FILES:02d}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # flock has no timeout: poll, backing off to 50 ms (a push takes tens of ms).
        give_up = time.monotonic() + wait
        pause = 0.002
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise _timeout(key, wait, activity) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases its flock
