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
