"""``helmforge fleet verify`` and ``helmforge jobs show|wait`` as whole processes against a
server on loopback whose own job worker runs the job (the in-process runner on SQLite,
procrastinate on PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import create_fleet
from tests.support.instances import GitLab, add_registry, add_repository, git_lab
from tests.support.registry import RegistryServer
from tests.support.servers import serve

pytestmark = [pytest.mark.registry, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


def helmforge(url: str, token: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from helmforge.cli.main import run; run()", *arguments],
        env={**os.environ, "HELMFORGE_SERVER": url, "HELMFORGE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_fleet_verify_waits_for_the_servers_worker_and_jobs_show_reads_the_job(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    app, _ = make_app(database_url, tmp_path / "data")
    token = accounts.create_token(state_of(app).sessions, user="admin", actor=SYSTEM).token
    with serve(app) as url:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        with client:
            add_repository(client, lab)
            add_registry(client, basic_registry)
            create_fleet(client, 2)

        waited = helmforge(url, token, "fleet", "verify", "--environment", "dev", "--wait")
        assert waited.returncode == 0, waited.stderr
        job = json.loads(waited.stdout)
        assert job["state"] == "succeeded"
        assert job["progress"] == {"done": 2, "total": 2}
        assert [item["status"] for item in job["result"]["items"]] == ["ok", "ok"]

        shown = helmforge(url, token, "jobs", "show", job["id"])
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["result"] == job["result"]

        queued = helmforge(url, token, "fleet", "verify")
        assert queued.returncode == 0, queued.stderr
        job_id = queued.stdout.strip()
        finished = helmforge(url, token, "jobs", "wait", job_id)
        assert finished.returncode == 0, finished.stderr
        assert json.loads(finished.stdout)["state"] == "succeeded"
        assert f"{job_id}\tsucceeded\t2/2" in finished.stderr

        text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            added = client.post(
                "/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"}
            )
            assert added.status_code == 201, added.text
            published = client.post("/api/v1/templates/web-service/versions/1.3.0/publish")
            assert published.status_code == 200, published.text
        too_many = ["web-service@1.3.0", "--wave", "dev:environment=dev,max_parallel=30"]
        refused = helmforge(url, token, "fleet", "rollout", *too_many)
        assert refused.returncode == 1, refused.stdout
        assert "waves[0].max_parallel 30 is not an integer from 1 to 20" in refused.stderr
        wave = "dev:environment=dev,max_parallel=2"
        arguments = ["web-service@1.3.0", "--version", "3.5.0", "--wave", wave]
        rolled = helmforge(url, token, "fleet", "rollout", *arguments, "--wait")
        assert rolled.returncode == 0, rolled.stderr
        rollout = json.loads(rolled.stdout)
        assert rollout["state"] == "succeeded"
        assert rollout["waves"][0]["max_parallel"] == 2
        assert [e["state"] for e in rollout["waves"][0]["instances"]] == ["upgraded"] * 2
        shown = helmforge(url, token, "fleet", "rollout-control", rollout["rollout"], "show")
        assert json.loads(shown.stdout)["state"] == "succeeded"

        missing = helmforge(url, token, "jobs", "show", "0123abcd")
        assert missing.returncode == 1
        assert "does not exist" in missing.stderr
        assert token not in missing.stderr
