"""adapters.storage.publish_locks: one holder per key across connection pools, on SQLite and
PostgreSQL; a waiter gives up with a clear error instead of waiting forever."""

from __future__ import annotations

import threading

import pytest

from helmforge.adapters.storage.database import create_database_engine
from helmforge.adapters.storage.publish_locks import LockTimeoutError, publish_lock


def test_publish_lock_excludes_a_second_holder_until_released(database_url: str) -> None:
    holder_engine, waiter_engine = (create_database_engine(database_url) for _ in range(2))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with publish_lock(holder_engine, "registry:5000/charts/demo", wait=30):
            held.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait()
        with (
            pytest.raises(LockTimeoutError, match="another publish of registry:5000/charts/demo"),
            publish_lock(waiter_engine, "registry:5000/charts/demo", wait=0),
        ):
            pass
        # Another key is free meanwhile.
        with publish_lock(waiter_engine, "registry:5000/charts/other", wait=30):
            pass
    finally:
        release.set()
        thread.join()
    with publish_lock(waiter_engine, "registry:5000/charts/demo", wait=30):
        pass
    holder_engine.dispose()
    waiter_engine.dispose()


def _sharing_a_lock_file(prefix: str) -> tuple[str, str]:
    """Two keys whose hashes fall into one of the 64 lock files of SQLite."""
    from helmforge.adapters.storage.publish_locks import _LOCK_FILES, _key_hash

    seen: dict[int, str] = {}
    for number in range(10_000):
        key = f"{prefix}{number}"
        slot = _key_hash(key) % _LOCK_FILES
        if slot in seen:
            return seen[slot], key
        seen[slot] = key
    raise AssertionError("no two keys share a lock file")


def test_a_git_write_does_not_hold_up_a_chart_publish_whose_key_shares_its_lock_file(
    database_url: str,
) -> None:
    # A parallel rollout wave builds and publishes charts while its group pushes: sharing a
    # lock file by hash made a publish wait for the push (and a push held for the others to
    # queue never ended).
    engine = create_database_engine(database_url)
    git_key, chart_key = _sharing_a_lock_file("registry:5000/charts/demo-")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with publish_lock(engine, git_key, wait=30, activity="Git write"):
            held.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        held.wait()
        with publish_lock(engine, chart_key, wait=0):
            pass
    finally:
        release.set()
        thread.join()
    engine.dispose()
