"""Fleets for the fleet tests: many instances created through the real instance API, and the
changes someone makes behind helmforge's back (a tag pushed over, values.yaml edited in Git)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from helmforge.adapters.oci import RegistryClient
from helmforge.core.oci.artifacts import build_artifact
from helmforge.core.oci.references import Registry, parse_reference, repository_for
from helmforge.core.secrets import Secret
from tests.support.git_servers import git
from tests.support.instances import GIT_CANARY, GIT_USER, GitLab, instance_body
from tests.support.oci_charts import make_chart
from tests.support.registry import CANARY_PASSWORD, ROBOT

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def segments(number: int, *, environment: str = "dev") -> dict[str, str]:
    return {
        "product": "shop",
        "customer": f"c{number // 10}",
        "environment": environment,
        "instance": f"i{number}",
    }


def create_fleet(client: TestClient, count: int, **changes: Any) -> list[dict[str, Any]]:
    """``count`` instances created one by one through ``POST /api/v1/instances``."""
    created = []
    for number in range(count):
        body = instance_body(segments(number), **changes)
        response = client.post("/api/v1/instances", json=body)
        assert response.status_code == 201, response.text
        created.append(dict(response.json()))
    return created


def registry_url(client: TestClient, name: str = "lab") -> str:
    response = client.get("/api/v1/registries")
    assert response.status_code == 200, response.text
    data = response.json()
    items = data["items"] if isinstance(data, dict) else data
    return next(str(item["url"]) for item in items if item["name"] == name)


def push_over_tag(url: str, chart: str, version: str, *, payload: str = "moved") -> str:
    """Push another archive of ``chart`` under ``version``'s tag, as someone with the robot's
    credentials could with ``helm push``; its layer digest."""
    registry = Registry(url=url, plain_http=True, username=ROBOT, password=Secret(CANARY_PASSWORD))
    artifact = build_artifact(make_chart(chart, version, payload=payload))
    repository = repository_for(parse_reference(url, source="url"), chart)
    with RegistryClient(registry) as client:
        for digest, data in artifact.blobs:
            client.push_blob(repository, digest, data)
        client.put_manifest(repository, artifact.tag, artifact.manifest)
    return artifact.layer_digest


def edit_in_git(lab: GitLab, workdir: Path, files: dict[str, str], message: str) -> str:
    """Commit ``files`` (path -> text) on main from a clone of our own and push; the commit."""
    authenticated = lab.url().replace("http://", f"http://{GIT_USER}:{GIT_CANARY}@")
    if not workdir.exists():
        git("clone", "-q", authenticated, str(workdir))
    git("-C", str(workdir), "pull", "-q", "--ff-only", "origin", "main")
    for path, text in files.items():
        target = workdir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git("-C", str(workdir), "add", "-A")
    git("-C", str(workdir), "commit", "-q", "-m", message)
    git("-C", str(workdir), "push", "-q", "origin", "HEAD:main")
    return git("-C", str(workdir), "rev-parse", "HEAD").strip()
