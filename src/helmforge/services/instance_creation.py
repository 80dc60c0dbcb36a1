"""Creating an instance (DESIGN §6 ``POST /api/v1/instances``), behind ``services.instances``.

``create_instance`` builds the chart from the template version and context (no overrides baked
in: values.yaml in Git holds them), publishes it, writes ``values.yaml`` (overrides only) and
``application.yaml`` in one commit authored by the caller, made in the repository's group
commit (``gitops_repositories.commit``: pushed with the edits queued beside it);
``create_or_propose`` makes it a change request of kind ``instance.create`` where the
environment needs approval.
"""

from __future__ import annotations

__all__ = ["NewInstance", "create_instance", "create_or_propose", "new_values_text"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitRequest
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ConflictError, InputError, Location
from helmforge.core.instances.application import ApplicationSpec, application_yaml
from helmforge.core.instances.commit_messages import check_commit_body
from helmforge.core.instances.layout import SEGMENT_NAMES, InstanceId
from helmforge.core.instances.values_edits import replace_values
from helmforge.services import (
    access,
    argocd_servers,
    change_requests,
    chart_builds,
    chart_pushes,
    gitops_repositories,
    instance_records,
    registries,
)
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import (
    ValuesChange,
)
from helmforge.services.instance_git import (
    commit_queued,
    commit_text,
    delegate,
    load_instance,
    require_direct,
)
from helmforge.services.instance_records import target_of
from helmforge.services.instance_values import (
    plain_overrides,
    published_template,
    require_valid,
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


def new_values_text(instance: InstanceId, overrides: Mapping[str, Any]) -> bytes:
    """The values.yaml a new instance starts with: a header and ``overrides``."""
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
        outcome = chart_pushes.publish_build(
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
            instance.values_path(repository.path): new_values_text(instance, overrides),
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

        # ``changes`` depends on the head alone: the group may ask it on the cache's head,
        # then again on a fetched one, and after a lost race.
        commit = CommitRequest(changes, author=workspace.author(actor.name), message=message)
        pushed, revision = commit_queued(
            sessions, repository, commit, workspace=workspace, files=list(files)
        )
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
    check_commit_body(request.message)
    if change_requests.required_approvals(sessions, request.environment):
        return change_requests.propose(
            sessions,
            kind="instance.create",
            payload=request.payload(),
            actor=actor,
            context={"workspace": workspace},
        )
    return create_instance(sessions, request, actor=actor, workspace=workspace)
