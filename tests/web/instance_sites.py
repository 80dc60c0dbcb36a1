"""A live server (API and web UI) for the instance pages: the example template published, a
real ``git http-backend`` repository and Debian's docker-registry configured, an admin token
for setting things up through the API, and users to sign in as."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts, jobs
from helmforge.services.jobs import JobResources
from tests.support.apps import make_app
from tests.support.instances import (
    GitLab,
    add_registry,
    add_repository,
    instance_body,
    url_of,
)
from tests.support.registry import RegistryServer
from tests.support.servers import UPPER_BOUND, serve
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD, sign_in

USER_PASSWORD = "a long enough password"  # a test user's password


@dataclass
class InstanceSite:
    """The running server, its database, the Git lab and an admin API client."""

    url: str
    sessions: sessionmaker[Session]
    lab: GitLab
    api: httpx.Client
    app: FastAPI | None = None

    def run_job(self, job_id: str) -> None:
        """Run job ``job_id`` here to its end, as a worker would (servers of these tests
        started with ``jobs_worker=False`` run none themselves)."""
        assert self.app is not None
        resources = JobResources(workspace=state_of(self.app).git_workspace, registry_deadline=10.0)
        jobs.execute_here(self.sessions, job_id, resources=resources, owner="test")

    def add_user(self, name: str, role: str, scope: str = "*/*/*/*") -> None:
        """User ``name`` (password ``USER_PASSWORD``) holding ``role`` at ``scope`` only."""
        accounts.create_user(self.sessions, name, role=role, password=USER_PASSWORD, actor=SYSTEM)
        if scope != "*/*/*/*":
            for binding in access.list_bindings(
                self.sessions, actor=SYSTEM, subject=f"user:{name}"
            ):
                access.remove_binding(self.sessions, binding.id, actor=SYSTEM)
            access.add_binding(
                self.sessions, subject=f"user:{name}", role=role, scope=scope, actor=SYSTEM
            )

    @contextlib.contextmanager
    def signed_in(
        self, name: str = ADMIN_NAME, password: str = ADMIN_PASSWORD
    ) -> Iterator[httpx.Client]:
        """A client of the pages with ``name``'s session cookie."""
        with httpx.Client(base_url=self.url, timeout=UPPER_BOUND) as client:
            response = sign_in(client, name, password)
            assert response.status_code == 303, response.text
            yield client

    def create(self, segments: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
        """An instance created through the API (201) or proposed (202)."""
        response = self.api.post("/api/v1/instances", json=instance_body(segments, **changes))
        assert response.status_code in (201, 202), response.text
        return dict(response.json())

    def put_values(
        self, values: dict[str, Any], segments: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A values change through the API on the instance's current revision."""
        shown = self.api.get(url_of(segments))
        assert shown.status_code == 200, shown.text
        response = self.api.put(
            url_of(segments) + "/values",
            json={"values": values},
            headers={"If-Match": shown.headers["ETag"]},
        )
        assert response.status_code in (200, 202), response.text
        return dict(response.json())


@contextlib.contextmanager
def instance_site(
    tmp_path: Path,
    database_url: str,
    lab: GitLab,
    registry: RegistryServer,
    *,
    approvals: dict[str, int] | None = None,
    **settings: object,
) -> Iterator[InstanceSite]:
    """The server with admin ``alice`` (sign-in) and ``admin`` (API token); changes in the
    environments of ``approvals`` need that many approvals (none by default); ``settings``
    are further server settings."""
    app, _ = make_app(
        database_url,
        tmp_path / "data",
        with_web=True,
        trusted_proxies=("127.0.0.1/32",),
        approvals=ApprovalRules(by_environment=approvals or {}),
        **settings,
    )
    sessions: sessionmaker[Session] = state_of(app).sessions
    accounts.create_user(sessions, ADMIN_NAME, role="admin", password=ADMIN_PASSWORD, actor=SYSTEM)
    token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    try:
        with (
            serve(app) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=UPPER_BOUND
            ) as api,
        ):
            add_repository(api, lab)  # type: ignore[arg-type]  # httpx, as TestClient is
            add_registry(api, registry)  # type: ignore[arg-type]
            yield InstanceSite(url, sessions, lab, api, app)
    finally:
        state_of(app).engine.dispose()
