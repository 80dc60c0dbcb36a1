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
