"""Fleet verification (DESIGN §10): is what runs what helmforge built from its recorded inputs?

``submit_verification`` checks who asks and which instances they may read (``instance.read``,
filtered like ``GET /api/v1/instances``) and queues a ``fleet.verify`` job over them.
``run_verification`` (the job) fetches each GitOps repository once, then for every instance:

1. renders its recorded build again from the recorded inputs (template version, context,
   values, chart version) and compares the digest with the recorded one;
2. reads the manifest the registry serves under the chart version's tag, one request per
   instance: its chart layer's digest is compared with the recorded build's (no blob is
   downloaded: the manifest names the layer's digest);
3. reads application.yaml's chart and ``targetRevision`` and values.yaml at the branch head,
   beside values.yaml at the revision helmforge last committed (the audit log's record).

The database is read a batch of instances at a time (``_BATCH``): their rows, their recorded
builds and the revisions helmforge last committed, one query each, whatever the batch's size.
``core.fleet.verification.drift_of`` draws the conclusions. The job saves its findings with
its progress, so a job whose worker died resumes after the last instance it saved.
``drifted_instances`` feeds the Prometheus gauge ``helmforge_fleet_drifted_instances``.
"""

from __future__ import annotations

__all__ = [
    "DriftCollector",
    "drifted_instances",
    "run_verification",
    "schedule_if_due",
    "submit_verification",
]

import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.jobs_tables import JobRow
from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import HelmforgeError
from helmforge.core.fleet.filters import parse_filter
from helmforge.core.fleet.verification import Observation, drift_of, outcome_json
from helmforge.core.oci.artifacts import layer_digest_of
from helmforge.core.oci.chart_versions import tag_for_version
from helmforge.core.oci.references import repository_for
from helmforge.core.yaml_codec import load_single
from helmforge.services import chart_builds, jobs
from helmforge.services.fleet_sources import FleetSources, fleet_members, fleet_of
from helmforge.services.instance_records import InstanceView
from helmforge.services.instance_values import overrides_of
from helmforge.services.jobs import JobContext, JobView

if TYPE_CHECKING:
    from helmforge.adapters.git import GitRepository

_log = logging.getLogger("helmforge.fleet")

KIND = "fleet.verify"
#: The audit actions after which an instance's values.yaml is what helmforge committed.
_COMMITTING = ("instance.create", "values.update", "instance.rollback", "instance.upgrade")
#: Findings are saved with the progress about this many times per job (and at the end).
_SAVES = 50
#: Instances whose records (rows, builds, audit revisions) are read together.
_BATCH = 100


def submit_verification(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    filter: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> JobView:
    """Queue the verification of every instance ``actor`` may read that matches ``filter``
    (``{"product", "customer", "environment"}``, each optional). ``InputError`` for a bad
    filter."""
    chosen = parse_filter(filter)
    views = fleet_of(sessions, actor=actor, chosen=chosen)
    return jobs.submit(
        sessions,
        kind=KIND,
        params={"filter": chosen, "instances": [view.id for view in views]},
        actor=actor,
        total=len(views),
        now=now,
    )


def _committed_revisions(sessions: sessionmaker[Session], ids: list[str]) -> dict[str, str]:
    """The revision of the last commit helmforge made to each instance (audit log)."""
    found: dict[str, str] = {}
    with sessions() as session:
        for start in range(0, len(ids), 500):
            targets = [f"instance:{instance}" for instance in ids[start : start + 500]]
            rows = session.execute(
                sa.select(AuditEventRow.target, AuditEventRow.after)
                .where(
                    AuditEventRow.target.in_(targets),
                    AuditEventRow.action.in_(_COMMITTING),
                )
                .order_by(AuditEventRow.id.desc())
            )
            for target, after in rows:
                instance = target.removeprefix("instance:")
                revision = after.get("revision") if isinstance(after, dict) else None
                if instance not in found and isinstance(revision, str) and revision:
                    found[instance] = revision
    return found


def _rebuilt(
    fleet: FleetSources, build: chart_builds.ChartBuildView
) -> tuple[str | None, str | None]:
    try:
        archive = chart_builds.reproduce_archive(fleet.template(build.template), build)
    except HelmforgeError as error:
        return None, str(error)
    return "sha256:" + hashlib.sha256(archive).hexdigest(), None


def _served(fleet: FleetSources, view: InstanceView) -> tuple[str | None, str | None]:
    try:
        client, reference = fleet.registry(view.registry)
        manifest = client.get_manifest(
            repository_for(reference, view.chart), tag_for_version(view.chart_version)
        )
    except HelmforgeError as error:
        return None, str(error)
    if manifest is None:
        return None, None
    digest = layer_digest_of(manifest.data)
    return digest or f"(a manifest {manifest.digest} without a chart layer)", None


def _application(reader: GitRepository, view: InstanceView) -> tuple[Any, Any, str | None]:
    raw = reader.read_file(view.application_path)
    if raw is None:
        return None, None, f"{view.application_path} is not in the repository"
    try:
        document = load_single(raw.decode("utf-8", "replace"), source=view.application_path).data
    except HelmforgeError as error:
        return None, None, str(error)
    sources = document.get("spec", {}).get("sources") if isinstance(document, dict) else None
    if not isinstance(sources, list) or not sources or not isinstance(sources[0], dict):
        return None, None, f"{view.application_path} has no chart source (spec.sources[0])"
    return sources[0].get("chart"), sources[0].get("targetRevision"), None


def _observe(
    fleet: FleetSources,
    view: InstanceView,
    build: chart_builds.ChartBuildView | None,
    committed: str | None,
) -> Observation:
    tag = tag_for_version(view.chart_version)
    rebuilt, rebuild_problem = _rebuilt(fleet, build) if build is not None else (None, None)
    served, registry_problem = _served(fleet, view)
    reader = fleet.reader(view.repository)
    chart, version, application_problem = _application(reader, view)
    recorded_values = current_values = None
    values_problem = None
    try:
        _, current_values = overrides_of(
            reader.read_file(view.values_path), source=view.values_path
        )
        if committed is not None and reader.contains(committed):
            _, recorded_values = overrides_of(
                reader.read_file(view.values_path, committed),
                source=f"{view.values_path}@{committed[:12]}",
            )
    except HelmforgeError as error:
        values_problem = str(error)
    return Observation(
        instance=view.id,
        chart=view.chart,
        chart_version=view.chart_version,
        tag=tag,
        recorded_digest=build.digest if build is not None else None,
        rebuilt_digest=rebuilt,
        rebuild_problem=rebuild_problem,
        registry_digest=served,
        registry_problem=registry_problem,
        application_chart=chart,
        application_version=version,
        application_problem=application_problem,
        recorded_values=recorded_values,
        current_values=current_values,
        values_problem=values_problem,
        recorded_revision=committed,
        recorded_generator=build.generator if build is not None else None,
        running_generator=chart_builds.generator(),
    )


@dataclass(frozen=True, slots=True)
class _Batch:
    """What the database holds about a batch of instances, read together: the views of those
    that still exist, their recorded builds and the revisions helmforge last committed."""

    views: dict[str, InstanceView]
    builds: dict[str, chart_builds.ChartBuildView]
    committed: dict[str, str]

    def build_of(self, view: InstanceView) -> chart_builds.ChartBuildView | None:
        return self.builds.get(view.build_id) if view.build_id is not None else None


def _batches(sessions: sessionmaker[Session], ids: list[str]) -> Iterator[tuple[list[str], _Batch]]:
    """``ids`` in slices of ``_BATCH``, each with what the database holds about it: three
    queries a slice (instances, builds, audit records), whatever its size."""
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        views = fleet_members(sessions, chunk)
        builds = chart_builds.get_builds(
            sessions,
            [view.build_id for view in views.values() if view.build_id is not None],
            actor=SYSTEM,
        )
        yield chunk, _Batch(views, builds, _committed_revisions(sessions, list(views)))


def run_verification(context: JobContext) -> dict[str, Any]:
    """The ``fleet.verify`` job: ``{"items": [outcome per instance], "drifted": N, "ok": N}``
    (see the module's docstring), resuming after the instances an earlier attempt saved."""
    ids = [str(instance) for instance in context.params.get("instances", [])]
    items: list[dict[str, Any]] = list(context.saved.get("items", []))
    finished = {item["instance"] for item in items}
    every = max(1, len(ids) // _SAVES)
    remaining = [instance for instance in ids if instance not in finished]
    with ExitStack() as stack:
        fleet = FleetSources(context, stack)
        for chunk, batch in _batches(context.sessions, remaining):
            for instance in chunk:
                view = batch.views.get(instance)
                if view is None:
                    items.append(
                        {
                            "instance": instance,
                            "status": "gone",
                            "drift": [],
                            "message": f"instance {instance} was removed before it was verified",
                        }
                    )
                else:
                    observed = _observe(
                        fleet, view, batch.build_of(view), batch.committed.get(instance)
                    )
                    items.append(outcome_json(view.id, drift_of(observed)))
                if len(items) % every == 0:
                    context.report(done=len(items), total=len(ids), partial={"items": items})
    return _summary(items)


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    drifted = sum(1 for item in items if item["status"] == "drift")
    return {
        "items": items,
        "drifted": drifted,
        "ok": sum(1 for item in items if item["status"] == "ok"),
        "notices": sum(1 for item in items if item["status"] == "notice"),
    }


#: An arbitrary constant naming the scheduled verification's check among advisory locks.
_SCHEDULE_LOCK_KEY = 0x68667672


def _scheduled_since(sessions: sessionmaker[Session], since: datetime) -> bool:
    """Whether a whole-fleet verification was queued at or after ``since`` (and did not
    fail: a failed one is no reason to wait a whole interval)."""
    with sessions() as session:
        rows = session.execute(
            sa.select(JobRow.params)
            .where(
                JobRow.kind == KIND,
                JobRow.created_at >= since,
                JobRow.state.in_((jobs.QUEUED, jobs.RUNNING, jobs.SUCCEEDED)),
            )
            .limit(50)
        ).scalars()
        return any(isinstance(params, dict) and not params.get("filter") for params in rows)


def schedule_if_due(
    sessions: sessionmaker[Session], *, now: datetime, interval: float
) -> JobView | None:
    """Queue a verification of the whole fleet (as helmforge itself, stamped ``now``) when
    none was queued in the ``interval`` seconds before ``now`` (``0``: never); the job, or
    ``None``. Every job worker calls
    this now and then: on PostgreSQL an advisory lock lets one process decide at a time."""
    if interval <= 0:
        return None
    since = now - timedelta(seconds=interval)
    engine = engine_of(sessions)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            taken = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": _SCHEDULE_LOCK_KEY}
            ).scalar()
            connection.commit()
            if not taken:
                return None
        try:
            if _scheduled_since(sessions, since):
                return None
            _log.info("scheduled verification of the fleet (every %.0f s)", interval)
            return submit_verification(sessions, actor=SYSTEM, now=now)
        finally:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEDULE_LOCK_KEY}
                )
                connection.commit()


def drifted_instances(sessions: sessionmaker[Session]) -> int | None:
    """How many instances the newest finished verification of the whole fleet found
    drifted (``None`` before the first): the value of the drift gauge."""
    with sessions() as session:
        rows = session.execute(
            sa.select(JobRow.params, JobRow.result)
            .where(JobRow.kind == KIND, JobRow.state == jobs.SUCCEEDED)
            .order_by(JobRow.finished_at.desc())
            .limit(20)
        ).all()
    for params, result in rows:
        if isinstance(params, dict) and not params.get("filter") and isinstance(result, dict):
            drifted = result.get("drifted")
            if isinstance(drifted, int):
                return drifted
    return None


class DriftCollector(Collector):
    """``helmforge_fleet_drifted_instances``: the instances the newest verification of the
    whole fleet found drifted, read from the database at each scrape (so every process
    answers the same, whichever ran the job); absent before the first verification."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            drifted = drifted_instances(self._sessions)
        except (HelmforgeError, SQLAlchemyError) as error:
            _log.warning("the drift gauge could not be read: %s", error)
            return
        if drifted is None:
            return
        gauge = GaugeMetricFamily(
            "helmforge_fleet_drifted_instances",
            "Instances the newest whole-fleet verification found drifted from their records.",
        )
        gauge.add_metric([], drifted)
        yield gauge
