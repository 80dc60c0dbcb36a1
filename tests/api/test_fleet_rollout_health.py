"""A rollout under ``stop_on: unhealthy`` against the swagger-checking Argo CD stand-in, on
SQLite and PostgreSQL: an instance Argo CD reports Degraded after its sync stops the rollout
there, and so does one that went Degraded after it was reported Healthy, found when its wave
ends, before the next wave starts; the rollout says which instance and why. Time is the test's
clock: every wait of a sync moves it on and ticks the stand-in's controller (no sleeps)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.yaml_codec import load_single
from helmforge.server.app import state_of
from helmforge.services import jobs
from helmforge.services.jobs import JobResources
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish
from tests.api.test_fleet_rollouts import PLAN, start, states, template_of
from tests.support.apps import make_app
from tests.support.argocd import ArgoCdStandIn
from tests.support.charts import example_text
from tests.support.fleets import segments
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

TOKEN = "canary-rollout-health-token-DO-NOT-LEAK"
DEV = ["shop/c0/dev/i0", "shop/c0/dev/i1", "shop/c0/dev/i2"]
SIT = ["shop/c0/sit/i3", "shop/c0/sit/i4"]
UNHEALTHY = {**PLAN, "stop_on": "unhealthy"}


@dataclass
class Clock:
    """The syncs' clock: ``wait`` moves time on, lets Argo CD's controller take a step, then
    runs the test's ``levers`` (each sees the stand-in)."""

    stand_in: ArgoCdStandIn
    now: float = 1000.0
    levers: list[Callable[[ArgoCdStandIn], None]] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds
        self.stand_in.tick()
        for lever in self.levers:
            lever(self.stand_in)


@dataclass
class Fleet:
    api: Api
    argocd: ArgoCdStandIn
    clock: Clock
    #: Instance id -> its Application's name.
    apps: dict[str, str]

    def run(self, job_id: str) -> dict[str, Any]:
        """Run the job here as a worker would, its syncs on the test's clock."""
        workspace = state_of(self.api.app).git_workspace
        options = dataclasses.replace(
            workspace.argocd, clock=self.clock, wait=self.clock.wait, poll_interval=2.0
        )
        resources = JobResources(
            workspace=dataclasses.replace(workspace, argocd=options), registry_deadline=10.0
        )
        jobs.execute_here(self.api.sessions, job_id, resources=resources, owner="test")
        job = self.api.client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "succeeded", job
        return dict(job)

    def rollout(self, rollout: dict[str, Any]) -> dict[str, Any]:
        self.run(rollout["job"])
        return dict(self.api.client.get(f"/api/v1/fleet/rollouts/{rollout['rollout']}").json())

    def health(self, instance: str) -> str:
        return str(self.argocd.applications[self.apps[instance]]["status"]["health"]["status"])


@pytest.fixture
def argocd(shared_data: Path) -> Iterator[ArgoCdStandIn]:
    stand_in = ArgoCdStandIn(shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}})
    with stand_in.running():
        yield stand_in
    assert stand_in.violations == []


@pytest.fixture
def fleet(
    database_url: str,
    tmp_path: Path,
    basic_registry: RegistryServer,
    argocd: ArgoCdStandIn,
) -> Iterator[Fleet]:
    app, password = make_app(
        database_url, tmp_path / "data", jobs_worker=False, auto_sync_environments=frozenset()
    )
    with git_lab(tmp_path) as lab:
        for api in serve_app(app, password):
            add_repository(api.client, lab)
            add_registry(api.client, basic_registry)
            server = {"name": "cluster", "url": argocd.url, "token": TOKEN}
            assert api.client.post("/api/v1/argocd/servers", json=server).status_code == 201
            yield Fleet(api, argocd, Clock(argocd), _create(api, lab, argocd))


def _create(api: Api, lab: GitLab, argocd: ArgoCdStandIn) -> dict[str, str]:
    apps = {}
    for number in range(5):
        environment = "dev" if number < 3 else "sit"
        values: dict[str, Any] = {"replicaCount": 2}
        if environment == "sit":  # no layer gives sit a host
            values["ingress"] = {"host": f"i{number}.example.com"}
        body = instance_body(
            segments(number, environment=environment), values=values, argocd="cluster"
        )
        created = api.client.post("/api/v1/instances", json=body)
        assert created.status_code == 201, created.text
        view = created.json()
        application = lab.show(view["application_path"])
        argocd.add_application(load_single(application, source="application.yaml").data)
        apps[view["id"]] = view["app_name"]
    text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
    publish(api, text, "1.3.0")
    return apps


def test_an_instance_degraded_after_its_sync_stops_the_rollout_there(fleet: Fleet) -> None:
    fleet.argocd.outcomes[fleet.apps[DEV[1]]] = {"health": "Degraded"}
    stopped = fleet.rollout(start(fleet.api, UNHEALTHY))
    assert stopped["state"] == "failed"
    assert states(stopped, 0) == [(DEV[0], "upgraded"), (DEV[1], "unhealthy")]
    entry = stopped["waves"][0]["instances"][1]
    assert entry["health"] == "Degraded"
    assert "Degraded" in entry["error"]
    assert stopped["waves"][1]["state"] == "pending"
    assert stopped["stopped"] == {
        "wave": "dev",
        "instance": DEV[1],
        "reason": entry["error"],
    }
    assert template_of(fleet.api, DEV[2]) == "web-service@1.2.0"  # never touched
    assert fleet.health(DEV[2]) == "Missing"  # never synced


def test_an_instance_degraded_later_in_its_wave_stops_the_rollout_before_the_next(
    fleet: Fleet,
) -> None:
    first = fleet.apps[DEV[0]]

    def degrade_the_first_once_the_last_syncs(stand_in: ArgoCdStandIn) -> None:
        if "operationState" in stand_in.applications[fleet.apps[DEV[2]]]["status"]:
            stand_in.applications[first]["status"]["health"] = {"status": "Degraded"}

    fleet.clock.levers.append(degrade_the_first_once_the_last_syncs)
    stopped = fleet.rollout(start(fleet.api, UNHEALTHY))
    assert fleet.health(DEV[0]) == "Degraded"
    assert stopped["state"] == "failed"
    assert states(stopped, 0) == [(DEV[0], "unhealthy"), (DEV[1], "upgraded"), (DEV[2], "upgraded")]
    entry = stopped["waves"][0]["instances"][0]
    assert entry["health"] == "Degraded"
    assert "Degraded" in entry["error"]
    assert "Healthy" in entry["error"]  # what it was when its sync ended
    assert stopped["waves"][0]["state"] == "failed"
    assert stopped["waves"][1] == {**stopped["waves"][1], "state": "pending", "instances": []}
    assert stopped["stopped"]["instance"] == DEV[0]
    assert [template_of(fleet.api, instance) for instance in SIT] == ["web-service@1.2.0"] * 2


def test_under_stop_on_failure_an_unhealthy_instance_is_recorded_and_the_rollout_goes_on(
    fleet: Fleet,
) -> None:
    fleet.argocd.outcomes[fleet.apps[DEV[1]]] = {"health": "Degraded"}
    done = fleet.rollout(start(fleet.api, PLAN))
    assert done["state"] == "succeeded"
    assert states(done, 0) == [(DEV[0], "upgraded"), (DEV[1], "unhealthy"), (DEV[2], "upgraded")]
    assert states(done, 1) == [(instance, "upgraded") for instance in SIT]
    assert done.get("stopped") is None
