from __future__ import annotations

import sqlalchemy as sa

from helmforge.adapters.storage.database import create_database_engine, migrate, redacted_url


def test_migrate_is_idempotent_on_both_backends(database_url: str) -> None:
    engine = create_database_engine(database_url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        heads = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert ("base_0001",) in heads or len(heads) >= 1
    engine.dispose()


def test_redacted_url_hides_the_password() -> None:
    assert "s3cret" not in redacted_url("postgresql://u:s3cret@db/x")
