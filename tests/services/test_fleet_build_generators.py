"""A build's generator (``chart_builds.generator``, Alembic ``server_0002``), on SQLite and
PostgreSQL: builds recorded before the revision keep their bytes and have no generator (what
built them is not known); the column takes what ``generator()`` says produces a build's
bytes."""

from __future__ import annotations

import platform
import zlib
from datetime import UTC, datetime

import sqlalchemy as sa
import yaml

from helmforge import __version__
from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.principals import SYSTEM
from helmforge.services import chart_builds


def test_builds_from_before_the_migration_have_no_generator_and_new_ones_record_it(
    database_url: str,
) -> None:
    engine = create_database_engine(database_url)
    try:
        migrate(engine, target="server_0001")
        old = {
            "id": "0" * 32,
            "template_name": "web-service",
            "template_version": "1.2.0",
            "context": {"product": "shop"},
            "values": {},
            "chart_name": "shop-acme-dev-eu-1",
            "chart_version": "1.2.0",
            "app_version": "3.4.0",
            "digest": "sha256:" + "a" * 64,
            "size": 3,
            "archive": b"tgz",
            "created_by": "admin",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
        columns = ChartBuildRow.__table__.c
        before = sa.table("chart_builds", *(sa.column(name, columns[name].type) for name in old))
        with engine.begin() as connection:
            connection.execute(sa.insert(before), [old])
        migrate(engine)
        sessions = session_factory(engine)
        build = chart_builds.get_build(sessions, old["id"], actor=SYSTEM)
        assert (build.digest, build.generator) == (old["digest"], None)
        with sessions.begin() as session:
            row = session.get(ChartBuildRow, old["id"])
            assert row is not None
            row.generator = chart_builds.generator()
        assert chart_builds.get_build(sessions, old["id"], actor=SYSTEM).generator == {
            "helmforge": __version__,
            "python": platform.python_version(),
            "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "pyyaml": yaml.__version__,
        }
    finally:
        engine.dispose()
