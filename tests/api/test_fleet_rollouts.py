"""Rollouts in waves (DESIGN §10) over a fleet in a real Git repository and registry, on
SQLite and PostgreSQL: waves in order, each instance upgraded by one commit; a broken
instance fails its wave and stops the rollout before the next wave; pause, resume and abort
between two instances; a rollback of a wave as new commits back to where each instance was.
A wave with ``max_parallel`` upgrades that many of its instances at once, their commits
sharing pushes; a failure or a pause stops new starts while the ones in flight end."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.adapters.git import CommitRequest, PushResult
from helmforge.adapters.storage.jobs_tables import JobRow, RolloutRow
from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import InputError
from helmforge.server.app import state_of
from helmforge.services import fleet_rollout_runs, fleet_rollouts, gitops_repositories, instance_git
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish
from tests.api.test_fleet_verification import run_job
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import edit_in_git, segments
from tests.support.held_pushes import HeldPush, until
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.registry import RegistryServer
from tests.support.servers import UPPER_BOUND

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
@pytest.mark.parametrize("max_parallel", [1, 2])
def test_a_wave_in_a_four_eyes_environment_waits_for_its_change_requests(
    fleet: Api, lab: GitLab, max_parallel: int
) -> None:
    bob = fleet.as_user("bob", role="approver")
    plan = {**PLAN, "waves": [PLAN["waves"][0], {**PLAN["waves"][1], "max_parallel": max_parallel}]}
    waiting = finish(fleet, start(fleet, plan))
    assert waiting["state"] == "awaiting"
    assert states(waiting, 0) == [(instance, "upgraded") for instance in DEV]
    assert sorted(states(waiting, 1)) == [(instance, "proposed") for instance in SIT]
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
    assert sorted(states(done, 1)) == [(instance, "upgraded") for instance in SIT]
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


PARALLEL = {**PLAN, "waves": [{**PLAN["waves"][0], "max_parallel": 3}, PLAN["waves"][1]]}


def _release_once_all_commit(
    lab: GitLab, hold: HeldPush, fleet: Api, monkeypatch: pytest.MonkeyPatch, count: int
) -> threading.Thread:
    """Hold the first push of the rollout in the hook until every one of ``count`` upgrades
    has its commit in a group: in the held one (its edit was asked for its files) or queued
    behind it; then let it through. A thread, joined by the caller."""
    entered: list[object] = []
    asked: set[int] = set()
    commit = gitops_repositories.commit

    def counted(
        sessions: Any, repository: Any, request: CommitRequest, *, wait: float
    ) -> PushResult:
        def changes(head: Any) -> Any:
            asked.add(id(request))
            return request.changes(head)

        entered.append(request)
        return commit(
            sessions, repository, dataclasses.replace(request, changes=changes), wait=wait
        )

    monkeypatch.setattr(gitops_repositories, "commit", counted)
    workspace = state_of(fleet.app).git_workspace
    repository = gitops_repositories.open_repository(fleet.sessions, "gitops", workspace=workspace)

    def release() -> None:
        hold.wait_held()
        until(
            lambda: (
                len(entered) == count
                and len(asked) + gitops_repositories.queued(repository, edits_only=True) == count
            ),
            "every upgrade of the wave committing",
        )
        hold.release()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


def test_a_parallel_wave_upgrades_its_instances_at_once_in_fewer_pushes(
    fleet: Api, lab: GitLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Upgrades behind the held push check their values on the cache and build meanwhile.
    monkeypatch.setattr(instance_git, "READ_WAIT", 0.2)
    commits, pushes = lab.commits(), len(lab.server.received)
    hold = HeldPush(lab, tmp_path, "exit 0")
    releaser = _release_once_all_commit(lab, hold, fleet, monkeypatch, len(DEV))
    rollout = start(fleet, {**PARALLEL, "waves": PARALLEL["waves"][:1]})
    assert rollout["waves"][0]["max_parallel"] == 3
    done = finish(fleet, rollout)
    releaser.join(UPPER_BOUND)
    assert not releaser.is_alive()
    assert done["state"] == "succeeded"
    assert sorted(states(done, 0)) == [(instance, "upgraded") for instance in DEV]
    assert lab.commits() == commits + len(DEV)
    assert len(lab.server.received) - pushes < len(DEV)
    for entry in done["waves"][0]["instances"]:
        instance = fleet.client.get(f"/api/v1/instances/{entry['instance']}").json()
        assert (instance["template"], instance["app_version"]) == ("web-service@1.3.0", "3.5.0")
        assert instance["revision"] == entry["revision"]
        history = fleet.client.get(f"/api/v1/instances/{entry['instance']}/history").json()
        assert history["items"][0]["revision"] == entry["revision"]
        assert f"rollout {done['rollout']}" in history["items"][0]["message"]


def test_a_broken_instance_in_a_parallel_wave_stops_the_rollout_before_the_next_wave(
    fleet: Api, lab: GitLab, tmp_path: Path
) -> None:
    broken = f"clusters/eu/{DEV[1]}/values.yaml"
    edit_in_git(lab, tmp_path / "outside", {broken: 'replicaCount: "three"\n'}, "broken")
    commits = lab.commits()
    failed = finish(fleet, start(fleet, PARALLEL))
    assert failed["state"] == "failed"
    # All three started at once: the two in flight beside the broken one end and are kept.
    assert sorted(states(failed, 0)) == [
        (DEV[0], "upgraded"),
        (DEV[1], "failed"),
        (DEV[2], "upgraded"),
    ]
    assert failed["stopped"]["instance"] == DEV[1]
    assert "replicaCount" in failed["stopped"]["reason"]
    assert failed["waves"][1] == {**failed["waves"][1], "state": "pending", "instances": []}
    assert lab.commits() == commits + 2
    assert [template_of(fleet, i) for i in SIT] == ["web-service@1.2.0"] * 2


def _fake_upgrades(
    monkeypatch: pytest.MonkeyPatch, moves: dict[str, Any]
) -> tuple[list[str], threading.Event]:
    """Each instance's upgrade in a rollout job is ``moves[instance]()`` (a revision, or it
    raises); instances not named upgrade at once. The instances asked, and an event set as
    the second one of the first wave is asked."""
    asked: list[str] = []
    second = threading.Event()

    def upgrade(run: Any, instance: str, template: str, version: str | None) -> Any:
        asked.append(instance)
        if instance == DEV[1]:
            second.set()
        return moves.get(instance, lambda: "f" * 40)(), None

    monkeypatch.setattr(fleet_rollout_runs._Run, "propose_or_upgrade", upgrade)
    return asked, second


def _recorded(fleet: Api, rollout: str, instance: str) -> bool:
    view = fleet_rollouts.get_rollout(fleet.sessions, rollout, actor=SYSTEM)
    return any(entry["instance"] == instance for entry in view.waves[0]["instances"])


def test_a_failure_in_a_parallel_wave_starts_nothing_more_and_waits_for_the_ones_in_flight(
    fleet: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout = start(fleet, {**PLAN, "waves": [{**PLAN["waves"][0], "max_parallel": 2}]})

    def first() -> str:
        raise InputError("the first one broke")

    def in_flight() -> str:  # ends only once the failure beside it was recorded
        until(lambda: _recorded(fleet, rollout["rollout"], DEV[0]), "the failure recorded")
        return "e" * 40

    asked, _ = _fake_upgrades(monkeypatch, {DEV[0]: first, DEV[1]: in_flight})
    failed = finish(fleet, rollout)
    assert sorted(asked) == DEV[:2]  # DEV[2] never started
    assert failed["state"] == "failed"
    assert states(failed, 0) == [(DEV[0], "failed"), (DEV[1], "upgraded")]
    assert failed["waves"][0]["instances"][1]["revision"] == "e" * 40
    assert failed["stopped"] == {
        "wave": "dev",
        "instance": DEV[0],
        "reason": "the first one broke",
    }


def test_a_pause_in_a_parallel_wave_lets_the_ones_in_flight_end_and_resume_goes_on(
    fleet: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollout = start(
        fleet, {**PLAN, "waves": [{**PLAN["waves"][0], "max_parallel": 2}, PLAN["waves"][1]]}
    )

    def pausing() -> str:  # asks for a pause once both instances of the wave started
        assert second.wait(UPPER_BOUND)
        fleet_rollouts.pause(fleet.sessions, rollout["rollout"], actor=SYSTEM)
        return "a" * 40

    def in_flight() -> str:
        until(lambda: _recorded(fleet, rollout["rollout"], DEV[0]), "the first recorded")
        return "b" * 40

    asked, second = _fake_upgrades(monkeypatch, {DEV[0]: pausing, DEV[1]: in_flight})
    paused = finish(fleet, rollout)
    assert sorted(asked) == DEV[:2]
    assert paused["state"] == "paused"
    assert states(paused, 0) == [(DEV[0], "upgraded"), (DEV[1], "upgraded")]
    done = finish(fleet, act(fleet, rollout["rollout"], "resume"))
    assert done["state"] == "succeeded"
    assert asked[2:] == [DEV[2], *SIT]
    assert states(done, 0)[2:] == [(DEV[2], "upgraded")]


@pytest.mark.parametrize("bad", [0, 21, "many"])
def test_a_bad_max_parallel_is_refused_before_anything_is_recorded(fleet: Api, bad: object) -> None:
    plan = {**PLAN, "waves": [PLAN["waves"][0], {**PLAN["waves"][1], "max_parallel": bad}]}
    response = fleet.client.post("/api/v1/fleet/rollouts", json=plan)
    assert response.status_code == 422, response.text
    assert "max_parallel" in response.text
    if isinstance(bad, int):
        assert "waves[1].max_parallel" in response.text
        assert "from 1 to 20" in response.text
    with fleet.sessions() as session:
        assert session.query(RolloutRow).count() == 0
        assert session.query(JobRow).filter(JobRow.kind == fleet_rollouts.KIND).count() == 0
