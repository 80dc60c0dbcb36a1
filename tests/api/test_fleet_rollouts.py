"""Rollouts in waves (DESIGN §10) over a fleet in a real Git repository and registry, on
SQLite and PostgreSQL: waves in order, each instance upgraded by one commit; a broken
instance fails its wave and stops the rollout before the next wave; pause, resume and abort
between two instances; a rollback of a wave as new commits back to where each instance was."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.access.changes import ApprovalRules
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish
from tests.api.test_fleet_verification import run_job
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import edit_in_git, segments
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

DEV = ["shop/c0/dev/i0", "shop/c0/dev/i1", "shop/c0/dev/i2"]
SIT = ["shop/c0/sit/i3", "shop/c0/sit/i4"]
PLAN = {
    "template": "web-service@1.3.0",
    "version": "3.5.0",
    "waves": [
        {"name": "dev", "filter": {"environment": "dev"}},
        {"name": "sit", "filter": {"environment": "sit"}},
    ],
}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def approvals() -> dict[str, int]:
    return {}


@pytest.fixture
def fleet(
    database_url: str,
    tmp_path: Path,
    lab: GitLab,
    basic_registry: RegistryServer,
    approvals: dict[str, int],
) -> Iterator[Api]:
    app, password = make_app(
        database_url,
        tmp_path / "data",
        jobs_worker=False,
        approvals=ApprovalRules(by_environment=approvals),
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        approver: dict[str, str] | None = None
        for number in range(5):
            environment = "dev" if number < 3 else "sit"
            values: dict[str, Any] = {"replicaCount": 2}
            if environment == "sit":  # no layer gives sit a host
                values["ingress"] = {"host": f"i{number}.example.com"}
            body = instance_body(segments(number, environment=environment), values=values)
            created = api.client.post("/api/v1/instances", json=body)
            if created.status_code == 202:  # four eyes there: another person approves it
                approver = approver or api.as_user("carol", role="approver")
                request = created.json()["change_request"]
                created = api.client.post(
                    f"/api/v1/change-requests/{request}/approve", json={}, headers=approver
                )
            assert created.status_code in (200, 201), created.text
        text = example_text(version="1.3.0").replace("default: 8080", "default: 8081", 1)
        publish(api, text, "1.3.0")
        yield api


def start(api: Api, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.client.post("/api/v1/fleet/rollouts", json=plan or PLAN)
    assert response.status_code == 202, response.text
    return dict(response.json())


def act(api: Api, rollout: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.client.post(f"/api/v1/fleet/rollouts/{rollout}/{action}", json=body or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def finish(api: Api, rollout: dict[str, Any]) -> dict[str, Any]:
    job = run_job(api, rollout["job"])
    assert job["state"] == "succeeded", job
    return dict(api.client.get(f"/api/v1/fleet/rollouts/{rollout['rollout']}").json())


def template_of(api: Api, instance: str) -> str:
    return str(api.client.get(f"/api/v1/instances/{instance}").json()["template"])


def states(rollout: dict[str, Any], wave: int) -> list[tuple[str, str]]:
    return [(e["instance"], e["state"]) for e in rollout["waves"][wave]["instances"]]


def test_waves_run_in_order_and_a_wave_rolls_back_as_new_commits(fleet: Api, lab: GitLab) -> None:
    commits = lab.commits()
    done = finish(fleet, start(fleet))
    assert done["state"] == "succeeded"
    assert states(done, 0) == [(instance, "upgraded") for instance in DEV]
    assert states(done, 1) == [(instance, "upgraded") for instance in SIT]
    assert lab.commits() == commits + 5
    for instance in DEV + SIT:
        assert template_of(fleet, instance) == "web-service@1.3.0"
    application = lab.show(f"clusters/eu/{SIT[0]}/application.yaml")
    assert re.search(r"targetRevision: ['\"]?3\.5\.0", application)

    back = finish(fleet, act(fleet, done["rollout"], "rollback", {"wave": "sit"}))
    assert back["state"] == "rolled_back"
    assert lab.commits() == commits + 7
    assert [template_of(fleet, i) for i in SIT] == ["web-service@1.2.0"] * 2
    assert [template_of(fleet, i) for i in DEV] == ["web-service@1.3.0"] * 3
    assert all("rolled_back" in entry for entry in back["waves"][1]["instances"])
    again = fleet.client.post(f"/api/v1/fleet/rollouts/{done['rollout']}/pause")
    assert again.status_code == 409


def test_a_broken_instance_fails_its_wave_and_the_next_wave_never_starts(
    fleet: Api, lab: GitLab, tmp_path: Path
) -> None:
    broken = f"clusters/eu/{DEV[1]}/values.yaml"
    edit_in_git(lab, tmp_path / "outside", {broken: 'replicaCount: "three"\n'}, "broken")
    commits = lab.commits()
    failed = finish(fleet, start(fleet))
    assert failed["state"] == "failed"
    assert states(failed, 0) == [(DEV[0], "upgraded"), (DEV[1], "failed")]
    assert "replicaCount" in failed["waves"][0]["instances"][1]["error"]
    assert failed["waves"][0]["state"] == "failed"
    assert failed["waves"][1] == {**failed["waves"][1], "state": "pending", "instances": []}
    assert lab.commits() == commits + 1
    assert template_of(fleet, SIT[0]) == "web-service@1.2.0"

    back = finish(fleet, act(fleet, failed["rollout"], "rollback"))
    assert back["state"] == "rolled_back"
    assert template_of(fleet, DEV[0]) == "web-service@1.2.0"
    assert lab.commits() == commits + 2


def test_pause_resume_and_abort_act_between_two_instances(fleet: Api, lab: GitLab) -> None:
    rollout = start(fleet)
    paused = act(fleet, rollout["rollout"], "pause")
    assert paused["requested"] == "pause"
    paused = finish(fleet, paused)
    assert paused["state"] == "paused"
    assert states(paused, 0) == []
    resumed = act(fleet, rollout["rollout"], "resume")
    assert resumed["job"] != rollout["job"]
    done = finish(fleet, resumed)
    assert done["state"] == "succeeded"
    assert len(states(done, 0)) + len(states(done, 1)) == 5

    other = start(fleet, {**PLAN, "version": "3.6.0"})
    act(fleet, other["rollout"], "abort")
    aborted = finish(fleet, other)
    assert aborted["state"] == "aborted"
    assert template_of(fleet, DEV[0]) == "web-service@1.3.0"
    refused = fleet.client.post(f"/api/v1/fleet/rollouts/{other['rollout']}/resume")
    assert refused.status_code == 409
    assert "aborted" in refused.json()["message"]


def test_a_bad_plan_is_refused_before_anything_is_recorded(fleet: Api) -> None:
    duplicate = {**PLAN, "waves": [{"name": "a"}, {"name": "a"}]}
    response = fleet.client.post("/api/v1/fleet/rollouts", json=duplicate)
    assert response.status_code in (400, 422)
    assert "waves[1].name" in response.text
    empty = fleet.client.post("/api/v1/fleet/rollouts", json={**PLAN, "waves": []})
    assert empty.status_code == 422
    operator = fleet.as_user("otto", role="auditor")
    denied = fleet.client.post("/api/v1/fleet/rollouts", json=PLAN, headers=operator)
    assert denied.status_code == 403, denied.text


@pytest.mark.parametrize("approvals", [{"sit": 1}])
def test_a_wave_in_a_four_eyes_environment_waits_for_its_change_requests(
    fleet: Api, lab: GitLab
) -> None:
    bob = fleet.as_user("bob", role="approver")
    waiting = finish(fleet, start(fleet))
    assert waiting["state"] == "awaiting"
    assert states(waiting, 0) == [(instance, "upgraded") for instance in DEV]
    assert states(waiting, 1) == [(instance, "proposed") for instance in SIT]
    assert [template_of(fleet, i) for i in SIT] == ["web-service@1.2.0"] * 2
    commits = lab.commits()
    for entry in waiting["waves"][1]["instances"]:
        request = entry["change_request"]
        own = fleet.client.post(f"/api/v1/change-requests/{request}/approve", json={})
        assert own.status_code == 403, own.text  # the rollout's author never approves
        approved = fleet.client.post(
            f"/api/v1/change-requests/{request}/approve", json={}, headers=bob
        )
        assert approved.status_code == 200, approved.text
    assert lab.commits() == commits + 2
    assert "Approved-by: bob" in lab.log()
    done = finish(fleet, act(fleet, waiting["rollout"], "resume"))
    assert done["state"] == "succeeded"
    assert states(done, 1) == [(instance, "upgraded") for instance in SIT]
    assert [template_of(fleet, i) for i in SIT] == ["web-service@1.3.0"] * 2


def test_a_second_rollout_that_could_move_the_same_instances_is_refused_until_the_first_ends(
    fleet: Api, lab: GitLab
) -> None:
    first = start(fleet)
    sit_only = {
        **PLAN,
        "version": "3.6.0",
        "waves": [{"name": "s", "filter": PLAN["waves"][1]["filter"]}],
    }
    refused = fleet.client.post("/api/v1/fleet/rollouts", json=sit_only)
    assert refused.status_code == 409, refused.text
    message = refused.json()["message"]
    assert first["rollout"] in message
    assert "wave 'sit'" in message
    assert "wave 's'" in message
    assert "waves" in refused.text
    # Waves that can never match one instance of the first rollout's are no overlap.
    elsewhere = {**PLAN, "waves": [{"name": "uat", "filter": {"environment": "uat"}}]}
    apart = fleet.client.post("/api/v1/fleet/rollouts", json=elsewhere)
    assert apart.status_code == 202, apart.text

    paused = finish(fleet, act(fleet, first["rollout"], "pause"))
    assert paused["state"] == "paused"
    again = fleet.client.post("/api/v1/fleet/rollouts", json=sit_only)
    assert again.status_code == 409, again.text  # a paused rollout still holds its instances
    act(fleet, first["rollout"], "abort")
    second = finish(fleet, start(fleet, sit_only))
    assert second["state"] == "succeeded"
    assert [template_of(fleet, i) for i in SIT] == ["web-service@1.3.0"] * 2

    # A rollback moves instances too: while a third rollout runs over them, it waits.
    third = start(fleet, {**PLAN, "version": "3.7.0"})
    rollback = fleet.client.post(f"/api/v1/fleet/rollouts/{second['rollout']}/rollback", json={})
    assert rollback.status_code == 409, rollback.text
    assert third["rollout"] in rollback.json()["message"]


def test_a_rollout_whose_job_ended_without_it_holds_nothing_and_aborts_at_once(
    fleet: Api,
) -> None:
    stuck = start(fleet)
    cancelled = fleet.client.post(f"/api/v1/jobs/{stuck['job']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    view = fleet.client.get(f"/api/v1/fleet/rollouts/{stuck['rollout']}").json()
    assert view["state"] == "running"  # nothing will move it on
    other = start(fleet, {**PLAN, "version": "3.6.0"})
    assert other["rollout"] != stuck["rollout"]
    aborted = act(fleet, stuck["rollout"], "abort")
    assert aborted["state"] == "aborted"
