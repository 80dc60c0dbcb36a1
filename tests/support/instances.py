"""Instances the real way: a bare repository behind ``git http-backend`` (basic auth, the
password a canary), a registry recorded by the admin on Debian's docker-registry, and calls of
the instance API through a test client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.git_servers import HttpGitServer, bare_repository, git
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

GIT_CANARY = "canary-gitops-Pw-7e57c0de-DO-NOT-LEAK"
GIT_USER = "helmforge-bot"
DEV = {"product": "shop", "customer": "acme", "environment": "dev", "instance": "eu-1"}
PROD = {"product": "shop", "customer": "acme", "environment": "prod", "instance": "eu-1"}


@dataclass
class GitLab:
    """One HTTP Git server and the ``gitops`` repository on it."""

    server: HttpGitServer
    remote: Path

    def url(self) -> str:
        return self.server.url(self.remote)

    def commits(self) -> int:
        return int(git("-C", str(self.remote), "rev-list", "--count", "main").strip())

    def show(self, path: str, revision: str = "main") -> str:
        return git("-C", str(self.remote), "show", f"{revision}:{path}")

    def head(self) -> str:
        return git("-C", str(self.remote), "rev-parse", "main").strip()

    def log(self) -> str:
        """Every commit with author, message and patch: what Git holds."""
        return git("-C", str(self.remote), "log", "-p", "--format=%an <%ae>%n%B", "main")


@contextlib.contextmanager
def git_lab(root: Path) -> Iterator[GitLab]:
    """A running HTTP Git server with a ``gitops`` repository holding a README."""
    server = HttpGitServer(root / "remotes", GIT_USER, GIT_CANARY)
    server.root.mkdir(parents=True)
    remote = bare_repository(server.root, "gitops", {"README.md": "gitops\n"})
    with server.running():
        yield GitLab(server, remote)


def add_repository(client: TestClient, lab: GitLab, *, name: str = "gitops") -> dict[str, Any]:
    body = {
        "name": name,
        "url": lab.url(),
        "branch": "main",
        "path": "clusters/eu",
        "username": GIT_USER,
        "password": GIT_CANARY,
    }
    response = client.post("/api/v1/gitops/repositories", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_registry(client: TestClient, registry: RegistryServer, *, name: str = "lab") -> None:
    body = {
        "name": name,
        "url": f"oci://{registry.authority}/{unique_path()}",
        "username": ROBOT,
        "password": CANARY_PASSWORD,
        "plain_http": True,
    }
    response = client.post("/api/v1/registries", json=body)
    assert response.status_code == 201, response.text


def instance_body(segments: dict[str, str] | None = None, **changes: Any) -> dict[str, Any]:
    return {
        **(segments or DEV),
        "template": "web-service@1.2.0",
        "version": "3.4.0",
        "registry": "lab",
        "repository": "gitops",
        "values": {"replicaCount": 2},
        **changes,
    }


def path_of(segments: dict[str, str] | None = None) -> str:
    chosen = segments or DEV
    return "/".join(chosen[key] for key in ("product", "customer", "environment", "instance"))


def url_of(segments: dict[str, str] | None = None) -> str:
    return f"/api/v1/instances/{path_of(segments)}"
