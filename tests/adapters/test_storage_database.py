from __future__ import annotations

from pathlib import Path

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
    migrate(engine)
    heads = sorted(ScriptDirectory(str(MIGRATIONS)).get_heads())
    assert "publishing_0001" in heads  # the scripts were found: more than one branch
    assert _stamped(engine) == heads  # every head once, nothing else
    assert sorted(sa.inspect(engine).get_table_names()) == tables


def test_redacted_url_hides_the_password() -> None:
    assert "s3cret" not in redacted_url("postgresql://u:s3cret@db/x")
