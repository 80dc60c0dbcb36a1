"""Fleets for the fleet tests: many instances created through the real instance API, and the
changes someone makes behind helmforge's back (a tag pushed over, values.yaml edited in Git)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.oci import RegistryClient
from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.core.access.principals import SYSTEM
from helmforge.core.instances.application import ApplicationSpec, application_yaml
from helmforge.core.instances.layout import InstanceId
from helmforge.core.oci.artifacts import build_artifact
from helmforge.core.oci.references import Registry, parse_reference, repository_for
from helmforge.core.secrets import Secret
from helmforge.core.yaml_codec import dump_yaml
from helmforge.services import audit, chart_builds
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


def seed_fleet(
    sessions: sessionmaker[Session],
    lab: GitLab,
    workdir: Path,
    *,
    registry: str,
    count: int,
    start: int = 100,
    overrides: Mapping[str, Any] | None = None,
) -> list[str]:
    """``count`` instances set up the cheap way, for fleet-scale tests of the fleet code: each
    chart built and recorded by ``chart_builds.build_chart`` and pushed to the registry at
    ``registry`` (``oci://HOST/PATH``) directly, every folder written in ONE commit, the
    instance rows and their creation events recorded as ``create_instance`` records them.
    Numbered from ``start`` (``segments``); their ids."""
    reference = parse_reference(registry, source="registry")
    location = f"{reference.authority}/{reference.path}"
    client_config = Registry(
        url=registry, plain_http=True, username=ROBOT, password=Secret(CANARY_PASSWORD)
    )
    values_text = dump_yaml(dict(overrides or {"replicaCount": 2}))
    files: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with RegistryClient(client_config) as client:
        for number in range(start, start + count):
            chosen = segments(number)
            instance = InstanceId(*chosen.values())
            build = chart_builds.build_chart(
                sessions,
                template="web-service@1.2.0",
                context={**chosen, "version": "3.4.0"},
                actor=SYSTEM,
                defer_required=True,
            )
            _, archive = chart_builds.get_archive(sessions, build.id, actor=SYSTEM)
            artifact = build_artifact(archive)
            repository = repository_for(reference, build.name)
            for digest, data in artifact.blobs:
                client.push_blob(repository, digest, data)
            client.put_manifest(repository, artifact.tag, artifact.manifest)
            spec = ApplicationSpec(
                instance=instance,
                chart=build.name,
                chart_version=build.version,
                registry_location=location,
                repository_url=lab.url(),
                branch="main",
                base_path="clusters/eu",
            )
            files[instance.values_path("clusters/eu")] = values_text
            files[instance.application_path("clusters/eu")] = application_yaml(spec)
            rows.append(
                {**chosen, "chart": build.name, "version": build.version, "build": build.id}
            )
    revision = edit_in_git(lab, workdir, files, f"seed {count} instances")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for row in rows:
            instance = InstanceId(
                row["product"], row["customer"], row["environment"], row["instance"]
            )
            session.add(
                InstanceRow(
                    product=instance.product,
                    customer=instance.customer,
                    environment=instance.environment,
                    instance=instance.instance,
                    app_name=instance.default_namespace(),
                    namespace=instance.default_namespace(),
                    state="ready",
                    template_name="web-service",
                    template_version="1.2.0",
                    app_version="3.4.0",
                    registry_name="lab",
                    repository="gitops",
                    argocd=None,
                    chart_name=row["chart"],
                    chart_version=row["version"],
                    build_id=row["build"],
                    revision=revision,
                    created_at=now,
                    created_by="seed",
                    updated_at=now,
                    updated_by="seed",
                )
            )
            audit.record(
                session,
                SYSTEM,
                "instance.create",
                f"instance:{instance}",
                after={"revision": revision},
            )
    return [
        str(InstanceId(r["product"], r["customer"], r["environment"], r["instance"])) for r in rows
    ]
