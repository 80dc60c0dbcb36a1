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
  ``unchanged`` next time); in ``services.instance_creation``.
- ``list_instances``; ``list_with_status`` the same rows with their Argo CD sync and health
  (one list request per Argo CD server and batch), filtered by them if asked, in
  ``services.instance_listing``;
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
    "STATUS_SCAN",
    "HistoryEntry",
    "InstanceDetail",
    "InstanceListing",
    "InstanceView",
    "InvalidValuesError",
    "NewInstance",
    "Promotion",
    "RequestReview",
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
    "review_request",
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
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal
from helmforge.core.errors import ExternalServiceError, InputError, Location
from helmforge.core.instances.commit_messages import check_commit_body
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.values_text import checked_values_text
from helmforge.services import (
    access,
    argocd_sync,
    change_requests,
    chart_builds,
    gitops_repositories,
    instance_records,
)
from helmforge.services.argocd_sync import (
    SyncResult,
    SyncStatus,
    SyncTarget,
    sync_instance,
    sync_target,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import (
    ValuesChange,
    rollback,
    update_values,
    update_values_text,
)
from helmforge.services.instance_creation import NewInstance, create_instance, create_or_propose
from helmforge.services.instance_git import (
    load_instance,
    parse_instance_id,
    refresh_cache,
)
from helmforge.services.instance_listing import (
    STATUS_SCAN,
    InstanceListing,
    list_instances,
    list_with_status,
)
from helmforge.services.instance_promotions import Promotion, promote, promote_or_propose
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_request_reviews import RequestReview, review_request
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
)

#: What may be done to an instance once it can be read, as pages offer it.
INSTANCE_ACTIONS = (
    "values.read",
    "values.update",
    "instance.upgrade",
    "instance.rollback",
    "instance.sync",
)


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


# --- reading -------------------------------------------------------------------------------


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
    check_commit_body(message)
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
    check_commit_body(message)
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
    check_commit_body(message)
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
