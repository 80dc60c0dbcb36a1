"""Fixtures of the web UI tests: an app with the UI mounted over a migrated database, a live
server, and a signed-in client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import database_url_for_directory
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.support.apps import make_app
from tests.support.servers import serve

ADMIN_NAME = "alice"
ADMIN_PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def build_app(data_dir: Path, database_url: str) -> tuple[FastAPI, sessionmaker[Session]]:
    """The server's application (API and web UI) over a fresh database, with admin ``alice``
    and no seeded template, behind a proxy on loopback (trusted for X-Forwarded-*)."""
    app, _ = make_app(
        database_url,
        data_dir,
        with_web=True,
        seed_examples=False,
        trusted_proxies=("127.0.0.1/32",),
    )
    sessions: sessionmaker[Session] = state_of(app).sessions
    accounts.create_user(sessions, ADMIN_NAME, role="admin", password=ADMIN_PASSWORD, actor=SYSTEM)
    return app, sessions


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


@dataclass
class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread."""

    url: str
    app: FastAPI
    sessions: sessionmaker[Session]


@pytest.fixture
def server_database_url(tmp_path: Path) -> str:
    """The live server's database: SQLite here; modules override it to run on both backends."""
    return database_url_for_directory(tmp_path / "data")


@pytest.fixture
def live_server(tmp_path: Path, server_database_url: str) -> Iterator[LiveServer]:
    app, sessions = build_app(tmp_path / "data", server_database_url)
    try:
        with serve(app) as url:
            yield LiveServer(url, app, sessions)
    finally:
        engine = sessions.kw["bind"]
        engine.dispose()


def sign_in(
    client: httpx.Client, name: str = ADMIN_NAME, password: str = ADMIN_PASSWORD
) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": name,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
    )


@dataclass
class WebClient:
    client: httpx.Client
    server: LiveServer

    def csrf(self, path: str = "/templates") -> str:
        return csrf_of(self.client.get(path).text)


@pytest.fixture
def web(live_server: LiveServer) -> Iterator[WebClient]:
    with httpx.Client(base_url=live_server.url) as client:
        response = sign_in(client)
        assert response.status_code == 303, response.text
        yield WebClient(client, live_server)
