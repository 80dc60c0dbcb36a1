"""Creating templates from many threads at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, migrate, session_factory
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import ConflictError
from helmforge.services import template_store
from tests.support.charts import example_text

CREATORS = 10


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_database_engine(database_url)
    try:
        migrate(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()


def create_all_at_once(sessions: sessionmaker[Session], texts: list[str]) -> list[object]:
    start = threading.Barrier(len(texts))
    outcomes: list[object] = [None] * len(texts)

    def create(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = template_store.create_version(sessions, texts[index], actor=SYSTEM)
        except Exception as error:  # the test inspects every outcome
            outcomes[index] = error

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_parallel_creation_of_different_versions_of_a_new_template_gives_no_false_conflict(
    sessions: sessionmaker[Session],
) -> None:
    texts = [example_text(name="fresh", version=f"1.0.{i}") for i in range(CREATORS)]
    outcomes = create_all_at_once(sessions, texts)
    assert [type(o).__name__ for o in outcomes] == ["TemplateVersionView"] * CREATORS, outcomes
    versions = template_store.list_versions(sessions, "fresh", actor=SYSTEM)
    assert sorted(v.version for v in versions) == sorted(f"1.0.{i}" for i in range(CREATORS))


def test_parallel_creation_of_one_version_still_conflicts_for_all_but_one(
    sessions: sessionmaker[Session],
) -> None:
    outcomes = create_all_at_once(sessions, [example_text(name="same")] * CREATORS)
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(conflicts) == CREATORS - 1, outcomes
    assert all("template same@1.2.0 already exists" in str(c) for c in conflicts)
