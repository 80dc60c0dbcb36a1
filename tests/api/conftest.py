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
from helmforge.server.app import create_app
from helmforge.services import accounts
from helmforge.services.settings import Settings

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its test client; httpx is what helmforge depends on.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
CONTEXT = {
    "product": "ledger",
    "customer": "acme",
    "environment": "prod",
    "instance": "a1",
    "version": "3.4.0",
}


def example_text(*, name: str = "web-service", version: str = "1.2.0") -> str:
    """The bundled example template, renamed and re-versioned."""
    text = EXAMPLE.read_text("utf-8")
    return text.replace("name: web-service", f"name: {name}", 1).replace(
        "version: 1.2.0", f"version: {version}", 1
    )


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    token: str
    admin_password: str

    def as_user(self, name: str, *, role: str) -> dict[str, str]:
        """Create user ``name`` with ``role``; the headers of a token acting as them."""
        accounts.create_user(
            self.sessions, name, role=role, password="a long enough password", actor=SYSTEM
        )
        token = accounts.create_token(self.sessions, user=name, actor=SYSTEM).token
        return {"Authorization": f"Bearer {token}"}


def make_app(
    database_url: str, data_dir: Path, *, with_web: bool = False, **overrides: object
) -> tuple[FastAPI, str]:
    """An application over ``database_url`` (API only unless ``with_web``); returns it and the
    first admin password."""
    settings = Settings(data_dir=data_dir, database_url=database_url, **overrides)  # type: ignore[arg-type]
    passwords: list[str] = []
    app = create_app(settings, announce=passwords.append, with_web=with_web)
    return app, (passwords[0] if passwords else "")


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
    sessions: sessionmaker[Session] = app.state.sessions
    token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield Api(app, client, sessions, token, password)
    app.state.engine.dispose()
