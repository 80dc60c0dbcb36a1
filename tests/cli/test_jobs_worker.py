"""``helmforge jobs worker`` as a real process, on SQLite (the in-process runner) and on
PostgreSQL (procrastinate): a worker killed with SIGKILL in the middle of a verification
leaves the job running; the next worker resumes it after the last instance the first one
saved, and the job succeeds with every instance verified once in its result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.server.app import state_of
from helmforge.services import job_runners, jobs
from helmforge.services.jobs import JobResources
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.fleets import create_fleet
from tests.support.instances import GitLab, add_repository, git_lab
from tests.support.registry import (
    CANARY_PASSWORD,
    ROBOT,
    Fault,
    FaultProxy,
    RegistryServer,
    unique_path,
)

pytestmark = [pytest.mark.registry, pytest.mark.slow]

#: Long enough for any machine; a hung worker fails the test instead of hanging it.
BOUND = 300.0


@pytest.fixture
def proxy(basic_registry: RegistryServer) -> Iterator[FaultProxy]:
    running = FaultProxy(basic_registry.port)
    yield running
    running.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


class Gate:
    """Holds the request it is hooked to until released."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        self.released.wait(BOUND)


def charts_read(proxy: FaultProxy, since: int) -> set[str]:
    """The charts whose manifest was read since request number ``since``."""
    return {
        path.split("/manifests/")[0].rsplit("/", 1)[-1]
        for method, path in proxy.requests[since:]
        if method == "GET" and "/manifests/" in path
    }


def test_a_job_whose_worker_is_killed_resumes_in_the_next_worker(
    database_url: str, tmp_path: Path, lab: GitLab, proxy: FaultProxy
) -> None:
    data_dir = tmp_path / "data"
    app, password = make_app(database_url, data_dir, jobs_worker=False)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        body = {
            "name": "lab",
            "url": f"oci://{proxy.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": True,
        }
        assert api.client.post("/api/v1/registries", json=body).status_code == 201
        create_fleet(api.client, 3)
        _kill_and_resume(api, database_url, data_dir, proxy)


def _kill_and_resume(api: Api, database_url: str, data_dir: Path, proxy: FaultProxy) -> None:
    # The second instance's manifest read waits: by then the first one's outcome is saved.
    gate = Gate()
    proxy.add(Fault("GET", r"/shop-c0-dev-i1/manifests/", "hook", hook=gate))
    before = len(proxy.requests)
    job_id = api.client.post("/api/v1/fleet/verify", json={}).json()["job"]

    environment = {
        **os.environ,
        "HELMFORGE_DATABASE_URL": database_url,
        "HELMFORGE_DATA_DIR": str(data_dir),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from helmforge.cli.main import run; run()", "jobs", "worker"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert gate.reached.wait(BOUND), "the worker never read the second manifest"
        running = jobs.get_job(api.sessions, job_id, actor=_admin(api))
        assert (running.state, running.done, running.total) == ("running", 1, 3)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(BOUND) == -signal.SIGKILL
        assert charts_read(proxy, before) == {"shop-c0-dev-i0", "shop-c0-dev-i1"}
        killed_at = len(proxy.requests)
    finally:
        gate.released.set()
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    left = jobs.get_job(api.sessions, job_id, actor=_admin(api))
    assert left.state == "running"  # nobody marked it: its worker died

    ended = threading.Event()
    state = state_of(api.app)
    resources = JobResources(workspace=state.git_workspace, registry_deadline=30.0)
    # A worker alone on the database: any other worker counts as dead at once.
    resumed = job_runners.start_worker(
        api.sessions,
        resources,
        stalled_seconds=0,
        on_job_end=lambda finished: ended.set() if finished == job_id else None,
    )
    try:
        assert ended.wait(BOUND), "the next worker never ran the job"
    finally:
        resumed.stop(BOUND)

    job = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 2
    assert job["progress"] == {"done": 3, "total": 3}
    items = job["result"]["items"]
    assert [item["status"] for item in items] == ["ok"] * 3
    assert len({item["instance"] for item in items}) == 3
    # The next worker went on from the saved outcome: the first instance was not read again.
    assert charts_read(proxy, killed_at) == {"shop-c0-dev-i1", "shop-c0-dev-i2"}


def _admin(_api: Api) -> Principal:
    return SYSTEM


def test_a_stopping_worker_hands_its_job_over_at_its_next_checkpoint(
    database_url: str, tmp_path: Path, lab: GitLab, proxy: FaultProxy
) -> None:
    app, password = make_app(database_url, tmp_path / "data", jobs_worker=False)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        body = {
            "name": "lab",
            "url": f"oci://{proxy.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": True,
        }
        assert api.client.post("/api/v1/registries", json=body).status_code == 201
        create_fleet(api.client, 3)
        _stop_and_hand_over(api, proxy)


def _stop_and_hand_over(api: Api, proxy: FaultProxy) -> None:
    gate = Gate()
    proxy.add(Fault("GET", r"/shop-c0-dev-i1/manifests/", "hook", hook=gate))
    state = state_of(api.app)
    resources = JobResources(workspace=state.git_workspace, registry_deadline=30.0)
    first_ended, second_ended = threading.Event(), threading.Event()
    first = job_runners.start_worker(
        api.sessions, resources, on_job_end=lambda _job: first_ended.set()
    )
    assert first.ready.wait(BOUND)
    job_id = api.client.post("/api/v1/fleet/verify", json={}).json()["job"]
    try:
        assert gate.reached.wait(BOUND), "the worker never read the second manifest"
        first.stopping.set()  # the process is shutting down
    finally:
        gate.released.set()
    assert first_ended.wait(BOUND)
    first.stop(BOUND)
    handed = jobs.get_job(api.sessions, job_id, actor=SYSTEM)
    # The second instance was verified and saved, then the job went back to the queue.
    assert (handed.state, handed.done, handed.attempts) == ("queued", 2, 1)

    second = job_runners.start_worker(
        api.sessions, resources, on_job_end=lambda _job: second_ended.set()
    )
    try:
        assert second_ended.wait(BOUND), "the next worker never ran the job"
    finally:
        second.stop(BOUND)
    job = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert (job["state"], job["attempts"]) == ("succeeded", 2)
    assert [item["status"] for item in job["result"]["items"]] == ["ok"] * 3
