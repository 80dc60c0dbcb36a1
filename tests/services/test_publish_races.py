"""Publishing one chart from many threads at once, and after a crash, on SQLite and PostgreSQL,
against Debian's docker-registry: one version only ever gets one content."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue as QueueType
from multiprocessing.synchronize import Barrier as BarrierType

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.oci import RegistryClient
from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.adapters.storage.publishing_tables import PushRow
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import ConflictError
from helmforge.core.oci.artifacts import layer_digest_of
from helmforge.core.oci.chart_versions import tag_for_version
from helmforge.services import audit_trail, chart_builds, chart_pushes, registries, template_store
from helmforge.services.publishing import ChartArchive, publish_archives
from tests.support.charts import CONTEXT, example_text
from tests.support.registries import create_lab_registry
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

PUBLISHERS = 10


@dataclass
class Store:
    """Two session factories on two engines: two server processes' connection pools."""

    sessions: list[sessionmaker[Session]]
    key: bytes

    @property
    def first(self) -> sessionmaker[Session]:
        return self.sessions[0]


@pytest.fixture
def store(database_url: str, basic_registry: RegistryServer) -> Iterator[Store]:
    engines = [create_database_engine(database_url) for _ in range(2)]
    try:
        migrate(engines[0])
        sessions = [session_factory(engine) for engine in engines]
        key = create_lab_registry(sessions[0], basic_registry.authority)
        yield Store(sessions=sessions, key=key)
    finally:
        for engine in engines:
            engine.dispose()


def add_template(store: Store, name: str, *, auto: bool = False) -> str:
    text = example_text(name=name, version="1.0.0")
    if auto:
        text = text.replace(
            '  kubernetesVersion: "1.31"\n',
            '  kubernetesVersion: "1.31"\n  chartVersionPolicy: auto\n',
        )
    template_store.create_version(store.first, text, actor=SYSTEM)
    template_store.publish_version(store.first, name, "1.0.0", actor=SYSTEM)
    return f"{name}@1.0.0"


def builds_of(store: Store, template: str, count: int) -> list[chart_builds.ChartBuildView]:
    """``count`` builds of one template whose content differs (replicaCount)."""
    return [
        chart_builds.build_chart(
            store.first,
            template=template,
            context=CONTEXT,
            values={"replicaCount": 2 + i},
            actor=SYSTEM,
        )
        for i in range(count)
    ]


def all_at_once[T](calls: list[Callable[[], T]]) -> list[T | Exception]:
    """Run every call on its own thread, released together; each one's result or error."""
    start = threading.Barrier(len(calls))
    outcomes: list[T | Exception] = [RuntimeError("did not run")] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as error:  # the test inspects every outcome
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def tag_layer(store: Store, repository: str, version: str) -> str | None:
    config = registries.open_config(store.first, "lab", key=store.key)
    with RegistryClient(config) as client:
        manifest = client.get_manifest(repository, tag_for_version(version))
    assert manifest is not None
    return layer_digest_of(manifest.data)


def publisher(store: Store, build_id: str, index: int) -> Callable[[], chart_pushes.PublishOutcome]:
    sessions = store.sessions[index % len(store.sessions)]
    return lambda: chart_pushes.publish_build(
        sessions, build_id, registry="lab", key=store.key, actor=SYSTEM
    )


def test_parallel_publishes_of_one_version_with_different_content_have_one_winner(
    store: Store,
) -> None:
    template = add_template(store, "race")
    builds = builds_of(store, template, PUBLISHERS)
    assert len({b.version for b in builds}) == 1
    assert len({b.digest for b in builds}) == PUBLISHERS

    outcomes = all_at_once([publisher(store, b.id, i) for i, b in enumerate(builds)])

    winners = [o for o in outcomes if isinstance(o, chart_pushes.PublishOutcome)]
    losers = [o for o in outcomes if isinstance(o, ConflictError)]
    assert [w.status for w in winners] == ["pushed"], outcomes
    assert len(losers) == PUBLISHERS - 1, outcomes
    (winner,) = winners
    for loser in losers:
        assert winner.layer_digest in str(loser)
        assert "this archive's layer is sha256:" in str(loser)
    assert tag_layer(store, winner.repository, winner.version) == winner.layer_digest
    pushes = chart_pushes.list_pushes(store.first, actor=SYSTEM, registry="lab")
    assert sorted(p.status for p in pushes) == ["failed"] * (PUBLISHERS - 1) + ["pushed"]


def publish_from_a_process(
    url: str,
    key: bytes,
    build_ids: list[str],
    start: BarrierType,
    results: QueueType[tuple[str, str, str]],
) -> None:
    """A server process of its own: its engine, its pool, one thread per build."""
    engine = create_database_engine(url)
    sessions = session_factory(engine)

    def one(build_id: str) -> None:
        start.wait()
        try:
            outcome = chart_pushes.publish_build(
                sessions, build_id, registry="lab", key=key, actor=SYSTEM
            )
        except ConflictError as error:
            results.put(("conflict", str(error), ""))
        except Exception as error:  # reported to the test, which fails on it
            results.put(("error", repr(error), ""))
        else:
            results.put((outcome.status, outcome.layer_digest, outcome.repository))

    threads = [threading.Thread(target=one, args=(b,)) for b in build_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()


@pytest.mark.slow  # three Python processes start
def test_parallel_publishes_from_several_processes_have_one_winner(
    store: Store, database_url: str
) -> None:
    template = add_template(store, "multi")
    builds = builds_of(store, template, 12)
    processes = 3
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(builds))
    results: QueueType[tuple[str, str, str]] = context.Queue()
    workers = [
        context.Process(
            target=publish_from_a_process,
            args=(database_url, store.key, [b.id for b in builds[i::processes]], start, results),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in builds]
    for worker in workers:
        worker.join()
    assert sorted(o[0] for o in outcomes) == ["conflict"] * 11 + ["pushed"], outcomes
    ((_, winner, repository),) = [o for o in outcomes if o[0] == "pushed"]
    assert all(winner in text for status, text, _ in outcomes if status == "conflict")
    assert tag_layer(store, repository, builds[0].version) == winner


def test_parallel_auto_publishes_give_each_content_its_own_version(store: Store) -> None:
    template = add_template(store, "auto-race", auto=True)
    builds = builds_of(store, template, PUBLISHERS)

    outcomes = all_at_once([publisher(store, b.id, i) for i, b in enumerate(builds)])

    assert all(isinstance(o, chart_pushes.PublishOutcome) for o in outcomes), outcomes
    published = [o for o in outcomes if isinstance(o, chart_pushes.PublishOutcome)]
    assert {o.status for o in published} == {"pushed"}
    assert sorted(o.version for o in published) == [f"0.1.{i}" for i in range(PUBLISHERS)]
    assert len({o.layer_digest for o in published}) == PUBLISHERS
    for outcome in published:
        assert tag_layer(store, outcome.repository, outcome.version) == outcome.layer_digest


def test_push_left_unrecorded_by_a_crash_is_reconciled_on_the_next_publish(store: Store) -> None:
    template = add_template(store, "crashed")
    first, other = builds_of(store, template, 2)
    # The crash point: the registry has the chart, the database no push of it.
    _, archive = chart_builds.get_archive(store.first, first.id, actor=SYSTEM)
    config = registries.open_config(store.first, "lab", key=store.key)
    (pushed,) = publish_archives([ChartArchive("crashed.tgz", archive)], config, actor=SYSTEM)
    assert pushed.status == "pushed"

    outcome = chart_pushes.publish_build(
        store.first, first.id, registry="lab", key=store.key, actor=SYSTEM
    )
    assert (outcome.status, outcome.manifest_digest) == ("pushed", pushed.manifest_digest)
    (event,) = audit_trail.list_events(store.first, actor=SYSTEM, action="chart.publish")
    assert event.after is not None
    assert event.after["reconciled"] is True

    again = chart_pushes.publish_build(
        store.first, first.id, registry="lab", key=store.key, actor=SYSTEM
    )
    assert again.status == "unchanged"
    with pytest.raises(ConflictError, match=first.digest):
        chart_pushes.publish_build(
            store.first, other.id, registry="lab", key=store.key, actor=SYSTEM
        )
    with store.first() as session:
        rows = session.execute(
            sa.select(PushRow.build_id, PushRow.status).order_by(PushRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (first.id, "pushed"),
        (first.id, "unchanged"),
        (other.id, "failed"),
    ]
