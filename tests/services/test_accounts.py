"""Accounts: Argon2id hashes, sign-in throttling that survives restarts, no user enumeration
(RELIABILITY 34), API tokens (RELIABILITY 36)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.core.errors import AuthenticationError, PermissionDeniedError
from helmforge.core.principals import SYSTEM, Principal
from helmforge.services import accounts

PASSWORD = "a long enough password"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_database_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    accounts.create_user(sessions, "alice", role="creator", password=PASSWORD, actor=SYSTEM)
    yield sessions
    engine.dispose()


def _fail(sessions: sessionmaker[Session], name: str, *, source: str, now: datetime) -> str:
    with pytest.raises(AuthenticationError) as caught:
        accounts.authenticate_password(sessions, name, "wrong password!", source=source, now=now)
    return caught.value.message


def test_passwords_are_stored_as_argon2id(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        stored = session.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    principal = accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.0.0.1")
    assert principal == Principal(name="alice", role="creator", kind="user", id=principal.id)


def test_unknown_and_known_names_get_the_same_message(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    known = _fail(sessions, "alice", source="10.0.0.1", now=now)
    unknown = _fail(sessions, "nobody", source="10.0.0.2", now=now)
    assert known == unknown == "invalid user name or password"


def test_unknown_names_take_as_long_as_known_ones(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)

    def timed(name: str, index: int) -> float:
        started = time.perf_counter()
        _fail(sessions, name, source=f"10.1.{index}.1", now=now)
        return time.perf_counter() - started

    # Different sources and fresh names keep the throttle out of the measurement.
    known, unknown = [], []
    for index in range(4):
        accounts.create_user(sessions, f"user{index}", role="user", password=PASSWORD, actor=SYSTEM)
        known.append(timed(f"user{index}", index))
        unknown.append(timed(f"ghost{index}", 100 + index))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


def test_account_is_throttled_and_the_counter_survives_a_restart(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    now = datetime.now(UTC)
    for attempt in range(accounts.ACCOUNT_FAILURE_LIMIT):
        _fail(sessions, "alice", source=f"10.2.0.{attempt}", now=now)
    # A new engine and session factory: as after a server restart.
    engine = create_database_engine(database_url)
    restarted = session_factory(engine)
    with pytest.raises(AuthenticationError, match="too many failed sign-ins"):
        accounts.authenticate_password(restarted, "alice", PASSWORD, source="10.9.9.9", now=now)
    later = now + accounts.LOCKOUT + timedelta(seconds=1)
    accounts.authenticate_password(restarted, "alice", PASSWORD, source="10.9.9.9", now=later)
    engine.dispose()


def test_unknown_accounts_are_throttled_the_same_way(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    messages = set()
    for name in ("alice", "nobody"):
        for attempt in range(accounts.ACCOUNT_FAILURE_LIMIT):
            _fail(sessions, name, source=f"10.3.{attempt}.{len(name)}", now=now)
        messages.add(_fail(sessions, name, source="10.3.99.99", now=now))
    assert len(messages) == 1
    assert "too many failed sign-ins" in messages.pop()


def test_a_source_is_throttled_across_accounts(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    for attempt in range(accounts.SOURCE_FAILURE_LIMIT):
        _fail(sessions, f"guess{attempt}", source="192.0.2.7", now=now)
    with pytest.raises(AuthenticationError, match="too many failed sign-ins"):
        accounts.authenticate_password(sessions, "alice", PASSWORD, source="192.0.2.7", now=now)
    accounts.authenticate_password(sessions, "alice", PASSWORD, source="192.0.2.8", now=now)


def test_success_resets_the_account_counter(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    for attempt in range(accounts.ACCOUNT_FAILURE_LIMIT - 1):
        _fail(sessions, "alice", source=f"10.4.0.{attempt}", now=now)
    accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.4.1.1", now=now)
    for attempt in range(accounts.ACCOUNT_FAILURE_LIMIT - 1):
        _fail(sessions, "alice", source=f"10.4.2.{attempt}", now=now)
    accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.4.1.1", now=now)


def test_tokens_are_hashed_and_revocable_at_once(sessions: sessionmaker[Session]) -> None:
    created = accounts.create_token(sessions, user="alice", label="ci", actor=SYSTEM)
    assert accounts.principal_for_token(sessions, created.token).name == "alice"
    with sessions() as session:
        columns = session.execute(sa.text("SELECT * FROM api_tokens")).one()
    assert created.token not in str(columns)
    accounts.revoke_token(sessions, created.view.id, actor=SYSTEM)
    with pytest.raises(AuthenticationError):
        accounts.principal_for_token(sessions, created.token)
    with pytest.raises(AuthenticationError):
        accounts.principal_for_token(sessions, created.token[:-1] + "x")


def test_first_admin_is_created_once_with_a_generated_password(
    sessions: sessionmaker[Session],
) -> None:
    assert accounts.ensure_first_admin(sessions) is None  # alice exists already


def test_only_admins_create_users(sessions: sessionmaker[Session]) -> None:
    alice = accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.5.0.1")
    with pytest.raises(PermissionDeniedError):
        accounts.create_user(sessions, "bob", role="admin", password=PASSWORD, actor=alice)
