"""Rollouts (DESIGN §10): instances moved to a template version wave by wave, as one job.

``start_rollout`` reads the plan (``core.fleet.rollouts``), checks that the caller may upgrade
every instance its waves name now (``instance.upgrade``), records the rollout and queues a
``fleet.rollout`` job. The job (``fleet_rollout_runs.run_rollout``) takes the waves in order;
in each, every instance of the template's name that matches the wave's filter (up to the
wave's ``max_parallel`` at once) is upgraded with ``instance_upgrades.upgrade`` (a new chart
built and published, values migrated, one commit), then, when it has an Argo CD server,
synced and waited for (``argocd_sync.sync_instance``). The first failed upgrade stops the
rollout (``failed``); under ``stop_on: unhealthy`` so does an instance Argo CD does not report
synced and healthy after its sync, and, when the wave's instances have all moved (before the
next wave), one it reported Healthy then and reports Degraded (or Missing) now: a health
regression. The rollout's ``stopped`` says which instance and why. Before it starts each
instance the job reads what a user asked for: ``pause`` ends the job with the rollout
``paused`` (``resume`` queues a new job that goes on where it stopped), ``abort`` ends it
``aborted``; the instances in flight end first. ``rollback`` (of one wave, or of all, last
wave first) upgrades each instance the rollout moved back to the template and app version it
came from: new commits, history kept.

In an environment whose changes need approval each instance's upgrade is proposed as an
``instance.upgrade`` change request instead (requested by the rollout's author); at the end
of the wave the rollout is ``awaiting`` until another person approved them (each
approval commits its upgrade) and ``resume`` goes on; a rejected or stale request fails the
wave.

Two rollouts of one template name never move one instance at a time: ``start_rollout`` and
``rollback`` refuse (409) while another rollout of the name is running, paused, awaiting or
rolling back and one of its waves could match an instance one of theirs names
(``core.fleet.rollouts.overlap``); a rollout whose job ended without it (a worker that gave
up) holds nothing. The check and the write hold a lock on the template name across server
processes (``publish_lock``), so two such requests at once cannot both pass.
"""

from __future__ import annotations

__all__ = [
    "RolloutView",
    "abort",
    "get_rollout",
    "load_rollout",
    "pause",
    "resume",
    "rollback",
    "save_rollout",
    "start_rollout",
    "wave_instances",
    "wave_sizes",
]

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.jobs_tables import JobRow, RolloutRow
from helmforge.adapters.storage.publish_locks import publish_lock
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import ConflictError, Location, NotFoundError
from helmforge.core.fleet.rollouts import Wave, overlap, parse_plan, stops
from helmforge.services import access, audit, jobs
from helmforge.services.fleet_sources import fleet_of
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_values import published_template

KIND = "fleet.rollout"
RUNNING, PAUSED, ABORTED, FAILED, SUCCEEDED = "running", "paused", "aborted", "failed", "succeeded"
AWAITING = "awaiting"
ROLLING_BACK, ROLLED_BACK = "rolling_back", "rolled_back"
#: The states of an instance the rollout moved (what a rollback moves back).
MOVED = ("upgraded", "unhealthy")
#: States in which a rollout may still move instances; with a job, only while the job runs.
_HOLDING, _MOVING = (PAUSED, AWAITING), (RUNNING, ROLLING_BACK)
UNDER_WAY = _HOLDING + _MOVING
_LOCK_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class RolloutView:
    """A rollout: ``waves`` lists per wave its ``name``, ``filter``, ``state`` (pending,
    running, done, failed) and ``instances`` (each ``{instance, state, from, from_version,
    revision?, error?, health?, rolled_back?}``); ``job`` is the job running it last."""

    id: str
    template: str
    app_version: str | None
    stop_on: str
    state: str
    requested: str | None
    job: str | None
    waves: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    updated_at: datetime

    @property
    def stopped(self) -> dict[str, str] | None:
        """Where a failed rollout stopped: ``{"wave", "instance", "reason"}`` of the first
        instance that failed or (under ``stop_on: unhealthy``) was unhealthy in its failed
        wave; ``None`` when it did not stop on an instance."""
        if self.state != FAILED:
            return None
        for wave in self.waves:
            if wave.get("state") != "failed":
                continue
            for entry in wave["instances"]:
                if stops(str(entry.get("state")), self.stop_on):
                    reason = entry.get("error") or f"it was {entry['state']}"
                    return {"wave": wave["name"], "instance": entry["instance"], "reason": reason}
        return None


def _view(row: RolloutRow) -> RolloutView:
    return RolloutView(
        id=row.id,
        template=row.template,
        app_version=row.app_version,
        stop_on=row.stop_on,
        state=row.state,
        requested=row.requested,
        job=row.job_id,
        waves=[dict(wave) for wave in row.waves],
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def wave_instances(
    sessions: sessionmaker[Session], actor: Principal, template_name: str, wave: Mapping[str, Any]
) -> list[InstanceView]:
    return fleet_of(sessions, actor=actor, chosen=wave.get("filter") or {}, template=template_name)


def start_rollout(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    template: str,
    waves: Any,
    stop_on: Any = "failure",
    version: str | None = None,
) -> RolloutView:
    """Record the rollout of ``template`` (published ``NAME@VERSION``) with app ``version``
    (``None``: each instance keeps its own) and queue its job. Raises ``InputError`` (bad
    plan), ``NotFoundError``/``ConflictError`` (no such published version),
    ``PermissionDeniedError`` (an instance of a wave the caller may not upgrade)."""
    plan, stop = parse_plan(waves, stop_on)
    version_view, _ = published_template(sessions, template)
    reference = f"{version_view.name}@{version_view.version}"
    total = 0
    for wave in plan:
        for view in wave_instances(sessions, actor, version_view.name, {"filter": wave.filter}):
            access.require(sessions, actor, "instance.upgrade", target_of(view.instance_id))
            total += 1
    now = datetime.now(UTC)
    row = RolloutRow(
        id=uuid.uuid4().hex,
        template=reference,
        app_version=version or None,
        stop_on=stop,
        state=RUNNING,
        requested=None,
        job_id=None,
        waves=[_wave_record(wave) for wave in plan],
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    with _name_lock(sessions, version_view.name):
        with sessions.begin() as session:
            _refuse_overlap(session, version_view.name, row.waves, rollout=None)
            session.add(row)
            audit.record(
                session,
                actor,
                "fleet.rollout.start",
                f"rollout:{row.id}",
                after={"template": reference, "version": version, "waves": row.waves},
            )
        return _queue(sessions, row.id, actor=actor, action="forward", total=total)


def _name_lock(sessions: sessionmaker[Session], name: str) -> Any:
    return publish_lock(engine_of(sessions), f"rollout:{name}", wait=_LOCK_WAIT, activity="rollout")


def _job_ended(session: Session, job_id: str | None, since: datetime) -> bool:
    """Whether job ``job_id`` ended after ``since`` (when its rollout last changed): it
    ended without moving the rollout on (a worker that gave up, a cancel). A rollout whose
    job is not queued yet (``None``), or whose state changed after its last job ended (a
    resume), waits for its job."""
    if job_id is None:
        return False
    row = session.execute(
        sa.select(JobRow.state, JobRow.finished_at).where(JobRow.id == job_id)
    ).first()
    ended = (jobs.SUCCEEDED, jobs.FAILED, jobs.CANCELLED)
    return row is not None and row.state in ended and (row.finished_at or since) >= since


def _refuse_overlap(
    session: Session, name: str, waves: list[dict[str, Any]], *, rollout: str | None
) -> None:
    """``ConflictError`` when another rollout of template ``name`` that may still move
    instances could move one that ``waves`` names."""
    rows = session.scalars(
        sa.select(RolloutRow)
        .where(
            RolloutRow.state.in_(UNDER_WAY),
            RolloutRow.template.startswith(f"{name}@", autoescape=True),
        )
        .order_by(RolloutRow.created_at)
    )
    for other in rows:
        if other.id == rollout or other.template.rpartition("@")[0] != name:
            continue
        if other.state in _MOVING and _job_ended(session, other.job_id, other.updated_at):
            continue
        where = overlap(waves, other.waves)
        if where is not None:
            raise ConflictError(
                f"rollout {other.id} of {other.template} is {other.state} and its wave "
                f"{where[1]!r} could move instances that wave {where[0]!r} names: abort it "
                "or let it end first, or name other instances (waves[].filter)",
                location=Location(path="waves"),
            )


def _wave_record(wave: Wave) -> dict[str, Any]:
    return {
        "name": wave.name,
        "filter": dict(wave.filter),
        "max_parallel": wave.max_parallel,
        "state": "pending",
        "instances": [],
    }


def _queue(
    sessions: sessionmaker[Session],
    rollout_id: str,
    *,
    actor: Principal,
    action: str,
    total: int = 0,
    wave: str | None = None,
) -> RolloutView:
    job = jobs.submit(
        sessions,
        kind=KIND,
        params={"rollout": rollout_id, "action": action, "wave": wave},
        actor=actor,
        total=total,
    )
    save_rollout(sessions, rollout_id, job_id=job.id)
    return load_rollout(sessions, rollout_id)


def load_rollout(sessions: sessionmaker[Session], rollout_id: str) -> RolloutView:
    with sessions() as session:
        row = session.get(RolloutRow, rollout_id) if 0 < len(rollout_id) <= 32 else None
        if row is None:
            raise NotFoundError(
                f"rollout {rollout_id!r} does not exist", location=Location(path="rollout")
            )
        return _view(row)


def _change_state(
    sessions: sessionmaker[Session],
    view: RolloutView,
    action: str,
    valid: tuple[str, ...],
    **values: Any,
) -> None:
    """Save ``values`` only if the rollout is still in one of the ``valid`` states, in one
    statement, else ``ConflictError``: of two resumes (or rollbacks) at once, one queues a job."""
    with sessions.begin() as session:
        moved = session.execute(
            sa.update(RolloutRow)
            .where(RolloutRow.id == view.id, RolloutRow.state.in_(valid))
            .values(**values, updated_at=datetime.now(UTC))
        )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        named = f"{', '.join(valid[:-1])} or {valid[-1]}" if len(valid) > 1 else valid[0]
        raise _refuse(load_rollout(sessions, view.id), action, named)


def save_rollout(sessions: sessionmaker[Session], rollout_id: str, **values: Any) -> None:
    with sessions.begin() as session:
        session.execute(
            sa.update(RolloutRow)
            .where(RolloutRow.id == rollout_id)
            .values(**values, updated_at=datetime.now(UTC))
        )


def get_rollout(
    sessions: sessionmaker[Session], rollout_id: str, *, actor: Principal
) -> RolloutView:
    """The rollout, for whoever started it and holders of ``audit.read`` (else missing)."""
    view = load_rollout(sessions, rollout_id)
    if view.created_by != actor.name:
        access.require(
            sessions, actor, "audit.read", hide_as=f"rollout {rollout_id!r} does not exist"
        )
    return view


def wave_sizes(sessions: sessionmaker[Session], view: RolloutView) -> list[int]:
    """How many instances each wave of the rollout moves: those it went through when it is
    done, else the instances its filter names now (as the job counts them)."""
    name = view.template.rpartition("@")[0]
    return [
        len(wave["instances"])
        if wave["state"] in ("done", "rolled_back")
        else max(len(wave["instances"]), len(wave_instances(sessions, SYSTEM, name, wave)))
        for wave in view.waves
    ]


def _controlled(
    sessions: sessionmaker[Session], rollout_id: str, actor: Principal, action: str
) -> RolloutView:
    view = get_rollout(sessions, rollout_id, actor=actor)
    if view.created_by != actor.name:
        access.require(sessions, actor, "policy.manage")
    with sessions.begin() as session:
        audit.record(session, actor, f"fleet.rollout.{action}", f"rollout:{rollout_id}")
    return view


def _refuse(view: RolloutView, action: str, valid: str) -> ConflictError:
    return ConflictError(
        f"rollout {view.id} is {view.state}: {action} applies to a {valid} rollout",
        location=Location(path="rollout"),
    )


def pause(sessions: sessionmaker[Session], rollout_id: str, *, actor: Principal) -> RolloutView:
    """Ask the running rollout to stop after the instance it is on (``paused``)."""
    view = _controlled(sessions, rollout_id, actor, "pause")
    _change_state(sessions, view, "pause", (RUNNING,), requested="pause")
    return load_rollout(sessions, rollout_id)


def resume(sessions: sessionmaker[Session], rollout_id: str, *, actor: Principal) -> RolloutView:
    """Go on with a paused rollout where it stopped (a new job)."""
    view = _controlled(sessions, rollout_id, actor, "resume")
    _change_state(sessions, view, "resume", (PAUSED, AWAITING), state=RUNNING, requested=None)
    return _queue(sessions, rollout_id, actor=actor, action="forward")


def abort(sessions: sessionmaker[Session], rollout_id: str, *, actor: Principal) -> RolloutView:
    """Stop the rollout for good: a running one after the instance it is on."""
    view = _controlled(sessions, rollout_id, actor, "abort")
    if view.state == RUNNING and _moving_on(sessions, view):
        _change_state(sessions, view, "abort", (RUNNING,), requested="abort")
    elif view.state == RUNNING:  # its job ended without it: nothing would read a request
        _change_state(sessions, view, "abort", (RUNNING,), state=ABORTED, requested=None)
    else:
        _change_state(
            sessions, view, "abort", (PAUSED, FAILED, AWAITING), state=ABORTED, requested=None
        )
    return load_rollout(sessions, rollout_id)


def _moving_on(sessions: sessionmaker[Session], view: RolloutView) -> bool:
    """Whether a job will read what is asked of the running rollout: its job is queued or
    running (a rollout whose job was never queued has none)."""
    if view.job is None:
        return False
    with sessions() as session:
        return not _job_ended(session, view.job, view.updated_at)


def rollback(
    sessions: sessionmaker[Session],
    rollout_id: str,
    *,
    actor: Principal,
    wave: str | None = None,
) -> RolloutView:
    """Move the instances the rollout upgraded (in ``wave``, or in every wave, last first)
    back to the template and app version each came from, as new commits (a job)."""
    view = _controlled(sessions, rollout_id, actor, "rollback")
    if wave is not None and all(each["name"] != wave for each in view.waves):
        names = ", ".join(each["name"] for each in view.waves)
        raise NotFoundError(
            f"rollout {rollout_id} has no wave {wave!r}; its waves: {names}",
            location=Location(path="wave"),
        )
    name = view.template.rpartition("@")[0]
    moved = [each for each in view.waves if wave is None or each["name"] == wave]
    with _name_lock(sessions, name):
        with sessions.begin() as session:
            _refuse_overlap(session, name, moved, rollout=rollout_id)
            claimed = session.scalar(
                sa.update(RolloutRow)
                .where(RolloutRow.id == rollout_id, RolloutRow.state.not_in(_MOVING))
                .values(state=ROLLING_BACK, requested=None, updated_at=datetime.now(UTC))
                .returning(RolloutRow.id)
            )
            if claimed is None:  # another rollback of it began meanwhile
                raise _refuse(load_rollout(sessions, rollout_id), "rollback", "not rolling back")
        return _queue(sessions, rollout_id, actor=actor, action="rollback", wave=wave)
