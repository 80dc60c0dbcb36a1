from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from helmforge.adapters.storage import database
from helmforge.adapters.storage.database import migrate, redacted_url

MIGRATIONS = Path(database.__file__).resolve().parent / "migrations"


def _stamped(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return sorted(row[0] for row in rows)


def test_migrate_is_idempotent_on_both_backends(engine: Engine) -> None:
    # The ``engine`` fixture migrated once; a second run must change nothing.
    tables = sorted(sa.inspect(engine).get_table_names())
    stamped = _stamped(engine)
    migrate(engine)
    assert _stamped(engine) == stamped
    assert sorted(sa.inspect(engine).get_table_names()) == tables
    # What is stamped reaches every script: each head, the ones others depend on, the base.
    scripts = ScriptDirectory(str(MIGRATIONS))
    applied = {revision.revision for revision in scripts.iterate_revisions(stamped, "base")}
    every = {revision.revision for revision in scripts.walk_revisions()}
    assert "publishing_0001" in every  # the scripts were found, more than one branch of them
    assert applied == every


def test_redacted_url_hides_the_password() -> None:
    assert redacted_url("postgresql://u:s3cret@db/x") == "postgresql://u:***@db/x"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    from tests.support.databases import fresh_database_url

    with fresh_database_url("postgresql", tmp_path) as url:
        yield url


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pings(engine: Engine) -> list[str]:
    """The ``SELECT 1`` pings the engine's dialect sends, counted."""
    seen: list[str] = []
    original = engine.dialect.do_ping

    def counted(connection: object) -> bool:
        seen.append("ping")
        return original(connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return seen


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
def test_a_pooled_connection_is_pinged_only_after_it_sat_idle(postgres_url: str) -> None:
    """pool_pre_ping pinged at every checkout, a round trip per session (a fifth of a values
    edit's CPU); a connection just checked in goes out again unpinged."""
    clock = _Clock()
    engine = database.create_database_engine(postgres_url, ping_after=10.0, clock=clock)
    try:
        pings = _pings(engine)
        first = _backend_pid(engine)
        for _ in range(5):
            clock.now += 1.0
            assert _backend_pid(engine) == first
        assert pings == []
        clock.now += 10.5
        assert _backend_pid(engine) == first
        assert pings == ["ping"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_that_died_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    clock = _Clock()
    engine = database.create_database_engine(postgres_url, ping_after=10.0, clock=clock)
    killer = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        victim = _backend_pid(engine)
        with killer.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        clock.now += 60.0  # idle a minute: the checkout pings, finds it dead, connects anew
        replacement = _backend_pid(engine)
        assert replacement != victim
    finally:
        killer.dispose()
        engine.dispose()
