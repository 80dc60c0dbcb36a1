"""The fleet the fleet benchmarks work on, stored the way helmforge stores one.

``fleet_lab(root, size)`` starts, on loopback: a fresh PostgreSQL database (dropped after), a
GitOps repository behind ``git http-backend`` (basic auth), Debian's docker-registry (anonymous,
as an internal mirror runs) with a counting proxy in front of it
(``tests.support.registry.FaultProxy``, which records every request's method and path), and
the application itself in this process (API only, no job worker of its own). The admin records
the repository and the registry (its URL the proxy's), then ``tests.support.fleets.seed_fleet``
makes ``size`` instances: each chart built and recorded, pushed to the registry, every folder
(values.yaml, application.yaml) in one commit, the instance rows and their creation events.
Not a benchmark itself: the fleet benchmarks use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.server import _database

if TYPE_CHECKING:
    from tests.api.conftest import Api
    from tests.support.instances import GitLab
    from tests.support.registry import FaultProxy


@dataclass
class FleetLab:
    api: Api
    database_url: str
    data_dir: Path
    git: GitLab
    proxy: FaultProxy
    registry_url: str
    ids: list[str]
    seed_seconds: float

    def registry_requests(self, since: int) -> dict[str, int]:
        """The proxy's requests after the ``since``-th, by kind: manifest and blob GETs and
        HEADs, and the rest."""
        counts = {"manifest_get": 0, "manifest_head": 0, "blob_get": 0, "blob_head": 0}
        other = 0
        for method, path in self.proxy.requests[since:]:
            kind = "manifest" if "/manifests/" in path else "blob" if "/blobs/" in path else ""
            key = f"{kind}_{method.lower()}"
            if key in counts:
                counts[key] += 1
            else:
                other += 1
        return {**counts, "other": other}


def print_figures(title: str, figures: dict[str, Any]) -> None:
    """Print a fleet benchmark's ``title`` and its figures, one per line (floats to 2 places)."""
    print(title)
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"  {key:40} {shown}")


def publish(api: Api, text: str, version: str) -> None:
    """Add template ``text`` and publish its ``version`` through the API."""
    headers = {"Content-Type": "application/yaml"}
    added = api.client.post("/api/v1/templates", content=text, headers=headers)
    assert added.status_code == 201, added.text
    published = api.client.post(f"/api/v1/templates/web-service/versions/{version}/publish")
    assert published.status_code == 200, published.text


@contextmanager
def fleet_lab(root: Path, size: int) -> Iterator[FleetLab]:
    from tests.api.conftest import serve_app
    from tests.support.apps import make_app
    from tests.support.fleets import seed_fleet
    from tests.support.instances import add_repository, git_lab
    from tests.support.registry import FaultProxy, RegistryServer

    registry = RegistryServer(root / "registry")
    registry.root.mkdir(parents=True)
    registry.start()
    proxy = FaultProxy(registry.port)
    # Its handler writes an answer's head and body apart: with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the head (about 40 ms a GET), which is the proxy's
    # cost, not the registry's or the client's.
    proxy._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
    try:
        with git_lab(root / "git") as lab, _database() as url:
            data_dir = root / "data"
            app, password = make_app(url, data_dir, jobs_worker=False)
            for api in serve_app(app, password):
                add_repository(api.client, lab)
                registry_url = f"oci://{proxy.authority}/bench"
                body: dict[str, Any] = {"name": "lab", "url": registry_url, "plain_http": True}
                added = api.client.post("/api/v1/registries", json=body)
                assert added.status_code == 201, added.text
                started = time.perf_counter()
                ids = seed_fleet(
                    api.sessions, lab, root / "seed", registry=registry_url, count=size, start=0
                )
                seeded = time.perf_counter() - started
                yield FleetLab(api, url, data_dir, lab, proxy, registry_url, ids, seeded)
    finally:
        proxy.close()
        registry.stop()
