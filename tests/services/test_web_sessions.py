"""Browser sessions on SQLite and PostgreSQL: hashed ids, expiry, logout, purging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage import database
from helmforge.adapters.storage.database import create_database_engine, migrate
from helmforge.services.web_sessions import (
    MAX_SESSIONS_PER_USER,
    close_session,
    open_session,
    renew_groups,
    resolve_session,
)


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


def test_unlimited_sessions_per_user_signing_in_past_the_cap_ends_the_oldest(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cookies = [
        open_session(
            sessions, user_id=3, lifetime=timedelta(hours=1), now=start + timedelta(seconds=n)
        )[0]
        for n in range(MAX_SESSIONS_PER_USER + 5)
    ]
    other, _ = open_session(sessions, user_id=4, lifetime=timedelta(hours=1), now=start)
    later = start + timedelta(minutes=1)
    alive = [resolve_session(sessions, cookie, now=later) is not None for cookie in cookies]
    assert alive == [False] * 5 + [True] * MAX_SESSIONS_PER_USER
    assert resolve_session(sessions, other, now=later) is not None  # other users keep theirs
    with engine.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM web_sessions WHERE user_id = 3")
        ).scalar_one()
    assert count == MAX_SESSIONS_PER_USER


def test_sso_groups_are_due_at_their_validity_and_a_check_renews_them_in_place(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    valid = now + timedelta(minutes=15)
    cookie, state = open_session(
        sessions,
        user_id=5,
        lifetime=timedelta(hours=8),
        now=now,
        groups=("platform-sre",),
        groups_valid_until=valid,
    )
    found = resolve_session(sessions, cookie, now=now + timedelta(minutes=14))
    assert found is not None
    assert not found.groups_due(now + timedelta(minutes=14))
    assert found.groups_due(valid)
    later = valid + timedelta(minutes=1)
    # Only the user's own live session is renewed.
    assert not renew_groups(sessions, cookie, user_id=6, groups=(), valid_until=later, now=later)
    assert not renew_groups(sessions, cookie + "x", user_id=5, groups=(), valid_until=later)
    renewed_until = later + timedelta(minutes=15)
    assert renew_groups(
        sessions, cookie, user_id=5, groups=("marketing",), valid_until=renewed_until, now=later
    )
    renewed = resolve_session(sessions, cookie, now=later)
    assert renewed is not None
    assert (renewed.groups, renewed.groups_valid_until) == (("marketing",), renewed_until)
    assert (renewed.csrf_token, renewed.expires_at) == (state.csrf_token, state.expires_at)
    end = now + timedelta(hours=8)
    assert not renew_groups(sessions, cookie, user_id=5, groups=(), valid_until=end, now=end)
    local, _ = open_session(sessions, user_id=7, lifetime=timedelta(hours=8), now=now)
    kept = resolve_session(sessions, local, now=now + timedelta(hours=7))
    assert kept is not None
    assert not kept.groups_due(now + timedelta(hours=7))


def test_sso_sessions_open_before_the_migration_are_due_for_a_check(database_url: str) -> None:
    engine = create_database_engine(database_url)
    try:
        # Alembic cannot upgrade straight to oidc_0002 across the branches it depends on:
        # all the way up, then down through oidc_0003's downgrade.
        migrate(engine)
        config = Config()
        migrations = Path(database.__file__).parent / "migrations"
        config.set_main_option("script_location", str(migrations))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "oidc_0002")
        with engine.begin() as connection:
            for user_id, name in ((1, "carol@sso"), (2, "admin")):
                connection.execute(
                    sa.text(
                        "INSERT INTO users (id, name, role, password_hash, created_at, disabled, "
                        "must_change_password) VALUES (:id, :name, 'sso', '!sso', "
                        "CURRENT_TIMESTAMP, false, false)"
                    ),
                    {"id": user_id, "name": name},
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, "
                        "expires_at, groups) VALUES (:hash, :id, 'c', :at, :end, :groups)"
                    ),
                    {
                        "hash": f"{user_id:064d}",
                        "id": user_id,
                        # Text: sqlite3's datetime adapter is deprecated.
                        "at": "2026-01-01 00:00:00.000000",
                        "end": "2026-01-01 08:00:00.000000",
                        "groups": "platform-sre" if user_id == 1 else "",
                    },
                )
            connection.execute(
                sa.text(
                    "INSERT INTO oidc_identities (issuer, subject, user_id, created_at, "
                    "last_sign_in_at) VALUES ('https://id', 'c-1', 1, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT user_id, groups_valid_until FROM web_sessions ORDER BY user_id")
            ).all()
        sso, local = rows
        # The SSO session's groups were never checked after sign-in: due at once.
        assert sso[1] is not None
        assert local[1] is None
    finally:
        engine.dispose()
