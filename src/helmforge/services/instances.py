"""Instances (DESIGN §6): deployed targets whose values live in a GitOps repository.

The one service API of instances: the REST API, the web UI and the CLI call these functions
and nothing else. Each takes the database (``sessions``), the acting ``Principal`` and the
``GitWorkspace`` (secret key, Git caches, deadlines) and checks the caller's right first; an
instance the caller may not read answers ``NotFoundError`` exactly like a missing one.

- ``create_instance``: build the chart from the template version and context (no overrides
  baked in: values.yaml in Git holds them), publish it, write ``values.yaml`` (overrides only)
  and ``application.yaml`` in ONE commit authored by the caller, push. The merged values are
  checked against the chart's schema before anything is built; a failure leaves no instance
  row and no commit (a chart already published stays: the same inputs publish as
  ``unchanged`` next time).
- ``list_instances``; ``list_with_status`` the same rows with their Argo CD sync and health
  (one list request per Argo CD server and batch), filtered by them if asked;
  ``get_instance`` (values, effective values and their sources, the
  revision that last changed the instance: the ETag);
- ``update_values`` (``If-Match`` required; ``update_values_text`` takes values.yaml as
  the user wrote it, comments kept), ``preview_values``, ``history``, ``rollback``,
  ``upgrade``, each one commit, in ``services.instance_changes``;
- ``promote_or_propose`` (``services.instance_promotions``): the source's template and app
  version, and optionally its overrides at chosen paths, copied to the same instance in the
  next environment as one commit in the target's folder;
- ``sync_target``, ``sync_instance``: what an Argo CD sync of the instance must name, and the
  sync itself (``services.argocd_sync``); ``get_instance`` reports the Application's sync and
  health as Argo CD sees them (``sync``).

In an environment whose changes need approval (``HELMFORGE_APPROVALS``) the ``..._or_propose``
functions return a change request instead (``services.instance_requests``); applying it calls
the same function with the approvers, who are named in ``Approved-by:`` trailers.
"""

from __future__ import annotations

__all__ = [
    "INSTANCE_ACTIONS",
    "HistoryEntry",
    "InstanceDetail",
    "InstanceListing",
    "InstanceView",
    "InvalidValuesError",
    "NewInstance",
    "Promotion",
    "StaleInstanceError",
    "SyncResult",
    "SyncStatus",
    "SyncTarget",
    "ValueProblem",
    "ValuesChange",
    "ValuesForm",
    "ValuesPreview",
    "allowed_actions",
    "create_instance",
    "create_or_propose",
    "created_instance",
    "get_instance",
    "history",
    "list_instances",
    "list_with_status",
    "may_create",
    "may_read",
    "parse_instance_id",
    "preview_values",
    "promote",
    "promote_or_propose",
    "rollback",
    "rollback_or_propose",
    "sync_instance",
    "sync_target",
    "update_values",
    "update_values_or_propose",
    "update_values_text",
    "upgrade",
    "upgrade_or_propose",
    "values_form",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ConflictError, ExternalServiceError, InputError, Location
from helmforge.core.instances.application import ApplicationSpec, application_yaml
from helmforge.core.instances.layout import SEGMENT_NAMES, InstanceId
from helmforge.core.instances.values_edits import replace_values
from helmforge.core.instances.values_text import checked_values_text
from helmforge.services import (
    access,
    argocd_servers,
    argocd_sync,
    change_requests,
    chart_builds,
    gitops_repositories,
    instance_records,
    registries,
)
from helmforge.services.argocd_sync import (
    SyncResult,
    SyncStatus,
    SyncTarget,
    sync_instance,
    sync_target,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.gitops_repositories import GitWorkspace, writing
from helmforge.services.instance_changes import (
    ValuesChange,
    rollback,
    update_values,
    update_values_text,
)
from helmforge.services.instance_git import (
    base_paths,
    commit_text,
    delegate,
    load_instance,
    lock_wait,
    outside_errors,
    parse_instance_id,
    refresh_cache,
    require_direct,
)
from helmforge.services.instance_promotions import Promotion, promote, promote_or_propose
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_reviews import (
    HistoryEntry,
    ValuesPreview,
    history,
    preview_values,
)
from helmforge.services.instance_upgrades import upgrade
from helmforge.services.instance_values import (
    InvalidValuesError,
    StaleInstanceError,
    ValueProblem,
    effective_of,
    last_revision,
    overrides_of,
    plain_overrides,
    published_template,
    require_valid,
)

_MAX_LIST = 10_000
#: A sync or health filter reads the status of at most this many instances (in database
#: order, after the other filters), ``_STATUS_SCAN_BATCH`` at a time.
STATUS_SCAN = 2_000
_STATUS_SCAN_BATCH = 200
_UNKNOWN = "unknown"
#: What may be done to an instance once it can be read, as pages offer it.
INSTANCE_ACTIONS = (
    "values.read",
    "values.update",
    "instance.upgrade",
    "instance.rollback",
    "instance.sync",
)


@dataclass(frozen=True, slots=True)
class NewInstance:
    """What creating an instance takes (DESIGN §6 ``POST /api/v1/instances``): ``template``
    is ``NAME@VERSION`` (``NAME``: its newest published version), ``version`` the app
    version, ``registry``/``repository``/``argocd`` configured names, ``values`` the
    overrides (only what differs from the chart's defaults)."""

    product: str
    customer: str
    environment: str
    instance: str
    template: str
    version: str
    registry: str
    repository: str
    argocd: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    message: str | None = None

    @property
    def instance_id(self) -> InstanceId:
        return InstanceId(self.product, self.customer, self.environment, self.instance)

    def payload(self) -> dict[str, Any]:
        """As a change request's payload (JSON)."""
        return {
            "product": self.product,
            "customer": self.customer,
            "environment": self.environment,
            "instance": self.instance,
            "template": self.template,
            "version": self.version,
            "registry": self.registry,
            "repository": self.repository,
            "argocd": self.argocd,
            "values": dict(self.values),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class InstanceDetail:
    """One instance as its page shows it. ``revision`` is the commit that last changed its
    folder in Git (send it as ``If-Match``); ``values`` its overrides and ``values_yaml`` the
    file as written, ``effective_values`` what Helm gets with ``provenance`` saying where each
    parameter's value comes from (``default``, ``layer N``, ``override``) — all ``None``
    without ``values.read``. ``fetched`` is False when the remote could not be reached:
    the answer is the cache's, ``fetch_error`` says why. ``values_error`` says why values.yaml
    could not be read (someone wrote it outside helmforge), with ``values_yaml`` as it is.
    ``sync`` is its Application as its Argo CD server reports it (``None`` without a server;
    its ``error`` says why Argo CD could not tell)."""

    view: InstanceView
    revision: str | None
    values: dict[str, Any] | None
    values_yaml: str | None
    effective_values: dict[str, Any] | None
    provenance: dict[str, str] | None
    fetched: bool
    fetch_error: str | None = None
    values_error: str | None = None
    sync: SyncStatus | None = None


@dataclass(frozen=True, slots=True)
class ValuesForm:
    """What a values form of an instance is built from: the chart's values.schema.json and
    ``defaults``, the values before any override (chart defaults and the template's layers
    for the instance's context; a required value nobody set is absent)."""

    schema: dict[str, Any]
    defaults: dict[str, Any]
    #: The condition of each layer of the template, by index (``layer N`` in a provenance).
    layers: tuple[dict[str, tuple[str, ...]], ...] = ()


def _new_values_text(instance: InstanceId, overrides: Mapping[str, Any]) -> bytes:
    header = (
        f"# Values of {instance}: only what differs from the chart's defaults.\n"
        "# Written by helmforge; edits keep comments and key order.\n"
    )
    return (header + replace_values("", overrides, source="values").text).encode()


# --- creating ------------------------------------------------------------------------------


def create_instance(
    sessions: sessionmaker[Session],
    request: NewInstance,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """Create the instance: build and publish its chart, then write both files in one commit
    authored by ``actor`` and push it (see the module's docstring).

    Raises ``PermissionDeniedError`` (no ``instance.create``; or its environment needs
    approval and none was given: use ``create_or_propose``), ``InputError`` (bad id, version,
    values), ``InvalidValuesError``, ``NotFoundError`` (template, registry, repository),
    ``ConflictError`` (the instance, its Application name or namespace exists; the
    repository already holds other files for it), ``ExternalServiceError`` (registry or Git
    failed; nothing was committed).
    """
    instance = request.instance_id
    access.require(sessions, actor, "instance.create", target_of(instance))
    require_direct(sessions, instance.environment, approved_by, "creating an instance")
    version_view, template = published_template(sessions, request.template)
    overrides = plain_overrides(request.values)
    context = dict(zip(SEGMENT_NAMES, instance.segments, strict=True))
    context["version"] = request.version
    chart_name = parse_context(context).chart_name
    instance_records.check_free(sessions, instance)
    repository = gitops_repositories.open_repository(
        sessions, request.repository, workspace=workspace
    )
    location = registries.chart_location(sessions, request.registry)
    if request.argocd is not None and not request.argocd:
        raise InputError("argocd must name an Argo CD server", location=Location(path="argocd"))
    project = (
        argocd_servers.check_server(sessions, request.argocd).project
        if request.argocd
        else "default"
    )
    require_valid(str(instance), template, context, overrides)
    reference = f"{version_view.name}@{version_view.version}"
    row_id = instance_records.reserve(
        sessions,
        instance,
        fields={
            "template_name": version_view.name,
            "template_version": version_view.version,
            "app_version": request.version,
            "registry_name": request.registry,
            "repository": request.repository,
            "argocd": request.argocd,
            "chart_name": chart_name,
            "chart_version": "",
            "build_id": None,
            "revision": None,
        },
        actor=actor,
    )
    try:
        build = chart_builds.build_chart(
            sessions,
            template=reference,
            context=context,
            actor=delegate(actor),
            defer_required=True,
        )
        outcome = registries.publish_build(
            sessions,
            build.id,
            registry=request.registry,
            key=workspace.key,
            actor=delegate(actor),
            deadline=workspace.registry_deadline,
            approved_by=approved_by or None,
        )
        spec = ApplicationSpec(
            instance=instance,
            chart=outcome.chart,
            chart_version=outcome.version,
            registry_location=location,
            repository_url=repository.url,
            branch=repository.branch,
            base_path=repository.path,
            project=project,
            automated=instance.environment in workspace.argocd.auto_sync_environments,
        )
        files: dict[str, bytes | None] = {
            instance.values_path(repository.path): _new_values_text(instance, overrides),
            instance.application_path(repository.path): application_yaml(spec).encode(),
        }
        message = commit_text(
            workspace,
            f"{instance}: create from {reference}, chart {outcome.chart} {outcome.version}",
            request.message or "",
            approved_by,
        )

        def changes(read: Any) -> dict[str, bytes | None]:
            present = {path: read(path) for path in files}
            if any(content is not None for content in present.values()) and present != files:
                raise ConflictError(
                    f"the repository {request.repository!r} already holds files of {instance} "
                    f"({instance.folder(repository.path)}/) that helmforge did not write: "
                    "remove them, or choose another instance name",
                    location=Location(path="instance"),
                )
            return files

        with (
            outside_errors(request.repository),
            writing(sessions, repository, wait=lock_wait(workspace)) as git,
        ):
            pushed = git.commit_and_push(
                changes, author=workspace.author(actor.name), message=message
            )
            revision = pushed.commit if pushed.created else last_revision(git, list(files))
        instance_records.record_change(
            sessions,
            instance,
            actor=actor,
            action="instance.create",
            changes={
                "state": instance_records.READY,
                "chart_name": outcome.chart,
                "chart_version": outcome.version,
                "build_id": outcome.build_id,
                "revision": revision,
            },
            audit_after={
                "template": reference,
                "app_version": request.version,
                "registry": request.registry,
                "repository": request.repository,
                "argocd": request.argocd,
                "chart": outcome.chart,
                "chart_version": outcome.version,
                "revision": revision,
                "values": overrides,
                **({"approved_by": list(approved_by)} if approved_by else {}),
            },
        )
    except Exception:
        instance_records.release(sessions, row_id)
        raise
    # The creator is answered with what they created even without instance.read (a
    # template-user creates instances and does not operate them): asking it again here
    # answered a finished creation 404.
    view = load_instance(sessions, instance, actor=SYSTEM, permission="instance.read")
    return ValuesChange(
        instance=view,
        revision=revision or "",
        previous_revision=pushed.parent,
        committed=pushed.created,
        diff="",
        message=message,
    )


def create_or_propose(
    sessions: sessionmaker[Session],
    request: NewInstance,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> ValuesChange | ChangeRequestView:
    """``create_instance``, or where the environment needs approval a change request of kind
    ``instance.create`` (returned, to be answered 202): its approval builds, publishes and
    commits exactly the proposed instance, with the approvers in ``Approved-by:`` trailers
    and the chart publish's audit event."""
    if change_requests.required_approvals(sessions, request.environment):
        return change_requests.propose(
            sessions,
            kind="instance.create",
            payload=request.payload(),
            actor=actor,
            context={"workspace": workspace},
        )
    return create_instance(sessions, request, actor=actor, workspace=workspace)


# --- reading -------------------------------------------------------------------------------


def list_instances(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    product: str | None = None,
    customer: str | None = None,
    environment: str | None = None,
    template: str | None = None,
    outdated: bool | None = None,
    search: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[InstanceView]:
    """The instances ``actor`` may read, by id: filtered exactly by segment and template name,
    by ``outdated`` (a newer version of its template is published) and by ``search`` (part
    of the id, template or chart name, any case). From the database: no Git call; the
    database applies the access rule and, unless ``outdated`` is asked for, the paging."""
    readable = access.allowed_where(
        sessions, actor, "instance.read", instance_records.CONTEXT_COLUMNS
    )
    latest = instance_records.latest_published(sessions)
    paths = base_paths(sessions)
    size = max(1, min(limit, _MAX_LIST))
    start = max(0, offset)
    # Whether an instance is outdated is a SemVer comparison with its template's newest
    # published version, made here: then the rows are read first and paged after.
    rows = instance_records.list_rows(
        sessions,
        product=product,
        customer=customer,
        environment=environment,
        template=template,
        search=search,
        limit=size if outdated is None else _MAX_LIST,
        offset=start if outdated is None else 0,
        chosen=readable,
    )
    views = [
        instance_records.view_of(
            row, base_path=paths(row.repository), latest=latest.get(row.template_name)
        )
        for row in rows
    ]
    if outdated is None:
        return views
    chosen = [view for view in views if view.outdated == outdated]
    return chosen[start : start + size]


@dataclass(frozen=True, slots=True)
class InstanceListing:
    """A page of instances with their Argo CD status (``None`` without a server).

    ``more``: instances past this page match too. ``scanned``: how many instances (after the
    database's filters) had their status read. ``truncated``: a sync or health filter
    stopped after ``STATUS_SCAN`` of them, so instances further on were not looked at.
    """

    items: tuple[tuple[InstanceView, SyncStatus | None], ...]
    more: bool
    scanned: int
    truncated: bool


def _status_matches(status: SyncStatus | None, *, sync: str | None, health: str | None) -> bool:
    """``sync``/``health`` as Argo CD spells them (any case); ``unknown`` matches a status
    that could not be read. An instance without an Argo CD server matches no such filter."""
    if status is None:
        return sync is None and health is None
    for wanted, seen in ((sync, status.status), (health, status.health)):
        if wanted is None:
            continue
        if status.error is not None or seen is None:
            if wanted.lower() != _UNKNOWN:
                return False
        elif seen.lower() != wanted.lower():
            return False
    return True


def list_with_status(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    workspace: GitWorkspace,
    sync: str | None = None,
    health: str | None = None,
    limit: int = 50,
    offset: int = 0,
    **filters: Any,
) -> InstanceListing:
    """``list_instances(**filters)`` with each instance's Argo CD sync and health, read with
    one ``GET /api/v1/applications`` per Argo CD server and batch of instances (never one
    call per row; a server that fails is each of its rows' ``error``).

    Without ``sync``/``health`` the database pages (``limit``, ``offset``) and only the
    page's rows are asked about. With one, the filter is applied before paging: instances
    are read in database order ``_STATUS_SCAN_BATCH`` at a time, their status asked for,
    and the matching ones kept until the page (and one more) is full — at most
    ``STATUS_SCAN`` instances are looked at (``truncated`` then says so), so ``offset`` is
    counted among the matches and a page never silently misses a match before it."""
    size = max(1, min(limit, _MAX_LIST))
    start = max(0, offset)
    if sync is None and health is None:
        views = list_instances(sessions, actor=actor, limit=size + 1, offset=start, **filters)
        shown = views[:size]
        statuses = argocd_sync.read_statuses(sessions, shown, workspace=workspace)
        return InstanceListing(
            items=tuple((view, statuses[view.id]) for view in shown),
            more=len(views) > size,
            scanned=len(shown),
            truncated=False,
        )
    matched: list[tuple[InstanceView, SyncStatus | None]] = []
    scanned = 0
    exhausted = False
    while len(matched) <= start + size and scanned < STATUS_SCAN:
        batch = list_instances(
            sessions,
            actor=actor,
            limit=min(_STATUS_SCAN_BATCH, STATUS_SCAN - scanned),
            offset=scanned,
            **filters,
        )
        scanned += len(batch)
        statuses = argocd_sync.read_statuses(sessions, batch, workspace=workspace)
        matched += [
            (view, statuses[view.id])
            for view in batch
            if _status_matches(statuses[view.id], sync=sync, health=health)
        ]
        if len(batch) < _STATUS_SCAN_BATCH:
            exhausted = True
            break
    filled = len(matched) > start + size
    return InstanceListing(
        items=tuple(matched[start : start + size]),
        more=filled,
        scanned=scanned,
        truncated=not filled and not exhausted and scanned >= STATUS_SCAN,
    )


def created_instance(
    sessions: sessionmaker[Session],
    created: ValuesChange,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> InstanceDetail:
    """The answer to ``actor``'s creation of ``created.instance``: the instance as
    ``get_instance`` shows it to them (without a new fetch or asking Argo CD); for a creator
    without ``instance.read`` (a template-user) the created instance alone, without values."""
    instance = created.instance.id
    if access.allowed(sessions, actor, "instance.read")(target_of(parse_instance_id(instance))):
        return get_instance(
            sessions, instance, actor=actor, workspace=workspace, refresh=False, with_sync=False
        )
    return InstanceDetail(created.instance, created.revision, None, None, None, None, True)


def get_instance(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    refresh: bool = True,
    with_sync: bool = True,
) -> InstanceDetail:
    """One instance with its values as Git has them now (fetched first unless ``refresh`` is
    off; a remote that cannot be reached answers from the cache, ``fetched`` False) and, with
    ``with_sync``, its Application's sync and health as Argo CD reports them (never failing:
    an Argo CD that cannot tell is ``sync.error``).
    Raises ``NotFoundError`` (missing or not readable), ``InputError`` (bad id)."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="instance.read")
    sync = argocd_sync.read_status(sessions, view, workspace=workspace) if with_sync else None
    repository = gitops_repositories.open_repository(sessions, view.repository, workspace=workspace)
    fetched, fetch_error = not refresh, None
    if refresh:
        try:
            fetch_error = refresh_cache(sessions, repository, workspace)
        except ExternalServiceError as error:
            fetch_error = error.message  # nothing cached yet: the answer says so
        fetched = fetch_error is None
    git = repository.reader()
    revision = last_revision(git, [view.values_path, view.application_path])
    if revision is not None and revision != view.revision:
        instance_records.note_revision(sessions, instance, revision)
    if not access.allowed(sessions, actor, "values.read")(target_of(instance)):
        return InstanceDetail(
            view, revision, None, None, None, None, fetched, fetch_error, sync=sync
        )
    raw = git.read_file(view.values_path)
    try:
        text, overrides = overrides_of(raw, source=view.values_path)
    except InputError as error:
        shown = None if raw is None else raw.decode("utf-8", "replace")
        return InstanceDetail(
            view, revision, None, shown, None, None, fetched, fetch_error, str(error), sync
        )
    _, template = published_template(sessions, view.template)
    effective: dict[str, Any] | None
    provenance: dict[str, str] | None
    try:
        effective, provenance = effective_of(template, view.context, overrides)
    except InputError:
        effective, provenance = None, None
    return InstanceDetail(
        view=view,
        revision=revision,
        values=overrides,
        values_yaml=text,
        effective_values=effective,
        provenance=provenance,
        fetched=fetched,
        fetch_error=fetch_error,
        sync=sync,
    )


def allowed_actions(
    sessions: sessionmaker[Session], instance_id: str | InstanceId, *, actor: Principal
) -> frozenset[str]:
    """Which of ``INSTANCE_ACTIONS`` ``actor`` holds on the instance, by the rule the
    changes themselves apply (a page shows only the controls the caller may use)."""
    target = target_of(parse_instance_id(instance_id))
    return frozenset(
        permission
        for permission in INSTANCE_ACTIONS
        if access.allowed(sessions, actor, permission)(target)
    )


def may_read(
    sessions: sessionmaker[Session], instance_id: str | InstanceId, *, actor: Principal
) -> bool:
    """Whether ``actor`` holds ``instance.read`` for that id (a template-user creates
    instances without reading them; ``InputError`` for a bad id)."""
    target = target_of(parse_instance_id(instance_id))
    return access.allowed(sessions, actor, "instance.read")(target)


def may_create(
    sessions: sessionmaker[Session], instance_id: str | InstanceId, *, actor: Principal
) -> bool:
    """Whether ``actor`` holds ``instance.create`` for that id (``InputError`` for a bad id)."""
    target = target_of(parse_instance_id(instance_id))
    return access.allowed(sessions, actor, "instance.create")(target)


def values_form(
    sessions: sessionmaker[Session], instance_id: str | InstanceId, *, actor: Principal
) -> ValuesForm:
    """The schema and the values before overrides of the instance's chart (``values.read``;
    ``NotFoundError`` for an instance the caller may not read). From the database only."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="values.read")
    _, template = published_template(sessions, view.template)
    defaults, _ = effective_of(template, view.context, {})
    return ValuesForm(
        schema=chart_builds.values_schema_of(template),
        defaults=defaults,
        layers=tuple(dict(layer.when) for layer in template.layers),
    )


# --- changes that may need approval -----------------------------------------------------------


def update_values_or_propose(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    values: Mapping[str, Any] | None,
    *,
    if_match: str | None,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
    values_yaml: str | None = None,
) -> ValuesChange | ChangeRequestView:
    """``update_values`` (or with ``values_yaml``, values.yaml's text instead of ``values``,
    ``update_values_text``), or in an environment that needs approval a ``values.update``
    change request holding exactly these values (and text) and the revision they were
    edited on."""
    instance = parse_instance_id(instance_id)
    if (values is None) == (values_yaml is None):
        raise InputError(
            "a values change gives either the values or values.yaml's text, not both",
            location=Location(path="values"),
        )
    if change_requests.required_approvals(sessions, instance.environment):
        payload: dict[str, Any] = {
            "instance": str(instance),
            "revision": if_match,
            "message": message,
        }
        if values_yaml is not None:
            checked = checked_values_text(values_yaml, source="values_yaml")
            payload |= {"values": plain_overrides(checked.values), "values_yaml": checked.text}
        else:
            payload["values"] = plain_overrides(values)
        return change_requests.propose(
            sessions,
            kind="values.update",
            payload=payload,
            actor=actor,
            context={"workspace": workspace},
        )
    if values_yaml is not None:
        return update_values_text(
            sessions,
            instance,
            values_yaml,
            if_match=if_match,
            actor=actor,
            workspace=workspace,
            message=message,
        )
    assert values is not None
    return update_values(
        sessions,
        instance,
        values,
        if_match=if_match,
        actor=actor,
        workspace=workspace,
        message=message,
    )


def rollback_or_propose(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    revision: str,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
) -> ValuesChange | ChangeRequestView:
    """``rollback``, or where approval is needed an ``instance.rollback`` change request."""
    instance = parse_instance_id(instance_id)
    if change_requests.required_approvals(sessions, instance.environment):
        payload = {"instance": str(instance), "revision": revision, "message": message}
        return change_requests.propose(
            sessions,
            kind="instance.rollback",
            payload=payload,
            actor=actor,
            context={"workspace": workspace},
        )
    return rollback(sessions, instance, revision, actor=actor, workspace=workspace, message=message)


def upgrade_or_propose(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    template: str | None = None,
    version: str | None = None,
    message: str | None = None,
) -> ValuesChange | ChangeRequestView:
    """``upgrade``, or where approval is needed an ``instance.upgrade`` change request."""
    instance = parse_instance_id(instance_id)
    if change_requests.required_approvals(sessions, instance.environment):
        payload = {
            "instance": str(instance),
            "template": template,
            "version": version,
            "message": message,
        }
        return change_requests.propose(
            sessions,
            kind="instance.upgrade",
            payload=payload,
            actor=actor,
            context={"workspace": workspace},
        )
    return upgrade(
        sessions,
        instance,
        actor=actor,
        workspace=workspace,
        template=template,
        version=version,
        message=message,
    )
