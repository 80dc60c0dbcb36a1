"""Fixtures of the API tests: an application over a fresh database (SQLite and PostgreSQL), an
admin token, and a client that sends it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts
from tests.support.apps import make_app
from tests.support.charts import CONTEXT, example_text

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its test client; httpx is what helmforge depends on.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# CONTEXT, example_text and make_app live in tests/support; they stay importable from here for
# test modules written before they moved.
__all__ = ["CONTEXT", "Api", "TestClient", "example_text", "make_app"]


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    token: str
    admin_password: str

    def as_user(self, name: str, *, role: str, scope: str = "*/*/*/*") -> dict[str, str]:
        """Create user ``name`` holding ``role`` at ``scope`` only; the headers of a token
        acting as them."""
        accounts.create_user(
            self.sessions, name, role=role, password="a long enough password", actor=SYSTEM
        )
        if scope != "*/*/*/*":
            subject = f"user:{name}"
            for binding in access.list_bindings(self.sessions, actor=SYSTEM, subject=subject):
                access.remove_binding(self.sessions, binding.id, actor=SYSTEM)
            access.add_binding(self.sessions, subject=subject, role=role, scope=scope, actor=SYSTEM)
        token = accounts.create_token(self.sessions, user=name, actor=SYSTEM).token
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """A seeded application (API only) on SQLite and on PostgreSQL, with an admin token."""
    yield from _api(database_url, tmp_path, with_web=False)


@pytest.fixture
def full_api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """Like ``api``, but the whole server as ``helmforge serve`` runs it: API and web UI."""
    yield from _api(database_url, tmp_path, with_web=True)


def _api(database_url: str, tmp_path: Path, *, with_web: bool) -> Iterator[Api]:
    app, password = make_app(database_url, tmp_path / "data", with_web=with_web)
    yield from serve_app(app, password)


def serve_app(app: FastAPI, password: str) -> Iterator[Api]:
    """A test client of ``app`` sending a new admin token, and the ``Api`` around them."""
    sessions: sessionmaker[Session] = state_of(app).sessions
    token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield Api(app, client, sessions, token, password)
    state_of(app).engine.dispose()
