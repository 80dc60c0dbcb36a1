"""The access checks of the hot paths, on SQLite and PostgreSQL: ``require_on`` (the chart
build's check on its own connection) reads the policy as it is now, so a binding removed or a
policy imported by another process is effective on the very next request, and a denial is
still audited; filtered build lists fill their page from every readable build, not only from
the newest ``limit`` ones."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import create_database_engine, session_factory
from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import PermissionDeniedError
from helmforge.services import access, audit_trail, chart_builds

ADMIN = Principal(name="root", role="admin", kind="user", id=1)
OLGA = Principal(name="olga", role="template-user", kind="user", id=2)
ACME = Target.of_context("shop", "acme", "dev", "a1")


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        access.bind_role(session, subject="user:root", role="admin", scope="*/*/*/*", actor=SYSTEM)
    return sessions


def _in_another_process(database_url: str, code: str) -> None:
    """Run ``code`` (with ``access``, ``SYSTEM`` and ``sessions`` on ``database_url``) in a
    separate Python process: nothing it does can reach this process's memory."""
    prelude = (
        "import sys\n"
        "from helmforge.adapters.storage.database import create_database_engine, "
        "session_factory\n"
        "from helmforge.core.access.principals import SYSTEM\n"
        "from helmforge.services import access\n"
        "engine = create_database_engine(sys.argv[1])\n"
        "sessions = session_factory(engine)\n"
    )
    subprocess.run(
        [sys.executable, "-c", prelude + code + "\nengine.dispose()\n", database_url],
        check=True,
        timeout=120,
    )


def _check_on(engine: Engine, sessions: sessionmaker[Session], target: Target) -> None:
    with engine.connect() as connection:
        access.require_on(connection, sessions, OLGA, "chart.build", target)
        connection.rollback()


def test_a_binding_removed_by_another_process_is_effective_on_the_very_next_build_check(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    binding = access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="shop/*/*/*", actor=ADMIN
    )
    # The checking side has its own engine and has answered (and parsed) this policy before.
    engine = create_database_engine(database_url)
    try:
        checking = session_factory(engine)
        _check_on(engine, checking, ACME)
        _check_on(engine, checking, ACME)
        _in_another_process(
            database_url,
            f"access.remove_binding(sessions, {binding.id}, actor=SYSTEM)",
        )
        with pytest.raises(
            PermissionDeniedError,
            match=r"^olga may not chart.build on shop/acme/dev/a1: no binding grants",
        ):
            _check_on(engine, checking, ACME)
    finally:
        engine.dispose()
    [denial] = audit_trail.list_events(sessions, actor=SYSTEM, action="access.deny")
    assert (denial.actor, denial.target) == ("olga", "shop/acme/dev/a1")
    assert denial.after["permission"] == "chart.build"


def test_a_policy_imported_by_another_process_is_effective_on_the_very_next_build_check(
    sessions: sessionmaker[Session], database_url: str
) -> None:
    access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="*/*/*/*", actor=ADMIN
    )
    engine = create_database_engine(database_url)
    try:
        checking = session_factory(engine)
        _check_on(engine, checking, ACME)
        _in_another_process(
            database_url,
            "access.import_policy(sessions, 'p, role:template-user, chart, build, "
            "*/*/dev/*, deny\\ng, user:root, role:admin\\ng, user:olga, role:template-user\\n', "
            "actor=SYSTEM)",
        )
        with pytest.raises(PermissionDeniedError, match=r"denied by 'p, role:template-user"):
            _check_on(engine, checking, ACME)
        _check_on(engine, checking, Target.of_context("shop", "acme", "prod", "a1"))
    finally:
        engine.dispose()


def test_require_on_answers_as_require_does(sessions: sessionmaker[Session]) -> None:
    access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="shop/acme/*/*", actor=ADMIN
    )
    engine = sessions.kw["bind"]
    other = Target.of_context("shop", "bolt", "dev", "a1")
    assert access.require(sessions, OLGA, "chart.build", ACME)
    _check_on(engine, sessions, ACME)
    with pytest.raises(PermissionDeniedError, match=r"olga may not chart.build on shop/bolt"):
        access.require(sessions, OLGA, "chart.build", other)
    with pytest.raises(PermissionDeniedError, match=r"olga may not chart.build on shop/bolt"):
        _check_on(engine, sessions, other)
    assert len(audit_trail.list_events(sessions, actor=SYSTEM, action="access.deny")) == 2


def _record_builds(sessions: sessionmaker[Session], customers: list[str]) -> list[str]:
    """One recorded build per customer, the first one oldest; returns their ids."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    with sessions.begin() as session:
        for number, customer in enumerate(customers):
            build_id = uuid.uuid4().hex
            ids.append(build_id)
            session.add(
                ChartBuildRow(
                    id=build_id,
                    template_name="web-service",
                    template_version="1.2.0",
                    context={
                        "product": "shop",
                        "customer": customer,
                        "environment": "dev",
                        "instance": "a1",
                        "version": "1.0.0",
                    },
                    values={},
                    chart_name="shop",
                    chart_version="1.0.0",
                    app_version="1.0.0",
                    digest="sha256:" + "0" * 64,
                    size=1,
                    archive=b"-",
                    created_by="root",
                    created_at=start + timedelta(seconds=number),
                )
            )
    return ids


def test_a_reader_of_few_contexts_gets_a_full_page_of_builds_not_the_readable_part_of_the_newest(
    sessions: sessionmaker[Session],
) -> None:
    # The defect: the page's limit was applied before the access filter, so olga, who may
    # read acme's builds only, got none of the newest 3 and never saw acme's older ones.
    ids = _record_builds(sessions, ["acme", "bolt", "acme", "acme", "bolt", "bolt", "bolt"])
    access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="shop/acme/*/*", actor=ADMIN
    )
    page = chart_builds.list_builds(sessions, actor=OLGA, limit=3)
    assert [view.id for view in page] == [ids[3], ids[2], ids[0]]
    assert [view.id for view in chart_builds.list_builds(sessions, actor=OLGA, limit=2)] == [
        ids[3],
        ids[2],
    ]
    everything = chart_builds.list_builds(sessions, actor=ADMIN, limit=100)
    assert [view.id for view in everything] == ids[::-1]
    assert chart_builds.list_builds(sessions, actor=OLGA, template="other", limit=3) == []


def test_require_on_uses_only_the_bindings_a_token_was_made_for(
    sessions: sessionmaker[Session],
) -> None:
    acme = access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="shop/acme/*/*", actor=ADMIN
    )
    bolt = access.add_binding(
        sessions, subject="user:olga", role="template-user", scope="shop/bolt/*/*", actor=ADMIN
    )
    token = Principal(
        name="olga", role="template-user", kind="token", id=2, bindings=frozenset({bolt.id})
    )
    engine = sessions.kw["bind"]
    with engine.connect() as connection:
        access.require_on(
            connection,
            sessions,
            token,
            "chart.build",
            Target.of_context("shop", "bolt", "dev", "a1"),
        )
        with pytest.raises(PermissionDeniedError, match=r"olga may not chart.build on shop/acme"):
            access.require_on(connection, sessions, token, "chart.build", ACME)
    assert acme.id != bolt.id
