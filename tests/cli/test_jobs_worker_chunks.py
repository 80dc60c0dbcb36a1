"""Two ``helmforge jobs worker`` processes share a chunked ``fleet.impact`` job on PostgreSQL
(procrastinate); one is killed with SIGKILL in the middle of a chunk, after it saved the
chunk's first instance. The other notices the dead worker (no heartbeat for
HELMFORGE_JOBS_STALLED_SECONDS), takes the chunk again and resumes it after the saved
instance: the job succeeds with every instance in its result once, each chunk ended once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from helmforge.adapters.storage.jobs_tables import JobRow
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish, renamed
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.databases import fresh_database_url
from tests.support.fleets import segments
from tests.support.git_servers import bare_repository
from tests.support.instances import (
    GIT_CANARY,
    GIT_USER,
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
)
from tests.support.registry import RegistryServer

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
    pytest.mark.postgres,
]

#: Long enough for any machine; a hung worker fails the test instead of hanging it.
BOUND = 300.0
_MIGRATION = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


class Gate:
    """Once armed, holds the first request for a path holding ``path_part`` until released."""

    def __init__(self, path_part: str) -> None:
        self.path_part = path_part
        self.reached = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._armed = self._held = False
        #: Every request seen once armed: (method, path).
        self.requests: list[tuple[str, str]] = []

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def __call__(self, method: str, path: str) -> None:
        with self._lock:
            if self._armed:
                self.requests.append((method, path))
            if self.path_part not in path:
                return
            first = self._armed and not self._held
            self._held = self._held or first
        if first:
            self.reached.set()
            self.released.wait(BOUND)


class Worker:
    """A ``helmforge jobs worker`` process; its output (stderr) is kept."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from helmforge.cli.main import run; run()", "jobs", "worker"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            self.output.extend(self.process.stderr)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(BOUND)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(BOUND)


def test_a_chunk_of_a_killed_worker_is_resumed_by_the_other_worker(
    tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    # The chunk with an instance of repository "other" waits for its fetch there.
    other = bare_repository(lab.server.root, "other", {"README.md": "other\n"})
    gate = Gate("/other.git/")
    lab.server.before = gate
    with fresh_database_url("postgresql", tmp_path) as database_url:
        data_dir = tmp_path / "data"
        app, password = make_app(database_url, data_dir, jobs_worker=False)
        for api in serve_app(app, password):
            add_repository(api.client, lab)
            body = {
                "name": "other",
                "url": lab.server.url(other),
                "branch": "main",
                "path": "clusters/eu",
                "username": GIT_USER,
                "password": GIT_CANARY,
            }
            assert api.client.post("/api/v1/gitops/repositories", json=body).status_code == 201
            add_registry(api.client, basic_registry)
            instances = []
            for number in range(4):
                repository = "other" if number == 1 else "gitops"
                created = api.client.post(
                    "/api/v1/instances",
                    json=instance_body(segments(number), repository=repository),
                )
                assert created.status_code == 201, created.text
                instances.append(str(created.json()["id"]))
            text = renamed(example_text(version="2.0.0")).replace(
                '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + _MIGRATION, 1
            )
            publish(api, text, "2.0.0")
            environment = {
                **os.environ,
                "HELMFORGE_DATABASE_URL": database_url,
                "HELMFORGE_DATA_DIR": str(data_dir),
                "HELMFORGE_JOBS_CONCURRENCY": "1",
                "HELMFORGE_JOBS_STALLED_SECONDS": "3",
            }
            _kill_one_in_a_chunk(api, instances, environment, gate)


def _kill_one_in_a_chunk(
    api: Api, instances: list[str], environment: dict[str, str], gate: Gate
) -> None:
    response = api.client.post("/api/v1/fleet/impact", json={"template": "web-service@2.0.0"})
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job"])
    # Chunks of two, in the order of the instances: the first chunk is instance 0 (fetched
    # from "gitops", then saved) and instance 1 (whose fetch from "other" the gate holds).
    with api.sessions.begin() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        assert sorted(row.params["instances"]) == sorted(instances)
        row.params = {**row.params, "instances": instances, "chunk": 2}

    gate.arm()
    workers = [Worker(environment), Worker(environment)]
    try:
        assert gate.reached.wait(BOUND), _output(workers)
        held = _chunk(api, instances[1])
        assert held.owner is not None
        assert (held.state, held.progress_done, held.progress_total) == ("running", 1, 2)
        # The other chunk ends meanwhile (in the other worker, or before in this one).
        other = _row_once(api, _chunk(api, instances[2]).id, _ended)
        assert other.state == "succeeded", _output(workers)
        killed = next(w for w in workers if held.owner.endswith(f":{w.process.pid}"))
        os.kill(killed.process.pid, signal.SIGKILL)
        assert killed.process.wait(BOUND) == -signal.SIGKILL
        since = len(gate.requests)
        gate.released.set()
        survivor = next(w for w in workers if w is not killed)
        job = _row_once(api, job_id, _ended)
    finally:
        gate.released.set()
        for worker in workers:
            worker.stop()

    assert job.state == "succeeded", (job.error, _output(workers))
    assert job.result is not None
    assert [item["instance"] for item in job.result["items"]] == instances
    assert job.result["counts"] == {"identical": 0, "values": 4, "manifests": 0, "breaking": 0}
    assert (job.progress_done, job.progress_total, job.attempts) == (4, 4, 1)
    # The survivor's stalled-worker recovery took the dead worker's chunk again.
    assert any("of a dead worker is run again" in line for line in survivor.output), survivor.output
    resumed, other = _chunk(api, instances[1]), _chunk(api, instances[2])
    # The killed worker's chunk: taken again once, by the survivor, after its saved instance.
    assert (resumed.state, resumed.attempts, resumed.progress_done) == ("succeeded", 2, 2)
    assert resumed.owner == f"{held.owner.rpartition(':')[0]}:{survivor.process.pid}"
    assert [item["instance"] for item in (resumed.result or {})["items"]] == instances[:2]
    # ... fetching only what its second instance needs: instance 0 was not looked at again.
    assert {path.split("/")[1] for _, path in gate.requests[since:]} == {"other.git"}
    assert (other.state, other.attempts) == ("succeeded", 1)
    with api.sessions() as session:
        kinds = session.scalars(sa.select(JobRow.kind).where(JobRow.id != job_id)).all()
    assert kinds == ["fleet.impact#chunk"] * 2  # no chunk was queued again as another row


def _chunk(api: Api, instance: str) -> JobRow:
    """The chunk row whose slice holds ``instance``."""
    with api.sessions() as session:
        rows = session.scalars(sa.select(JobRow).where(JobRow.kind == "fleet.impact#chunk"))
        for row in rows:
            if instance in row.params["instances"]:
                session.expunge(row)
                return row
    raise AssertionError(f"no chunk holds {instance}")


def _ended(row: JobRow) -> bool:
    return row.state not in ("queued", "running")


def _row_once(api: Api, job_id: str, done: Callable[[JobRow], bool]) -> JobRow:
    """Job ``job_id``'s row once ``done(row)`` holds: read again every 0.1 s (the workers say
    nothing when a job ends; the database shows it), for at most ``BOUND`` seconds."""
    give_up = time.monotonic() + BOUND
    while True:
        with api.sessions() as session:
            row = session.get(JobRow, job_id)
            assert row is not None
            session.expunge(row)
        if done(row) or time.monotonic() > give_up:
            return row
        time.sleep(0.1)


def _output(workers: list[Worker]) -> str:
    return "\n".join("".join(worker.output[-40:]) for worker in workers)
