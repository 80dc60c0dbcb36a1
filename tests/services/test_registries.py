"""services.chart_pushes: the database push recorder behind ``publish_archives``, and the
migration of the publishing branch, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.oci import RegistryClient
from helmforge.adapters.secrets import new_key
from helmforge.core.access.principals import SYSTEM, local_operator
from helmforge.core.errors import ExternalServiceError
from helmforge.core.oci.references import Registry
from helmforge.services import chart_builds, chart_pushes, registries, template_store
from helmforge.services.publishing import ChartArchive, publish_archives
from tests.support.charts import CONTEXT, example_text
from tests.support.oci_charts import make_chart
from tests.support.registries import create_lab_registry
from tests.support.registry import RegistryServer

OPERATOR = local_operator("ci")

pytestmark = [pytest.mark.registry]


def test_recorder_keeps_every_successful_push(
    engine: Engine, sessions: sessionmaker[Session], basic_registry: RegistryServer, tmp_path: Path
) -> None:
    with engine.connect() as connection:
        heads = {
            r[0] for r in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        }
    assert "publishing_0001" in heads
    key = create_lab_registry(sessions, basic_registry.authority)
    config = registries.open_config(sessions, "lab", key=key)
    recorder = chart_pushes.DatabasePushRecorder(sessions, registry="lab")
    archives = [ChartArchive(f"{n}.tgz", make_chart(n)) for n in ("one", "two")]
    results = publish_archives(archives, config, actor=OPERATOR, recorder=recorder)
    assert [(r.status, str(r.error)) for r in results] == [("pushed", "None")] * 2
    publish_archives(archives[:1], config, actor=OPERATOR, recorder=recorder)
    pushes = chart_pushes.list_pushes(sessions, actor=SYSTEM, registry="lab")
    assert sorted((p.chart, p.status, p.actor) for p in pushes) == [
        ("one", "pushed", "ci"),
        ("one", "unchanged", "ci"),
        ("two", "pushed", "ci"),
    ]
    with pytest.raises(ExternalServiceError, match="cannot be decrypted"):
        registries.open_config(sessions, "lab", key=new_key())


class RacingClient(RegistryClient):
    """Lets another publisher take the next version right after our first tag-list read."""

    def __init__(self, registry: Registry, intruder: bytes) -> None:
        super().__init__(registry)
        self._intruder: bytes | None = intruder

    def list_tags(self, repository: str, *, page_size: int = 100) -> list[str]:
        tags = super().list_tags(repository, page_size=page_size)
        if self._intruder is not None:
            intruder, self._intruder = self._intruder, None
            (other,) = publish_archives(
                [ChartArchive("other.tgz", intruder)], self.registry, actor=OPERATOR
            )
            assert other.status == "pushed"
        return tags


def test_auto_chooses_again_when_another_publish_takes_the_version(
    engine: Engine, sessions: sessionmaker[Session], basic_registry: RegistryServer
) -> None:
    text = example_text(name="auto-race", version="1.0.0").replace(
        '  kubernetesVersion: "1.31"\n',
        '  kubernetesVersion: "1.31"\n  chartVersionPolicy: auto\n',
    )
    template_store.create_version(sessions, text, actor=SYSTEM)
    template_store.publish_version(sessions, "auto-race", "1.0.0", actor=SYSTEM)
    key = create_lab_registry(sessions, basic_registry.authority)
    first = chart_builds.build_chart(
        sessions, template="auto-race@1.0.0", context=CONTEXT, actor=SYSTEM
    )
    assert (
        chart_pushes.publish_build(
            sessions, first.id, registry="lab", key=key, actor=SYSTEM
        ).version
        == "0.1.0"
    )
    changed = chart_builds.build_chart(
        sessions,
        template="auto-race@1.0.0",
        context=CONTEXT,
        values={"replicaCount": 9},
        actor=SYSTEM,
    )
    client = RacingClient(
        registries.open_config(sessions, "lab", key=key), make_chart(changed.name, "0.1.1")
    )
    try:
        outcome = chart_pushes.publish_build(
            sessions, changed.id, registry="lab", key=key, actor=SYSTEM, client=client
        )
    finally:
        client.close()
    assert (outcome.version, outcome.status) == ("0.1.2", "pushed")
    statuses = [(p.version, p.status) for p in chart_pushes.list_pushes(sessions, actor=SYSTEM)]
    assert statuses[0] == ("0.1.2", "pushed")
