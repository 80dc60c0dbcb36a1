"""Shared fixtures: every test runs with its own HOME and data directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

pytest_plugins = ["tests.support.registry"]


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Give each test a fresh HOME and HELMFORGE_DATA_DIR, and no HELMFORGE_* from outside."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("HELMFORGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HELMFORGE_DATA_DIR", str(home / "helmforge-data"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "helmforge tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@helmforge.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "helmforge tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@helmforge.invalid")
    return home


# TEST_SHARED_DATA points a work tree outside /work at the same data.
SHARED_DATA = Path(
    os.environ.get("TEST_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only reference data beside the repository (../shared/data)."""
    assert SHARED_DATA.is_dir(), f"reference data missing at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, on SQLite and on PostgreSQL: every storage test runs on both."""
    from tests.support.databases import fresh_database_url

    with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url``, migrated to the newest schema; disposed afterwards."""
    from helmforge.adapters.storage.database import create_database_engine, migrate

    engine = create_database_engine(database_url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the migrated ``engine``."""
    from helmforge.adapters.storage.database import session_factory

    return session_factory(engine)
