"""services.registries: the database push recorder behind ``publish_archives``, and the
migration of the publishing branch, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from helmforge.adapters.secrets import new_key
from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.core.errors import ExternalServiceError
from helmforge.core.principals import SYSTEM
from helmforge.core.secrets import Secret
from helmforge.services import registries
from helmforge.services.publishing import ChartArchive, publish_archives
from tests.support.oci_charts import make_chart
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

pytestmark = [pytest.mark.registry, pytest.mark.xdist_group("registry")]


def test_recorder_keeps_every_successful_push(
    database_url: str, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    engine = create_database_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            heads = {
                r[0] for r in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            }
        assert "publishing_0001" in heads
        sessions = session_factory(engine)
        key = new_key()
        registries.create_registry(
            sessions,
            name="lab",
            url=f"oci://{basic_registry.authority}/{unique_path()}",
            key=key,
            actor=SYSTEM,
            username=ROBOT,
            password=Secret(CANARY_PASSWORD),
            plain_http=True,
        )
        config = registries._open(sessions, "lab", key=key)
        recorder = registries.DatabasePushRecorder(sessions, registry="lab")
        archives = [ChartArchive(f"{n}.tgz", make_chart(n)) for n in ("one", "two")]
        results = publish_archives(archives, config, actor="ci", recorder=recorder)
        assert [(r.status, str(r.error)) for r in results] == [("pushed", "None")] * 2
        publish_archives(archives[:1], config, actor="ci", recorder=recorder)
        pushes = registries.list_pushes(sessions, actor=SYSTEM, registry="lab")
        assert sorted((p.chart, p.status, p.actor) for p in pushes) == [
            ("one", "pushed", "ci"),
            ("one", "unchanged", "ci"),
            ("two", "pushed", "ci"),
        ]
        with pytest.raises(ExternalServiceError, match="cannot be decrypted"):
            registries._open(sessions, "lab", key=new_key())
    finally:
        engine.dispose()
