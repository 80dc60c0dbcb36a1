"""Shared fixtures: every test runs with its own HOME and data directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

pytest_plugins = ["tests.support.registry", "pytester"]

# No property test depends on the machine's speed: no per-example deadline, and no health check
# that fails when generating data is slow. A failure prints the blob that reproduces it.
settings.register_profile(
    "helmforge",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("helmforge")


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
_NO_SHARED_DATA = (
    f"../shared/data (public manifests, Argo CD CRDs) is not beside the repository at "
    f"{SHARED_DATA} (TEST_SHARED_DATA may name it)"
)
_NOT_RUN = "not run"  # the outcome of a test whose shared data is absent, counted on its own


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only reference data beside the repository (../shared/data).

    Absent, the test is not run, and the run says so once at the end; under CI (any non-empty
    ``CI``) the test fails instead: CI never passes by leaving tests out.
    """
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {_NO_SHARED_DATA}", pytrace=False)
        pytest.skip(_NO_SHARED_DATA)
    return SHARED_DATA


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """Count the tests left out for missing shared data apart from other skips, so that ``-ra``
    does not list them one by one."""
    if (
        report.skipped
        and isinstance(report.longrepr, tuple)
        and report.longrepr[2].endswith(_NO_SHARED_DATA)
    ):
        return _NOT_RUN, "n", "NOT RUN"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    not_run = len(terminalreporter.stats.get(_NOT_RUN, []))
    if not_run:
        tests = "test" if not_run == 1 else "tests"
        terminalreporter.write_line(f"{not_run} {tests} not run: {_NO_SHARED_DATA}", yellow=True)


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
