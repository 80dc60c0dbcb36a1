"""Promoting an instance (issue 12): what runs in one environment, copied to the same
product/customer/instance in the next one (dev → sit → uat → prod, ``HELMFORGE_ENVIRONMENTS``
in order) as one reviewed commit in the target's folder.

A promotion copies the source's template version and app version — the target gets its own
chart (the chart of an instance is built for its context) from exactly that template
version, published to the target's registry, and its application.yaml points at it — and,
optionally, the source's overrides at chosen value paths (``image.tag``, ``env[0].value``),
edited into the target's values.yaml with its comments kept. The merged values are checked
against the target's new chart before anything is built or committed.

``plan`` resolves what is promoted (the source read as it is in Git now); ``promote``
commits a plan; ``promote_or_propose`` commits it, or where the target's environment needs
approval records it as an ``instance.promote`` change request holding the exact plan, so an
approver approves what they saw even when the source moves on meanwhile (a change of the
*target* makes the request stale).

Rights: ``instance.read`` on the source and ``instance.upgrade`` on the target; with value
paths also ``values.read`` on the source and ``values.update`` on the target.
"""

from __future__ import annotations

__all__ = [
    "Promotion",
    "describe",
    "plan",
    "promote",
    "promote_or_propose",
    "promoted_values",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitRequest
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError, Location, NotFoundError
from helmforge.core.instances.commit_messages import check_commit_body
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.promotions import MISSING, override_at, target_environment
from helmforge.core.instances.value_paths import format_path, parse_path
from helmforge.core.instances.values_diff import unified_diff
from helmforge.core.instances.values_edits import SetValue, apply_edits
from helmforge.core.templates.models import Template
from helmforge.services import access, change_requests, gitops_repositories
from helmforge.services.change_requests import ChangeRequestView
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_changes import (
    ValuesChange,
    instance_files,
    open_for,
    read_state,
    record_outcome,
    require_present,
)
from helmforge.services.instance_git import (
    commit_queued,
    commit_text,
    load_instance,
    lock_wait,
    outside_errors,
    parse_instance_id,
    require_direct,
)
from helmforge.services.instance_records import InstanceView, target_of
from helmforge.services.instance_upgrades import bumped_application, publish_chart
from helmforge.services.instance_values import (
    overrides_of,
    published_template,
    require_valid,
)


@dataclass(frozen=True, slots=True)
class Promotion:
    """What a promotion copies: from instance ``source`` to ``target``, the template version
    (``name@version``) and app version the source runs, and the source's overrides at value
    paths (``(path, value)``, paths in their dotted form)."""

    source: str
    target: str
    template: str
    app_version: str
    values: tuple[tuple[str, Any], ...] = ()

    def payload(self, message: str | None) -> dict[str, Any]:
        """As an ``instance.promote`` change request's payload (JSON)."""
        return {
            "instance": self.target,
            "from": self.source,
            "template": self.template,
            "version": self.app_version,
            "values": [{"path": path, "value": value} for path, value in self.values],
            "message": message,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Promotion:
        """The promotion a change request's payload holds; ``InputError`` naming what is
        missing or malformed."""
        names = ("instance", "from", "template", "version")
        target, source, template, version = change_requests.payload_fields(
            payload, *names, kind="instance.promote"
        )
        raw = payload.get("values") or []
        if not isinstance(raw, list) or not all(
            isinstance(item, dict) and isinstance(item.get("path"), str) and "value" in item
            for item in raw
        ):
            raise InputError(
                "an instance.promote change names its values as [{path, value}]",
                location=Location(path="values"),
            )
        values = tuple((format_path(parse_path(item["path"])), item["value"]) for item in raw)
        return cls(str(source), str(target), str(template), str(version), values)


def _how_to_create(source: InstanceView, target: InstanceId) -> str:
    return (
        f"instance {target} does not exist: create it first (helmforge instances create "
        f"{target} --template {source.template} --version {source.app_version} --registry "
        f"{source.registry} --repository {source.repository}, or POST /api/v1/instances), "
        "then promote"
    )


def _load_target(
    sessions: sessionmaker[Session],
    source: InstanceView,
    target: InstanceId,
    *,
    actor: Principal,
    with_values: bool,
) -> InstanceView:
    try:
        view = load_instance(sessions, target, actor=actor, permission="instance.upgrade")
    except NotFoundError:
        raise NotFoundError(_how_to_create(source, target)) from None
    if with_values:
        access.require(sessions, actor, "values.update", target_of(target))
    if view.template_name != source.template_name:
        raise InputError(
            f"{target} runs template {view.template_name}, {source.id} runs "
            f"{source.template_name}: a promotion copies a version of the same template "
            f"(use upgrade to move {target} to another template)",
            location=Location(path="to"),
        )
    return view


def _head_files(
    sessions: sessionmaker[Session], view: InstanceView, workspace: GitWorkspace
) -> dict[str, bytes | None]:
    """The instance's files on the remote's head (fetched by a read of the repository's
    queue, shared with the reads queued beside it)."""
    repository = open_for(sessions, view, workspace)
    with outside_errors(view.repository):
        gitops_repositories.refresh(sessions, repository, wait=lock_wait(workspace))
    reader = repository.reader()
    return {path: reader.read_file(path) for path in instance_files(view)}


def plan(
    sessions: sessionmaker[Session],
    source_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    environments: Sequence[str],
    to: str | None = None,
    values: Sequence[str] = (),
) -> Promotion:
    """What promoting ``source_id`` copies, read from Git now: to ``to`` (default the next
    environment), the source's template and app version and its overrides at ``values``.

    Raises ``NotFoundError`` (the source, or the target with how to create it),
    ``PermissionDeniedError``, ``InputError`` (an environment out of order, a bad path, a
    path the source has no override at, another template), ``ExternalServiceError``.
    """
    source = parse_instance_id(source_id)
    view = load_instance(sessions, source, actor=actor, permission="instance.read")
    if values:
        access.require(sessions, actor, "values.read", target_of(source))
    environment = target_environment(source.environment, to, environments)
    target = InstanceId(source.product, source.customer, environment, source.instance)
    _load_target(sessions, view, target, actor=actor, with_values=bool(values))
    copied: list[tuple[str, Any]] = []
    if values:
        raw = _head_files(sessions, view, workspace)[view.values_path]
        _, overrides = overrides_of(raw, source=view.values_path)
        for number, text in enumerate(values):
            path = parse_path(text, source=f"values[{number}]")
            value = override_at(overrides, path)
            if value is MISSING:
                raise InputError(
                    f"{view.id} has no override at {format_path(path)}: its value there comes "
                    "from its chart, and a promotion copies overrides only",
                    location=Location(path=f"values[{number}]"),
                )
            copied.append((format_path(path), value))
    return Promotion(
        source=view.id,
        target=str(target),
        template=view.template,
        app_version=view.app_version,
        values=tuple(copied),
    )


class _PromotionEdit:
    """The target's files after the promotion, made on whatever head the adapter hands in:
    the values edits applied to values.yaml (comments kept), application.yaml bumped to the
    new chart version (when the chart changes), the merged values checked again. Each call
    works from the head it is handed alone (the group commit may ask again on a fetched head
    or after a lost race); ``diff`` is the last call's."""

    def __init__(
        self,
        view: InstanceView,
        promotion: Promotion,
        template: Template,
        context: dict[str, str],
        chart_version: str | None,
    ) -> None:
        self.view, self.promotion, self.template = view, promotion, template
        self.context, self.chart_version = context, chart_version
        self.diff = ""

    def __call__(self, read: Any) -> dict[str, bytes | None]:
        view = self.view
        now = read_state(read, view)
        require_present(now, view)
        files: dict[str, bytes | None] = {}
        diffs: list[str] = []
        text, _ = overrides_of(now[view.values_path], source=view.values_path)
        edited = promoted_values(text, self.promotion, view)
        require_valid(view.id, self.template, self.context, edited.after)
        if edited.text != text:
            files[view.values_path] = edited.text.encode()
            diffs.append(unified_diff(text, edited.text, path=view.values_path))
        if self.chart_version is not None:
            application = (now[view.application_path] or b"").decode("utf-8", "replace")
            bumped = bumped_application(view, application, self.chart_version)
            if bumped != application:
                files[view.application_path] = bumped.encode()
                diffs.append(unified_diff(application, bumped, path=view.application_path))
        self.diff = "".join(diffs)
        return files


def promoted_values(text: str, promotion: Promotion, view: InstanceView) -> Any:
    """The target's values.yaml ``text`` with the promotion's values edited in (comments
    kept): the edit's ``text`` and the overrides it means (``after``)."""
    edits = [SetValue(parse_path(path), value) for path, value in promotion.values]
    return apply_edits(text, edits, source=view.values_path)


def _subject(view: InstanceView, promotion: Promotion, chart_version: str | None) -> str:
    parts = []
    if chart_version is not None:
        parts.append(
            f"chart {view.chart} {view.chart_version} -> {chart_version} ({view.template} -> "
            f"{promotion.template}, app {view.app_version} -> {promotion.app_version})"
        )
    if promotion.values:
        parts.append("values " + ", ".join(path for path, _ in promotion.values))
    return f"{view.id}: promote from {promotion.source}: " + "; ".join(parts)


def _prepare(
    sessions: sessionmaker[Session],
    promotion: Promotion,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> tuple[InstanceView, Template, dict[str, str], bool, str]:
    """Check that ``promotion`` can be committed now (rights, template, values against the
    target's new chart, that it changes something): the target, the template, the context,
    whether the chart changes, and the diff of the target's values.yaml."""
    source = parse_instance_id(promotion.source, source="from")
    target = parse_instance_id(promotion.target)
    if (source.product, source.customer, source.instance) != (
        target.product,
        target.customer,
        target.instance,
    ) or source.environment == target.environment:
        raise InputError(
            f"{promotion.source} and {promotion.target} are not one instance in two "
            "environments: a promotion goes to the same product, customer and instance",
            location=Location(path="from"),
        )
    source_view = load_instance(sessions, source, actor=actor, permission="instance.read")
    if promotion.values:
        access.require(sessions, actor, "values.read", target_of(source))
    view = _load_target(
        sessions, source_view, target, actor=actor, with_values=bool(promotion.values)
    )
    version_view, template = published_template(sessions, promotion.template)
    reference = f"{version_view.name}@{version_view.version}"
    context = {**view.context, "version": promotion.app_version}
    parse_context(context)
    chart_changes = (reference, promotion.app_version) != (view.template, view.app_version)
    now = _head_files(sessions, view, workspace)
    require_present(now, view)
    text, current = overrides_of(now[view.values_path], source=view.values_path)
    edited = promoted_values(text, promotion, view)
    require_valid(view.id, template, context, edited.after)
    if not chart_changes and edited.after == current:
        raise InputError(
            f"{view.id} already runs {reference} with app version {promotion.app_version}"
            + (" and these values" if promotion.values else "")
            + f": nothing to promote from {promotion.source}",
            location=Location(path="to"),
        )
    return (
        view,
        template,
        context,
        chart_changes,
        unified_diff(text, edited.text, path=view.values_path),
    )


def describe(
    sessions: sessionmaker[Session],
    promotion: Promotion,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> str:
    """The reviewable text of ``promotion`` (checked as ``promote`` would check it)."""
    view, _, _, chart_changes, values_diff = _prepare(
        sessions, promotion, actor=actor, workspace=workspace
    )
    lines = [f"promote {promotion.source} to {view.id}:"]
    if chart_changes:
        lines.append(
            f"template {view.template} -> {promotion.template}, app version "
            f"{view.app_version} -> {promotion.app_version} (chart {view.chart} "
            f"{view.chart_version} -> the version its policy gives)"
        )
    if values_diff:
        lines.append(values_diff.rstrip("\n"))
    return "\n".join(lines) + "\n"


def promote(
    sessions: sessionmaker[Session],
    promotion: Promotion,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """Commit ``promotion`` (a ``plan``) as one commit in the target's folder authored by
    ``actor``: when the template or app version changes, the target's chart is built and
    published first and application.yaml points at it; the value paths are edited into
    values.yaml. Raises like ``plan`` and ``upgrade``; ``InputError`` when nothing would
    change, ``InvalidValuesError`` (nothing built or committed), ``PermissionDeniedError``
    when the target's environment needs approval and none was given."""
    target = parse_instance_id(promotion.target)
    require_direct(sessions, target.environment, approved_by, "promoting")
    view, template, context, chart_changes, _ = _prepare(
        sessions, promotion, actor=actor, workspace=workspace
    )
    outcome = None
    if chart_changes:
        outcome = publish_chart(
            sessions,
            view,
            reference=promotion.template,
            context=context,
            actor=actor,
            workspace=workspace,
            approved_by=approved_by,
            what="promotion",
        )
    edit = _PromotionEdit(view, promotion, template, context, outcome.version if outcome else None)
    subject = _subject(view, promotion, outcome.version if outcome else None)
    composed: list[str] = []

    def compose() -> str:
        composed.append(commit_text(workspace, subject, message or "", approved_by))
        return composed[-1]

    repository = open_for(sessions, view, workspace)
    request = CommitRequest(edit, author=workspace.author(actor.name), message=compose)
    pushed, revision = commit_queued(
        sessions, repository, request, workspace=workspace, files=instance_files(view)
    )
    version_view, _ = published_template(sessions, promotion.template)
    changes: dict[str, Any] = {}
    if outcome is not None:
        changes = {
            "template_name": version_view.name,
            "template_version": version_view.version,
            "app_version": promotion.app_version,
            "chart_version": outcome.version,
            "build_id": outcome.build_id,
        }
    return record_outcome(
        sessions,
        view,
        actor=actor,
        action="instance.promote",
        revision=revision or pushed.commit,
        committed=pushed.created,
        previous=pushed.parent,
        diff=edit.diff,
        message=composed[-1] if pushed.created and composed else "",
        after={
            "from": promotion.source,
            "template": promotion.template,
            "app_version": promotion.app_version,
            "chart_version": outcome.version if outcome else view.chart_version,
            "from_chart_version": view.chart_version,
            "values": [path for path, _ in promotion.values],
            "message": message or "",
        },
        approved_by=approved_by,
        changes=changes,
    )


def promote_or_propose(
    sessions: sessionmaker[Session],
    source_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    environments: Sequence[str],
    to: str | None = None,
    values: Sequence[str] = (),
    message: str | None = None,
) -> ValuesChange | ChangeRequestView:
    """Plan the promotion of ``source_id`` and commit it, or where the target's environment
    needs approval propose it as an ``instance.promote`` change request holding the plan
    (the approvers are named in the commit's ``Approved-by:`` trailers)."""
    check_commit_body(message)
    promotion = plan(
        sessions,
        source_id,
        actor=actor,
        workspace=workspace,
        environments=environments,
        to=to,
        values=values,
    )
    target = parse_instance_id(promotion.target)
    if change_requests.required_approvals(sessions, target.environment):
        return change_requests.propose(
            sessions,
            kind="instance.promote",
            payload=promotion.payload(message),
            actor=actor,
            context={"workspace": workspace},
        )
    return promote(sessions, promotion, actor=actor, workspace=workspace, message=message)
