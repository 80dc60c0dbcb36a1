"""The database side of instances: rows as views, reading one under the caller's rights,
reserving the names of a new one, and recording what a change pushed.

Used by ``services.instances`` (the one service API of instances, which re-exports the views)
and by the change-request operations of ``services.instance_requests``.
"""

from __future__ import annotations

__all__ = [
    "SETTLING_SECONDS",
    "InstanceView",
    "check_free",
    "find_collision",
    "latest_published",
    "load",
    "record_change",
    "release",
    "reserve",
    "target_of",
    "view_of",
]

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.core.errors import ConflictError, Location, NotFoundError
from helmforge.core.instances.layout import InstanceId
from helmforge.core.versions import semver_key
from helmforge.services import access, audit, template_queries

#: A creation that has not finished after this long died with its process: a new attempt
#: may take its reservation over (and finds its commit, if it was pushed, unchanged).
SETTLING_SECONDS = 900
CREATING = "creating"
READY = "ready"


@dataclass(frozen=True, slots=True)
class InstanceView:
    """An instance as helmforge knows it: its binding and what it last pushed.

    ``id`` is ``product/customer/environment/instance``; ``template`` is ``name@version``;
    ``chart``/``chart_version`` the chart its Application points at; ``revision`` the last
    commit helmforge knows changed the instance's folder (Git has the final word: see
    ``InstanceDetail.revision``); ``app_name`` the Argo CD Application's name; ``argocd`` the
    name of its Argo CD server, if any; ``latest_template_version`` the newest published
    version of its template (``outdated`` when newer than its own).
    """

    id: str
    product: str
    customer: str
    environment: str
    instance: str
    template: str
    template_name: str
    template_version: str
    app_version: str
    registry: str
    repository: str
    argocd: str | None
    chart: str
    chart_version: str
    build_id: str | None
    revision: str | None
    namespace: str
    app_name: str
    values_path: str
    application_path: str
    latest_template_version: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @property
    def instance_id(self) -> InstanceId:
        return InstanceId(self.product, self.customer, self.environment, self.instance)

    @property
    def outdated(self) -> bool:
        """A newer version of the template is published than the one the instance runs."""
        latest = self.latest_template_version
        return latest is not None and semver_key(latest) > semver_key(self.template_version)

    @property
    def context(self) -> dict[str, str]:
        """The chart context of the instance (the four segments and the app version)."""
        return {
            "product": self.product,
            "customer": self.customer,
            "environment": self.environment,
            "instance": self.instance,
            "version": self.app_version,
        }


def target_of(instance: InstanceId) -> Target:
    return Target.of_context(*instance.segments)


def view_of(row: InstanceRow, *, base_path: str, latest: str | None) -> InstanceView:
    instance = InstanceId(row.product, row.customer, row.environment, row.instance)
    return InstanceView(
        id=str(instance),
        product=row.product,
        customer=row.customer,
        environment=row.environment,
        instance=row.instance,
        template=f"{row.template_name}@{row.template_version}",
        template_name=row.template_name,
        template_version=row.template_version,
        app_version=row.app_version,
        registry=row.registry_name,
        repository=row.repository,
        argocd=row.argocd,
        chart=row.chart_name,
        chart_version=row.chart_version,
        build_id=row.build_id,
        revision=row.revision,
        namespace=row.namespace,
        app_name=row.app_name,
        values_path=instance.values_path(base_path),
        application_path=instance.application_path(base_path),
        latest_template_version=latest,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def latest_published(
    sessions: sessionmaker[Session], names: Collection[str] | None = None
) -> dict[str, str]:
    """The newest published version of each template named (of every template without
    ``names``), by name (one query)."""
    with sessions() as session:
        return template_queries.latest_published_in(session, names)


def _row_of(session: Session, instance: InstanceId, *, lock: bool = False) -> InstanceRow | None:
    query = sa.select(InstanceRow).where(
        InstanceRow.product == instance.product,
        InstanceRow.customer == instance.customer,
        InstanceRow.environment == instance.environment,
        InstanceRow.instance == instance.instance,
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def missing_message(instance: InstanceId) -> str:
    return f"instance {instance} does not exist"


def load(
    sessions: sessionmaker[Session],
    instance: InstanceId,
    *,
    actor: Principal,
    permission: str,
    base_path: Callable[[str], str],
) -> InstanceView:
    """The ready instance, once ``actor`` holds ``permission`` on it; an instance the actor may
    not read answers ``NotFoundError`` exactly like a missing one. ``base_path`` gives the
    base folder of a repository by name (for the views' file paths)."""
    missing = missing_message(instance)
    access.require(sessions, actor, permission, target_of(instance), hide_as=missing)
    with sessions() as session:
        row = _row_of(session, instance)
        if row is None or row.state != READY:
            raise NotFoundError(missing, location=Location(path="instance"))
        session.expunge(row)
        latest = template_queries.latest_published_in(session, [row.template_name]).get(
            row.template_name
        )
    return view_of(row, base_path=base_path(row.repository), latest=latest)


def find_collision(session: Session, instance: InstanceId, app_name: str) -> InstanceRow | None:
    """Another instance whose Application name or namespace is ``app_name``."""
    return session.scalars(
        sa.select(InstanceRow).where(
            sa.or_(InstanceRow.app_name == app_name, InstanceRow.namespace == app_name),
            sa.not_(
                sa.and_(
                    InstanceRow.product == instance.product,
                    InstanceRow.customer == instance.customer,
                    InstanceRow.environment == instance.environment,
                    InstanceRow.instance == instance.instance,
                )
            ),
        )
    ).first()


def _collision_error(instance: InstanceId, other: InstanceRow, app_name: str) -> ConflictError:
    other_id = InstanceId(other.product, other.customer, other.environment, other.instance)
    return ConflictError(
        f"instance {other_id} already uses the Application name and namespace {app_name!r}, "
        f"which {instance} would get too (the segments are joined with '-'): choose another "
        "instance name",
        location=Location(path="instance"),
    )


def check_free(sessions: sessionmaker[Session], instance: InstanceId) -> None:
    """``ConflictError`` when the instance exists or another one has its Application name or
    namespace (checked again, atomically, by ``reserve``)."""
    app_name = instance.default_namespace()
    with sessions() as session:
        existing = _row_of(session, instance)
        if existing is not None and existing.state == READY:
            raise ConflictError(
                f"instance {instance} already exists", location=Location(path="instance")
            )
        other = find_collision(session, instance, app_name)
        if other is not None:
            raise _collision_error(instance, other, app_name)


def reserve(
    sessions: sessionmaker[Session],
    instance: InstanceId,
    *,
    fields: Mapping[str, Any],
    actor: Principal,
) -> int:
    """Insert the instance's row in state ``creating`` (it holds the id, the Application name
    and the namespace while the chart is published and the commit pushed); its id.

    Raises ``ConflictError`` when the instance exists, is being created by someone else, or
    another instance already has its Application name or namespace.
    """
    app_name = instance.default_namespace()
    now = datetime.now(UTC)
    with sessions.begin() as session:
        existing = _row_of(session, instance, lock=True)
        if existing is not None:
            settled = existing.created_at < now - timedelta(seconds=SETTLING_SECONDS)
            if existing.state == READY or not settled:
                raise ConflictError(
                    f"instance {instance} already exists"
                    if existing.state == READY
                    else f"instance {instance} is being created by {existing.created_by} "
                    f"since {existing.created_at:%Y-%m-%d %H:%M:%S} UTC",
                    location=Location(path="instance"),
                )
            session.delete(existing)  # an attempt that died with its process
            session.flush()
        other = find_collision(session, instance, app_name)
        if other is not None:
            raise _collision_error(instance, other, app_name)
        row = InstanceRow(
            product=instance.product,
            customer=instance.customer,
            environment=instance.environment,
            instance=instance.instance,
            app_name=app_name,
            namespace=app_name,
            state=CREATING,
            created_at=now,
            created_by=actor.name,
            updated_at=now,
            updated_by=actor.name,
            **fields,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise ConflictError(
                f"instance {instance} (or another with its Application name {app_name!r}) "
                "was created at the same moment",
                location=Location(path="instance"),
            ) from None
        return row.id


def release(sessions: sessionmaker[Session], row_id: int) -> None:
    """Drop the reservation of a creation that failed: no instance row is left."""
    with sessions.begin() as session:
        session.execute(
            sa.delete(InstanceRow).where(InstanceRow.id == row_id, InstanceRow.state == CREATING)
        )


def record_change(
    sessions: sessionmaker[Session],
    instance: InstanceId,
    *,
    actor: Principal,
    action: str,
    changes: Mapping[str, Any],
    audit_after: Mapping[str, Any],
) -> datetime:
    """Set ``changes`` on the instance's row (``state: ready`` finishes a creation), stamp who
    and when (returned), and record the audit event ``action`` with ``audit_after`` (never a
    secret)."""
    with sessions.begin() as session:
        row = _row_of(session, instance, lock=True)
        if row is None:
            raise NotFoundError(missing_message(instance))
        for name, value in changes.items():
            setattr(row, name, value)
        stamped = row.updated_at = datetime.now(UTC)
        row.updated_by = actor.name
        audit.record(session, actor, action, f"instance:{instance}", after=dict(audit_after))
    return stamped


def note_revision(sessions: sessionmaker[Session], instance: InstanceId, revision: str) -> None:
    """Remember the revision Git reports for the instance (read after a fetch), when it is
    newer knowledge than the row's: pending change requests compare against it."""
    with sessions.begin() as session:
        session.execute(
            sa.update(InstanceRow)
            .where(
                InstanceRow.product == instance.product,
                InstanceRow.customer == instance.customer,
                InstanceRow.environment == instance.environment,
                InstanceRow.instance == instance.instance,
                sa.or_(InstanceRow.revision.is_(None), InstanceRow.revision != revision),
            )
            .values(revision=revision)
        )


def fingerprint(sessions: sessionmaker[Session], instance: InstanceId) -> str:
    """What a change request of the instance is proposed against: its known revision and
    chart version (any change through helmforge, or seen in Git, moves it)."""
    with sessions() as session:
        row = _row_of(session, instance)
        if row is None or row.state != READY:
            return "absent"
        return f"revision={row.revision} chart={row.chart_version} template={row.template_version}"


#: The columns of an instance's context, for access rules in SQL.
CONTEXT_COLUMNS = (
    InstanceRow.product,
    InstanceRow.customer,
    InstanceRow.environment,
    InstanceRow.instance,
)


def list_rows(
    sessions: sessionmaker[Session],
    *,
    product: str | None,
    customer: str | None,
    environment: str | None,
    template: str | None,
    search: str | None,
    limit: int,
    offset: int = 0,
    chosen: sa.ColumnElement[bool] | None = None,
) -> list[InstanceRow]:
    """Ready rows by id, filtered exactly by segment and template name, by ``search``
    (a case-insensitive part of the id, template or chart name) and by ``chosen`` (the
    access rule: ``access.allowed_where`` over ``CONTEXT_COLUMNS``), then paged."""
    query = sa.select(InstanceRow).where(InstanceRow.state == READY)
    if chosen is not None:
        query = query.where(chosen)
    for column, value in (
        (InstanceRow.product, product),
        (InstanceRow.customer, customer),
        (InstanceRow.environment, environment),
        (InstanceRow.template_name, template),
    ):
        if value:
            query = query.where(column == value)
    if search:
        needle = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        id_text = sa.func.lower(
            InstanceRow.product
            + "/"
            + InstanceRow.customer
            + "/"
            + InstanceRow.environment
            + "/"
            + InstanceRow.instance
        )
        query = query.where(
            sa.or_(
                id_text.like(needle, escape="\\"),
                sa.func.lower(InstanceRow.template_name).like(needle, escape="\\"),
                sa.func.lower(InstanceRow.chart_name).like(needle, escape="\\"),
            )
        )
    query = query.order_by(
        InstanceRow.product, InstanceRow.customer, InstanceRow.environment, InstanceRow.instance
    )
    with sessions() as session:
        rows = list(session.scalars(query.offset(offset).limit(limit)))
        for row in rows:
            session.expunge(row)
        return rows


def rows_by_id(
    sessions: sessionmaker[Session], instances: Sequence[InstanceId], *, template: str | None
) -> list[InstanceRow]:
    """The ready rows of ``instances`` (of template name ``template``, when given), in one
    query; an instance without such a row is not among them."""
    if not instances:
        return []
    key = sa.tuple_(
        InstanceRow.product, InstanceRow.customer, InstanceRow.environment, InstanceRow.instance
    )
    query = sa.select(InstanceRow).where(
        InstanceRow.state == READY, key.in_([instance.segments for instance in instances])
    )
    if template:
        query = query.where(InstanceRow.template_name == template)
    with sessions() as session:
        rows = list(session.scalars(query))
        for row in rows:
            session.expunge(row)
        return rows
