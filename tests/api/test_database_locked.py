"""SQLite locked by another process: the API answers 503 with Retry-After, not 500."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import event

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.api.conftest import make_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    # The server waits 10 s for a lock before giving up; the test needs the giving up, not
    # the wait (runs after the server's own connect hook, which sets the 10 s).
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def test_sqlite_locked_by_another_process_answers_503_with_retry_after(tmp_path: Path) -> None:
    database = tmp_path / "helmforge.db"
    app, _password = make_app(f"sqlite:///{database}", tmp_path / "data")
    engine = state_of(app).engine
    event.listen(engine, "connect", _no_busy_wait)
    engine.dispose()
    token = accounts.create_token(state_of(app).sessions, user="admin", actor=SYSTEM).token
    other = sqlite3.connect(database, isolation_level=None)
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            other.execute("BEGIN EXCLUSIVE")
            locked = client.post("/api/v1/tokens", json={"label": "while locked"})
            assert locked.status_code == 503, locked.text
            assert locked.headers["retry-after"] == "2"
            assert locked.json()["error"] == "UnavailableError"
            assert "locked by another process" in locked.json()["message"]
            other.execute("ROLLBACK")
            retried = client.post("/api/v1/tokens", json={"label": "after the lock"})
            assert retried.status_code == 201, retried.text
    finally:
        other.close()
        engine.dispose()
