"""Several server processes share one PostgreSQL database: they start at once safely."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.api.conftest import TestClient
from tests.support.apps import make_app
from tests.support.charts import CONTEXT
from tests.support.databases import fresh_database_url

SERVERS = 4


@pytest.mark.postgres
def test_servers_starting_together_migrate_and_seed_once(tmp_path: Path) -> None:
    with fresh_database_url("postgresql", tmp_path) as url:
        barrier = threading.Barrier(SERVERS)
        apps: list[FastAPI] = []
        passwords: list[str] = []
        errors: list[BaseException] = []

        def start(index: int) -> None:
            barrier.wait()
            try:
                app, password = make_app(url, tmp_path / f"data{index}")
            except Exception as error:  # collected and reported by the test below
                errors.append(error)
                return
            apps.append(app)
            if password:
                passwords.append(password)

        threads = [threading.Thread(target=start, args=(i,)) for i in range(SERVERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(apps) == SERVERS
        assert len(passwords) == 1, "exactly one server creates the first admin"

        sessions = state_of(apps[0]).sessions
        with sessions() as session:
            users = session.execute(sa.text("SELECT name FROM users")).scalars().all()
            versions = session.execute(sa.text("SELECT status FROM template_versions")).all()
        assert users == ["admin"]
        assert versions == [("published",)]

        # A token made through one server works on every other; builds are visible everywhere.
        token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
        headers = {"Authorization": f"Bearer {token}"}
        clients = [TestClient(app, headers=headers) for app in apps]
        build = clients[0].post(
            "/api/v1/charts", json={"template": "web-service@1.2.0", "context": CONTEXT}
        )
        assert build.status_code == 201
        for client in clients:
            assert client.get("/readyz").status_code == 200
            assert client.get(f"/api/v1/charts/{build.json()['id']}").status_code == 200
        for app in apps:
            state_of(app).engine.dispose()
