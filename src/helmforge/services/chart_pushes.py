"""Publishing recorded chart builds to configured registries, and what was pushed there.

Publishing a build pushes its archive (``services.publishing``), records the push
(``chart_pushes``: digests, registry, repository, tag, who, when, status) and an audit event
naming the registry, never its secret. The registry itself (its URL, TLS settings and
credentials) is ``services.registries``'.

The template's ``spec.chartVersionPolicy`` decides the version: ``app`` publishes the build as
it is; ``auto`` asks the registry (``choose_version``) and, when the version differs from the
build's, publishes a build of the same inputs under the chosen version (reusing one recorded
before, else recording a new one).
"""

from __future__ import annotations

__all__ = [
    "ChartVersions",
    "DatabasePushRecorder",
    "PublishOutcome",
    "PushView",
    "list_chart_versions",
    "list_pushes",
    "publish_build",
    "push_fingerprint",
]

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.publish_locks import publish_lock
from helmforge.adapters.storage.publishing_tables import PushRow
from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.principals import Principal
from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.errors import ConflictError, HelmforgeError, PermissionDeniedError
from helmforge.core.oci.artifacts import read_chart_metadata
from helmforge.core.oci.references import Registry, repository_for
from helmforge.services import access, audit, chart_builds, template_store
from helmforge.services.publishing import (
    ChartArchive,
    PushRecord,
    PushResult,
    choose_version,
    client_for,
    list_versions,
    publish_archives,
)
from helmforge.services.registries import as_service_error, open_config

if TYPE_CHECKING:
    from helmforge.adapters.oci import RegistryClient

_AUTO_ATTEMPTS = 3
# Publishes of one chart queue behind one another; each is bounded by its registry deadlines.
_LOCK_WAIT = 120.0


@dataclass(frozen=True, slots=True)
class PushView:
    id: int
    build_id: str | None
    registry: str
    chart: str
    version: str
    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    status: str
    error: str | None
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What publishing a build did. ``build_id`` is the build pushed: the one asked for, or
    under the ``auto`` policy a build of the same inputs under the chosen version."""

    build_id: str
    requested_build_id: str
    registry: str
    policy: str
    chart: str
    version: str
    repository: str
    tag: str
    manifest_digest: str
    layer_digest: str
    status: str
    push_id: int


@dataclass(frozen=True, slots=True)
class ChartVersions:
    registry: str
    chart: str
    repository: str
    versions: list[str]


def _push_view(row: PushRow) -> PushView:
    return PushView(
        id=row.id,
        build_id=row.build_id,
        registry=row.registry_name,
        chart=row.chart,
        version=row.version,
        repository=row.repository,
        tag=row.tag,
        manifest_digest=row.manifest_digest,
        layer_digest=row.layer_digest,
        status=row.status,
        error=row.error,
        actor=row.actor,
        at=row.at,
    )


class DatabasePushRecorder:
    """A ``PushRecorder`` keeping every push in ``chart_pushes`` under a registry's name."""

    def __init__(
        self, sessions: sessionmaker[Session], *, registry: str, build_id: str | None = None
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._build_id = build_id

    def record_push(self, record: PushRecord) -> None:
        with self._sessions.begin() as session:
            _add_push(
                session,
                record.result,
                registry=self._registry,
                build_id=self._build_id,
                actor=record.actor,
                at=record.at,
            )


def _add_push(
    session: Session,
    result: PushResult,
    *,
    registry: str,
    build_id: str | None,
    actor: str,
    at: datetime,
) -> PushRow:
    row = PushRow(
        build_id=build_id,
        registry_name=registry,
        chart=result.chart,
        version=result.version,
        repository=result.repository,
        tag=result.tag,
        manifest_digest=result.manifest_digest,
        layer_digest=result.layer_digest,
        status=result.status,
        error=str(result.error) if result.error is not None else None,
        actor=actor,
        at=at,
    )
    session.add(row)
    session.flush()
    return row


def _content_digest(archive: bytes, *, source: str) -> str | None:
    annotations = read_chart_metadata(archive, source=source).data.get("annotations")
    value = annotations.get(CONTENT_DIGEST_ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def _build_for_version(
    sessions: sessionmaker[Session],
    build: chart_builds.ChartBuildView,
    version: str,
    *,
    content_digest: str | None,
    actor: Principal,
) -> chart_builds.ChartBuildView:
    """A recorded build of ``build``'s inputs under chart ``version``: one made before when its
    content digest matches, else a new one."""
    template_name, _, template_version = build.template.rpartition("@")
    with sessions() as session:
        candidates = session.scalars(
            sa.select(ChartBuildRow)
            .where(
                ChartBuildRow.template_name == template_name,
                ChartBuildRow.template_version == template_version,
                ChartBuildRow.chart_name == build.name,
                ChartBuildRow.chart_version == version,
            )
            .order_by(ChartBuildRow.created_at.desc())
            .limit(20)
        ).all()
        for row in candidates:
            if (
                row.context == build.context
                and row.values == build.values
                and content_digest is not None
                and _content_digest(row.archive, source=f"chart build {row.id}") == content_digest
            ):
                return chart_builds.get_build(sessions, row.id, actor=actor)
    return chart_builds.build_chart(
        sessions,
        template=build.template,
        context=build.context,
        values=build.values,
        chart_version=version,
        actor=actor,
    )


def publish_build(
    sessions: sessionmaker[Session],
    build_id: str,
    *,
    registry: str,
    key: bytes,
    actor: Principal,
    client: RegistryClient | None = None,
    deadline: float | None = None,
    approved_by: tuple[str, ...] | None = None,
) -> PublishOutcome:
    """Push recorded build ``build_id`` to the configured ``registry``, each registry request
    done within ``deadline`` seconds (ignored when a ``client`` is given).

    In an environment whose changes need approval (``HELMFORGE_APPROVALS``) only an approved
    change request publishes (``approved_by`` names its approvers, recorded in the audit
    event); a direct publish there raises ``PermissionDeniedError`` saying to propose one
    (``services.publish_requests.publish_or_propose`` does that for the API and the UI).

    Publishes of one chart to one registry run one at a time (``publish_lock``, across server
    processes): each reads the tag, chooses the version under ``auto`` and records its push
    before the next looks, so one version only ever gets one content. Identical content
    already under the version answers ``unchanged``; when the database has no push of it (a
    process killed between the push and its record), the push is recorded now and answers
    ``pushed``. Raises ``NotFoundError`` (build or registry), ``ConflictError`` (the version
    holds other content: both layer digests named; the failed push is recorded),
    ``ExternalServiceError`` (registry down or refusing our credentials, or another publish
    of the chart holding it too long).
    """
    build = chart_builds.get_build(sessions, build_id, actor=actor)
    target = chart_builds.target_of(build)
    access.require(sessions, actor, "chart.publish", target)
    environment = target.context[2] if target.context else ""
    if approved_by is None and access.configuration(sessions).approvals.required_for(environment):
        raise PermissionDeniedError(
            f"publishing into {environment} needs approval by another person: propose a change "
            "request (the API and the UI do when you publish there)"
        )
    config = open_config(sessions, registry, key=key)
    template_name, _, template_version = build.template.rpartition("@")
    template = template_store.parsed_template(
        template_store.get_version(sessions, template_name, template_version, actor=actor)
    )
    policy = template.chart_version_policy
    repository = repository_for(config.reference, build.name)
    # Keyed by where the chart lands, not by the registry's name: two names may share a URL.
    lock_key = f"{config.reference.authority}/{repository}"
    with publish_lock(engine_of(sessions), lock_key, wait=_LOCK_WAIT):
        active = client or client_for(config, max_connections=2, deadline=deadline)
        try:
            pushed, result = _push_build(
                sessions,
                build,
                config,
                policy=policy,
                registry=registry,
                actor=actor,
                client=active,
            )
        finally:
            if client is None:
                active.close()
        with sessions.begin() as session:
            reconciled = result.status == "unchanged" and not _push_recorded(
                session, result, registry=registry
            )
            if reconciled:
                result = dataclasses.replace(result, status="pushed")
            row = _add_push(
                session,
                result,
                registry=registry,
                build_id=pushed.id,
                actor=actor.name,
                at=datetime.now(UTC),
            )
            audit.record(
                session,
                actor,
                "chart.publish",
                f"chart:{pushed.id}",
                after={
                    "registry": registry,
                    "repository": result.repository,
                    "tag": result.tag,
                    "version": result.version,
                    "layer_digest": result.layer_digest,
                    "manifest_digest": result.manifest_digest,
                    "status": result.status,
                    "policy": policy,
                    **({"reconciled": True} if reconciled else {}),
                    **({"approved_by": list(approved_by)} if approved_by else {}),
                },
            )
            push_id = row.id
    if result.error is not None:
        raise as_service_error(registry, result.error)
    return PublishOutcome(
        build_id=pushed.id,
        requested_build_id=build.id,
        registry=registry,
        policy=policy,
        chart=result.chart,
        version=result.version,
        repository=result.repository,
        tag=result.tag,
        manifest_digest=result.manifest_digest,
        layer_digest=result.layer_digest,
        status=result.status,
        push_id=push_id,
    )


def _push_build(
    sessions: sessionmaker[Session],
    build: chart_builds.ChartBuildView,
    config: Registry,
    *,
    policy: str,
    registry: str,
    actor: Principal,
    client: RegistryClient,
) -> tuple[chart_builds.ChartBuildView, PushResult]:
    """Choose the version (``auto``) and push; the build pushed and what happened."""
    _, original = chart_builds.get_archive(sessions, build.id, actor=actor)
    for attempt in range(1, _AUTO_ATTEMPTS + 1):
        pushed, archive = build, original
        if policy == "auto":
            digest = _content_digest(original, source=f"chart build {build.id}")
            try:
                chosen = choose_version(
                    config,
                    chart_name=build.name,
                    policy="auto",
                    content_digest=digest,
                    client=client,
                )
            except HelmforgeError as error:
                raise as_service_error(registry, error) from error
            if chosen != build.version:
                pushed = _build_for_version(
                    sessions, build, chosen, content_digest=digest, actor=actor
                )
                _, archive = chart_builds.get_archive(sessions, pushed.id, actor=actor)
        (result,) = publish_archives(
            [ChartArchive(source=f"chart build {pushed.id}", content=archive)],
            config,
            actor=actor,
            client=client,
        )
        # Publishes through helmforge wait for one another, but a push from outside (helm
        # push, another tool) can still take the chosen version between our tag-list read
        # and our push: under auto, choose again (the next patch above it).
        if not (
            policy == "auto"
            and isinstance(result.error, ConflictError)
            and attempt < _AUTO_ATTEMPTS
        ):
            break
    return pushed, result


def _push_recorded(session: Session, result: PushResult, *, registry: str) -> bool:
    """Whether the database holds a push of this very manifest under ``result``'s tag."""
    found = session.scalar(
        sa.select(PushRow.id)
        .where(
            PushRow.registry_name == registry,
            PushRow.repository == result.repository,
            PushRow.tag == result.tag,
            PushRow.manifest_digest == result.manifest_digest,
            PushRow.status.in_(("pushed", "unchanged")),
        )
        .limit(1)
    )
    return found is not None


def list_chart_versions(
    sessions: sessionmaker[Session],
    registry: str,
    chart: str,
    *,
    key: bytes,
    actor: Principal,
    deadline: float | None = None,
) -> ChartVersions:
    """The versions of ``chart`` published in ``registry`` (its tag list), SemVer order; each
    registry request done within ``deadline`` seconds, else ``ExternalServiceError``."""
    access.require(sessions, actor, "registry.read")
    config = open_config(sessions, registry, key=key)
    repository = repository_for(config.reference, chart)
    try:
        with client_for(config, max_connections=1, deadline=deadline) as client:
            versions = list_versions(config, repository=repository, client=client)
    except HelmforgeError as error:
        raise as_service_error(registry, error) from error
    return ChartVersions(registry=registry, chart=chart, repository=repository, versions=versions)


def push_fingerprint(sessions: sessionmaker[Session], *, registry: str, chart: str) -> str:
    """What a change request for publishing ``chart`` to ``registry`` was proposed against:
    the number of its recorded pushes there and the newest one (any push in between makes
    the request stale)."""
    with sessions() as session:
        count, newest = session.execute(
            sa.select(sa.func.count(PushRow.id), sa.func.max(PushRow.id)).where(
                PushRow.registry_name == registry, PushRow.chart == chart
            )
        ).one()
    return f"pushes={count} newest={newest or 0}"


def list_pushes(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    build_id: str | None = None,
    registry: str | None = None,
    limit: int = 100,
) -> list[PushView]:
    """Recorded pushes, newest first, optionally of one build or one registry."""
    access.require(sessions, actor, "registry.read")
    query = sa.select(PushRow).order_by(PushRow.id.desc())
    if build_id:
        query = query.where(PushRow.build_id == build_id)
    if registry:
        query = query.where(PushRow.registry_name == registry)
    with sessions() as session:
        return [_push_view(row) for row in session.scalars(query.limit(max(1, min(limit, 1000))))]
