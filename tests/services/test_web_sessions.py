"""Browser sessions on SQLite and PostgreSQL: hashed ids, expiry, logout, purging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.services.web_sessions import close_session, open_session, resolve_session


def test_sessions_are_stored_hashed_expire_and_close(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cookie, state = open_session(sessions, user_id=7, lifetime=timedelta(hours=1), now=now)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT id_hash, csrf_token FROM web_sessions")).all()
    assert len(stored) == 1
    assert cookie not in stored[0][0]  # only the digest is kept
    found = resolve_session(sessions, cookie, now=now + timedelta(minutes=59))
    assert found is not None
    assert found.user_id == 7
    assert found.csrf_token == state.csrf_token
    assert resolve_session(sessions, cookie + "x", now=now) is None
    assert resolve_session(sessions, cookie, now=now + timedelta(hours=1)) is None
    assert resolve_session(sessions, cookie, now=now) is None  # an expired row is deleted
    second, _ = open_session(sessions, user_id=7, lifetime=timedelta(hours=1), now=now)
    close_session(sessions, second)
    assert resolve_session(sessions, second, now=now) is None


def test_expired_sessions_are_purged_when_new_ones_open(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(3):
        open_session(sessions, user_id=1, lifetime=timedelta(minutes=5), now=start)
    open_session(sessions, user_id=1, lifetime=timedelta(minutes=5), now=start + timedelta(hours=1))
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM web_sessions")).scalar_one()
    assert count == 1
