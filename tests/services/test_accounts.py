"""Accounts: Argon2id hashes, sign-in throttling that survives restarts, no user enumeration
(RELIABILITY 34), API tokens (RELIABILITY 36)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import argon2
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, session_factory
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.services import accounts

PASSWORD = "a long enough password"


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The shared migrated database's sessions, with creator ``alice``."""
    accounts.create_user(sessions, "alice", role="creator", password=PASSWORD, actor=SYSTEM)
    return sessions


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


class _CountingHasher:
    """The real hasher, noting the Argon2 parameters of every hash it verifies against."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verified: list[argon2.Parameters] = []

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(argon2.extract_parameters(stored))
        return self.real.verify(stored, password)


def test_unknown_names_take_as_long_as_known_ones(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same work, not a measured time: one Argon2 check at the users' cost for every name.
    hasher = _CountingHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    with sessions() as session:
        stored = session.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
    cost = argon2.extract_parameters(stored)
    now = datetime.now(UTC)
    # Different sources keep the throttle out of it.
    for index, name in enumerate(["alice", "ghost", "Not A Valid Name!"]):
        _fail(sessions, name, source=f"10.1.{index}.1", now=now)
        assert hasher.verified == [cost], name
        hasher.verified.clear()


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
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(sessions, created.token)
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(sessions, created.token[:-1] + "x")


def test_first_admin_is_created_once_with_a_generated_password(
    sessions: sessionmaker[Session],
) -> None:
    assert accounts.ensure_first_admin(sessions) is None  # alice exists already


def test_only_admins_create_users(sessions: sessionmaker[Session]) -> None:
    alice = accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.5.0.1")
    with pytest.raises(PermissionDeniedError, match=r"^alice may not user\.manage on helmforge: "):
        accounts.create_user(sessions, "bob", role="admin", password=PASSWORD, actor=alice)


# --- password changes -------------------------------------------------------------------------

NEW_PASSWORD = "another long password"


def _alice(sessions: sessionmaker[Session]) -> Principal:
    return accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.0.0.9")


def _audit_rows(sessions: sessionmaker[Session], action: str) -> list[str]:
    with sessions() as session:
        rows = session.execute(
            sa.text("SELECT * FROM audit_events WHERE action = :a"), {"a": action}
        ).all()
    return [repr(tuple(row)) for row in rows]


def test_change_password_proves_the_current_one(sessions: sessionmaker[Session]) -> None:
    alice = _alice(sessions)
    with pytest.raises(AuthenticationError, match="current password is wrong"):
        accounts.change_password(
            sessions, actor=alice, current_password="not my password", new_password=NEW_PASSWORD
        )
    accounts.change_password(
        sessions, actor=alice, current_password=PASSWORD, new_password=NEW_PASSWORD
    )
    with pytest.raises(AuthenticationError, match=r"^invalid user name or password$"):
        accounts.authenticate_password(sessions, "alice", PASSWORD, source="10.0.0.9")
    assert accounts.authenticate_password(sessions, "alice", NEW_PASSWORD, source="10.0.0.9")
    events = _audit_rows(sessions, "user.password_change")
    assert len(events) == 1
    assert PASSWORD not in events[0]
    assert NEW_PASSWORD not in events[0]
    assert "$argon2" not in events[0]


def test_wrong_current_passwords_lock_the_account(sessions: sessionmaker[Session]) -> None:
    alice = _alice(sessions)
    now = datetime.now(UTC)
    for _ in range(accounts.ACCOUNT_FAILURE_LIMIT):
        with pytest.raises(AuthenticationError, match="wrong"):
            accounts.change_password(
                sessions, actor=alice, current_password="guess!", new_password=NEW_PASSWORD, now=now
            )
    with pytest.raises(AuthenticationError, match="too many"):
        accounts.change_password(
            sessions, actor=alice, current_password=PASSWORD, new_password=NEW_PASSWORD, now=now
        )


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short", "at least 12"),
        ("x" * 1025, "at most 1024"),
        ("Alice", "at least 12"),
        (PASSWORD, "differ from the current"),
    ],
)
def test_change_password_policy(sessions: sessionmaker[Session], new: str, message: str) -> None:
    alice = _alice(sessions)
    with pytest.raises(InputError, match=message) as caught:
        accounts.change_password(sessions, actor=alice, current_password=PASSWORD, new_password=new)
    assert new not in caught.value.message


def test_the_name_is_no_password(sessions: sessionmaker[Session]) -> None:
    accounts.create_user(sessions, "bob.the.builder", role="user", password=PASSWORD, actor=SYSTEM)
    bob = accounts.authenticate_password(sessions, "bob.the.builder", PASSWORD, source="x")
    with pytest.raises(InputError, match="must not be the user name"):
        accounts.change_password(
            sessions, actor=bob, current_password=PASSWORD, new_password="Bob.The.Builder"
        )


def test_generated_admin_must_change_password(engine: Engine) -> None:
    sessions = session_factory(engine)  # no alice: the first admin is the only user
    password = accounts.ensure_first_admin(sessions)
    assert password is not None
    admin = accounts.authenticate_password(sessions, "admin", password, source="x")
    state = accounts.signed_in_user(sessions, admin.id)
    assert state is not None
    assert state.must_change_password
    accounts.change_password(
        sessions, actor=admin, current_password=password, new_password=NEW_PASSWORD
    )
    state = accounts.signed_in_user(sessions, admin.id)
    assert state is not None
    assert not state.must_change_password


def test_admin_set_password_forces_a_change(sessions: sessionmaker[Session]) -> None:
    alice = _alice(sessions)
    with pytest.raises(PermissionDeniedError, match=r"^alice may not user\.manage on helmforge: "):
        accounts.set_password(sessions, "alice", password=NEW_PASSWORD, actor=alice)
    with pytest.raises(NotFoundError, match=r"^user 'nobody' does not exist$"):
        accounts.set_password(sessions, "nobody", password=NEW_PASSWORD, actor=SYSTEM)
    with pytest.raises(InputError, match="at least 12"):
        accounts.set_password(sessions, "alice", password="short", actor=SYSTEM)
    accounts.set_password(sessions, "alice", password=NEW_PASSWORD, actor=SYSTEM)
    alice = accounts.authenticate_password(sessions, "alice", NEW_PASSWORD, source="x")
    state = accounts.signed_in_user(sessions, alice.id)
    assert state is not None
    assert state.must_change_password
    events = _audit_rows(sessions, "user.password_set")
    assert len(events) == 1
    assert NEW_PASSWORD not in events[0]
    assert "$argon2" not in events[0]
    with pytest.raises(InputError, match="differ"):
        accounts.change_password(
            sessions, actor=alice, current_password=NEW_PASSWORD, new_password=NEW_PASSWORD
        )
    accounts.change_password(
        sessions, actor=alice, current_password=NEW_PASSWORD, new_password=PASSWORD
    )
    state = accounts.signed_in_user(sessions, alice.id)
    assert state is not None
    assert not state.must_change_password


def test_password_change_signs_out_other_web_sessions(sessions: sessionmaker[Session]) -> None:
    from helmforge.services.web_sessions import open_session, resolve_session

    alice = _alice(sessions)
    mine, _ = open_session(sessions, user_id=alice.id, lifetime=timedelta(hours=1))
    other, _ = open_session(sessions, user_id=alice.id, lifetime=timedelta(hours=1))
    accounts.change_password(
        sessions,
        actor=alice,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        keep_session=mine,
    )
    assert resolve_session(sessions, mine) is not None
    assert resolve_session(sessions, other) is None
    accounts.set_password(sessions, "alice", password=PASSWORD, actor=SYSTEM)
    assert resolve_session(sessions, mine) is None
