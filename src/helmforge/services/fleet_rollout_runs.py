"""The ``fleet.rollout`` job (DESIGN §10), the room of ``services.fleet_rollouts`` that moves
instances: forward through a rollout's waves, or a rollback (see ``fleet_rollouts``).

A wave's instances are moved up to its ``max_parallel`` at once on a pool of threads (their
upgrades' commits meet in the repository's group commit and share pushes). The job's thread
is the one writer of the rollout's record: each instance's outcome is handed back to it, and
``core.fleet.rollouts.WaveGate`` decides whether another may start. What a user asked for
(pause, abort) is read before each start; once a wave stops (that, or the first failure) no
instance starts, and those in flight end and are recorded.
"""

from __future__ import annotations

__all__ = ["run_rollout"]

import itertools
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import HelmforgeError
from helmforge.core.fleet.rollouts import WaveGate
from helmforge.services import change_requests, instances
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.fleet_rollouts import (
    ABORTED,
    AWAITING,
    FAILED,
    MOVED,
    PAUSED,
    ROLLED_BACK,
    RUNNING,
    SUCCEEDED,
    RolloutView,
    load_rollout,
    save_rollout,
    wave_instances,
)
from helmforge.services.instance_records import InstanceView
from helmforge.services.instance_upgrades import upgrade
from helmforge.services.jobs import JobContext


class _Run:
    def __init__(self, context: JobContext, view: RolloutView) -> None:
        self.context, self.view = context, view
        self.sessions = context.sessions
        self.waves = view.waves
        self.done = sum(len(wave["instances"]) for wave in self.waves)

    def save(self, **values: Any) -> None:
        save_rollout(self.sessions, self.view.id, waves=self.waves, **values)

    def requested(self) -> str | None:
        return load_rollout(self.sessions, self.view.id).requested

    def propose_or_upgrade(
        self, instance: str, template: str, version: str | None
    ) -> tuple[str | None, int | None]:
        """The new revision, or (where the environment needs approval) the change request
        proposing the upgrade."""
        change = instances.upgrade_or_propose(
            self.sessions,
            instance,
            actor=self.context.actor,
            workspace=self.context.resources.workspace,
            template=template,
            version=version,
            message=f"rollout {self.view.id}",
        )
        if isinstance(change, ChangeRequestView):
            return None, change.id
        return change.revision, None

    def upgrade(self, instance: str, template: str, version: str | None) -> str:
        change = upgrade(
            self.sessions,
            instance,
            actor=self.context.actor,
            workspace=self.context.resources.workspace,
            template=template,
            version=version,
            message=f"rollout {self.view.id}",
        )
        return change.revision

    def sync(self, view: InstanceView) -> tuple[str | None, str | None]:
        """The health Argo CD reports after the instance's sync, and why the sync did not
        end synced and healthy (``None``: it did)."""
        from helmforge.services.argocd_sync import sync_instance

        try:
            result = sync_instance(
                self.sessions,
                view.id,
                actor=self.context.actor,
                workspace=self.context.resources.workspace,
            )
        except HelmforgeError as error:
            return self.health(view), str(error)
        return result.health, None

    def health(self, view: InstanceView) -> str | None:
        """The health Argo CD reports for the instance now (``None``: it could not say)."""
        from helmforge.services.argocd_sync import read_status

        status = read_status(self.sessions, view, workspace=self.context.resources.workspace)
        return None if status is None or status.error else status.health


def _forward(run: _Run) -> dict[str, Any]:
    view = run.view
    name = view.template.rpartition("@")[0]
    total = sum(len(wave_instances(run.sessions, SYSTEM, name, wave)) for wave in run.waves)
    for wave in run.waves:
        if wave["state"] == "done":
            continue
        wave["state"] = "running"
        run.save()
        seen = {entry["instance"] for entry in wave["instances"]}
        todo = [i for i in wave_instances(run.sessions, SYSTEM, name, wave) if i.id not in seen]
        stopped_by = _move_wave(run, wave, todo, total)
        if stopped_by == "failed":
            wave["state"] = "failed"
            run.save(state=FAILED)
            return _result(run)
        if stopped_by in ("pause", "abort"):
            run.save(state=PAUSED if stopped_by == "pause" else ABORTED, requested=None)
            return _result(run)
        if view.stop_on == "unhealthy" and _regressed(run, wave):
            wave["state"] = "failed"
            run.save(state=FAILED)
            return _result(run)
        waiting, refused = _settle(run, wave)
        if refused:
            wave["state"] = "failed"
            run.save(state=FAILED)
            return _result(run)
        if waiting:
            run.save(state=AWAITING)
            return _result(run)
        wave["state"] = "done"
        run.save()
    run.save(state=SUCCEEDED)
    return _result(run)


def _move_wave(run: _Run, wave: dict[str, Any], todo: list[InstanceView], total: int) -> str | None:
    """Move ``todo``, the wave's instances not moved yet, in order, up to the wave's
    ``max_parallel`` at once on a pool of threads (their commits then share the
    repository's group pushes): what the user asked is read before each start, and each
    outcome is handed back to this thread, which alone records it in ``wave`` and saves
    the rollout. What stopped the wave early (``core.fleet.rollouts.WaveGate``: failed,
    pause, abort), else ``None``; the instances in flight then end and are recorded
    first. An error outside any instance's outcome (a bug, the database, the job
    cancelled) starts nothing more and is raised once those in flight are recorded."""
    gate = WaveGate(max_parallel=int(wave.get("max_parallel") or 1), stop_on=run.view.stop_on)
    pending = iter(todo)
    order = itertools.count()
    running: dict[Future[dict[str, Any]], tuple[int, InstanceView]] = {}
    problem: Exception | None = None
    with ThreadPoolExecutor(gate.max_parallel, thread_name_prefix="rollout") as pool:
        while True:
            try:
                while gate.may_start() and (instance := next(pending, None)) is not None:
                    gate.asked(run.requested())
                    if gate.may_start():
                        gate.started()
                        running[pool.submit(_move, run, instance)] = (next(order), instance)
            except Exception as error:  # reading the request failed: start nothing more
                gate.broke()
                problem = problem or error
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda done: running[done][0]):
                _, instance = running.pop(future)
                entry: dict[str, Any] | None = None
                try:
                    entry = future.result()
                except Exception as error:  # no outcome of the instance's: a bug
                    problem = problem or error
                gate.ended(instance.id, None if entry is None else entry["state"])
                if entry is None:
                    continue
                try:
                    _record(run, wave, entry, total)
                except Exception as error:  # the database, or the job was cancelled
                    gate.broke()
                    problem = problem or error
    if problem is not None:
        raise problem
    return gate.stopped_by


def _record(run: _Run, wave: dict[str, Any], entry: dict[str, Any], total: int) -> None:
    """Keep an instance's outcome in the wave, save the rollout and report the progress
    (``JobCancelledError`` once the job was cancelled)."""
    wave["instances"].append(entry)
    run.done += 1
    run.save()
    run.context.report(done=run.done, total=max(run.done, total))


#: Health that an instance reported Healthy after its sync must not fall to before its
#: wave ends (Progressing and Suspended are not regressions: they are on their way).
_REGRESSED = ("Degraded", "Missing")


def _regressed(run: _Run, wave: dict[str, Any]) -> bool:
    """Ask Argo CD again, at the end of the wave, about each instance it reported Healthy
    after its sync (one list request per server and batch): the first found Degraded (or
    Missing) now is ``unhealthy``, saying so, and the wave stops there. Whether one was."""
    from helmforge.services.argocd_sync import read_statuses

    name = run.view.template.rpartition("@")[0]
    views = {view.id: view for view in wave_instances(run.sessions, SYSTEM, name, wave)}
    synced = [
        entry
        for entry in wave["instances"]
        if entry["state"] == "upgraded"
        and entry.get("health") == "Healthy"
        and entry["instance"] in views
    ]
    statuses = read_statuses(
        run.sessions,
        [views[entry["instance"]] for entry in synced],
        workspace=run.context.resources.workspace,
    )
    for entry in synced:
        status = statuses.get(entry["instance"])
        health = status.health if status is not None and not status.error else None
        if health in _REGRESSED:
            entry["state"] = "unhealthy"
            entry["health"] = health
            entry["error"] = (
                f"Argo CD reports instance {entry['instance']} {health} at the end of wave "
                f"{wave['name']}: it reported it Healthy when its sync ended"
            )
            run.save()
            return True
    return False


def _settle(run: _Run, wave: dict[str, Any]) -> tuple[bool, bool]:
    """Look again at the wave's proposed upgrades: applied ones count as upgraded, rejected
    or stale ones as failed; whether some still wait for approval, and whether one failed."""
    target = run.view.template
    name = target.rpartition("@")[0]
    views = {view.id: view for view in wave_instances(run.sessions, SYSTEM, name, wave)}
    waiting = refused = False
    for entry in wave["instances"]:
        if entry["state"] != "proposed":
            continue
        request = change_requests.get_request(run.sessions, entry["change_request"], actor=SYSTEM)
        view = views.get(entry["instance"])
        if request.state == "applied" and view is not None and view.template == target:
            entry["state"] = "upgraded"
            entry["revision"] = view.revision
        elif request.state in ("rejected", "stale"):
            entry["state"] = "failed"
            entry["error"] = f"change request #{request.id} was {request.state}"
            refused = True
        else:
            waiting = True
    run.save()
    return waiting, refused


def _move(run: _Run, instance: InstanceView) -> dict[str, Any]:
    target, version = run.view.template, run.view.app_version
    entry: dict[str, Any] = {
        "instance": instance.id,
        "from": instance.template,
        "from_version": instance.app_version,
    }
    if instance.template == target and (version is None or instance.app_version == version):
        return {**entry, "state": "unchanged"}
    try:
        revision, request = run.propose_or_upgrade(instance.id, target, version)
    except HelmforgeError as error:
        return {**entry, "state": "failed", "error": str(error)}
    if request is not None:
        return {**entry, "state": "proposed", "change_request": request}
    entry["revision"] = revision
    entry["state"] = "upgraded"
    if instance.argocd is not None:
        health, problem = run.sync(instance)
        entry["health"] = health
        if problem is not None or health != "Healthy":
            entry["state"] = "unhealthy"
            entry["error"] = problem or f"Argo CD reports it {health}"
    return entry


def _roll_back(run: _Run, only: str | None) -> dict[str, Any]:
    failed = False
    for wave in reversed(run.waves):
        if only is not None and wave["name"] != only:
            continue
        for entry in reversed(wave["instances"]):
            if entry["state"] not in MOVED or "rolled_back" in entry:
                continue
            try:
                entry["rolled_back"] = run.upgrade(
                    entry["instance"], entry["from"], entry["from_version"]
                )
                entry.pop("rollback_error", None)
            except HelmforgeError as error:
                entry["rollback_error"] = str(error)
                failed = True
            run.save()
        wave["state"] = "rolled_back" if not failed else wave["state"]
    run.save(state=FAILED if failed else ROLLED_BACK)
    return _result(run)


def _result(run: _Run) -> dict[str, Any]:
    final = load_rollout(run.sessions, run.view.id)
    result = {"rollout": final.id, "state": final.state, "waves": final.waves}
    return result if final.stopped is None else {**result, "stopped": final.stopped}


def run_rollout(context: JobContext) -> dict[str, Any]:
    """The ``fleet.rollout`` job: forward through the waves, or a rollback (see the module's
    docstring); ``{"rollout", "state", "waves"}``."""
    view = load_rollout(context.sessions, str(context.params["rollout"]))
    run = _Run(context, view)
    if context.params.get("action") == "rollback":
        return _roll_back(run, context.params.get("wave"))
    if view.state != RUNNING:
        return _result(run)
    return _forward(run)
