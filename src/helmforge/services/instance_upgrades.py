"""Upgrading an instance: a new chart from another template version or app version, built,
published, and application.yaml's chart version bumped in one commit — with values.yaml
migrated in that same commit when the new template version's ``spec.migrations`` rename or
retype what the instance overrides (``core.templates.migrations``; what cannot be migrated
stops the upgrade before anything is built).
"""

from __future__ import annotations

__all__ = ["bumped_application", "migrated_values", "publish_chart", "upgrade"]

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitRequest
from helmforge.adapters.storage.publish_locks import LockTimeoutError
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import parse_context
from helmforge.core.errors import ConflictError, HelmforgeError, InputError, Location
from helmforge.core.instances.application import APPLICATION_LABEL
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.values_diff import unified_diff
from helmforge.core.instances.values_edits import SetValue, apply_edits, edits_between
from helmforge.core.templates.migrations import migrate_overrides
from helmforge.core.templates.models import Migration, Template
from helmforge.core.yaml_codec import load_single
from helmforge.services import chart_builds, chart_pushes, gitops_repositories, instance_git
from helmforge.services.chart_pushes import PublishOutcome
from helmforge.services.gitops_repositories import GitWorkspace, OpenRepository
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
    delegate,
    load_instance,
    lock_wait,
    outside_errors,
    parse_instance_id,
    require_direct,
)
from helmforge.services.instance_records import InstanceView
from helmforge.services.instance_values import (
    overrides_of,
    published_template,
    require_valid,
)

type Reader = Callable[[str], bytes | None]


def upgrade(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    template: str | None = None,
    version: str | None = None,
    message: str | None = None,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """Move the instance to another template version (``NAME@VERSION``, or ``NAME`` for its
    newest published one) and/or app version: a new chart is built and published, and
    application.yaml's chart version is bumped in one commit (``instance.upgrade``). The
    instance's current overrides, migrated by the new version's ``spec.migrations`` (renames
    and retypes written into values.yaml in the same commit), must fit the new chart
    (``InvalidValuesError``, or ``InputError`` naming what could not be migrated, before
    anything is built). Raises ``InputError`` when nothing would change, ``ConflictError``
    when the registry already holds other content under the chart version the template's
    policy gives (``app``: change the app version too), like ``update_values`` otherwise."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="instance.upgrade")
    require_direct(sessions, instance.environment, approved_by, "upgrading")
    reference = template or view.template
    version_view, parsed = published_template(sessions, reference)
    new_reference = f"{version_view.name}@{version_view.version}"
    app_version = version or view.app_version
    if new_reference == view.template and app_version == view.app_version:
        raise InputError(
            f"{view.id} already runs {new_reference} with app version {app_version}: name a "
            "newer template version or app version",
            location=Location(path="template"),
        )
    context = {**view.context, "version": app_version}
    parse_context(context)
    repository = open_for(sessions, view, workspace)
    migrating = parsed.migrations if new_reference != view.template else ()

    def check(values: bytes | None) -> None:
        _, overrides = overrides_of(values, source=view.values_path)
        migrated = _migrated(view, new_reference, migrating, overrides)
        require_valid(view.id, parsed, context, migrated)

    _check_early(sessions, repository, view=view, workspace=workspace, check=check)
    outcome = publish_chart(
        sessions,
        view,
        reference=new_reference,
        context=context,
        actor=actor,
        workspace=workspace,
        approved_by=approved_by,
        what="upgrade",
    )
    bump = _ApplicationBump(
        view, outcome.version, parsed, context, migrations=migrating, reference=new_reference
    )
    subject = (
        f"{view.id}: upgrade chart {view.chart} {view.chart_version} -> {outcome.version} "
        f"({view.template} -> {new_reference}, app {view.app_version} -> {app_version})"
    )
    composed: list[str] = []

    def compose() -> str:
        composed.append(commit_text(workspace, subject, message or "", approved_by))
        return composed[-1]

    request = CommitRequest(bump, author=workspace.author(actor.name), message=compose)
    pushed, revision = commit_queued(
        sessions, repository, request, workspace=workspace, files=instance_files(view)
    )
    return record_outcome(
        sessions,
        view,
        actor=actor,
        action="instance.upgrade",
        revision=revision or pushed.commit,
        committed=pushed.created,
        previous=pushed.parent,
        diff=bump.diff(),
        # A group may have asked the bump on a head whose commit was never pushed: only the
        # message of the commit that landed is the change's.
        message=composed[-1] if pushed.created and composed else "",
        after={
            "template": new_reference,
            "app_version": app_version,
            "chart_version": outcome.version,
            "from_chart_version": view.chart_version,
            "migrated": list(bump.applied),
            "message": message or "",
        },
        approved_by=approved_by,
        changes={
            "template_name": version_view.name,
            "template_version": version_view.version,
            "app_version": app_version,
            "chart_version": outcome.version,
            "build_id": outcome.build_id,
        },
    )


def _check_early(
    sessions: sessionmaker[Session],
    repository: OpenRepository,
    *,
    view: InstanceView,
    workspace: GitWorkspace,
    check: Callable[[bytes | None], None],
) -> None:
    """Before anything is built: ``check`` (raising to refuse) the instance's values.yaml on
    the remote's head, fetched by a read of the repository's queue (shared with the reads
    queued beside it). When a push of the repository holds it past ``READ_WAIT``, the check
    is made on the cache (which that push's group leaves at most that far behind), so that
    upgrades of one repository at once build while the push lasts and share the next
    group's push; a refusal is only ever made on a fetched head: one found on the cache is
    checked again after a fetch that waits its turn. The bump checks again on the head it
    commits on anyway. Raises what ``check`` raises, or the fetch's error."""
    fetched = True
    with outside_errors(view.repository):
        try:
            gitops_repositories.refresh(sessions, repository, wait=instance_git.READ_WAIT)
        except LockTimeoutError:
            fetched = repository.reader().head() is None
            if fetched:  # nothing cached to check on: wait for the fetch
                gitops_repositories.refresh(sessions, repository, wait=lock_wait(workspace))
    try:
        check(repository.reader().read_file(view.values_path))
    except HelmforgeError:
        if fetched:
            raise
        with outside_errors(view.repository):
            gitops_repositories.refresh(sessions, repository, wait=lock_wait(workspace))
        check(repository.reader().read_file(view.values_path))


def _migrated(
    view: InstanceView,
    reference: str,
    migrations: tuple[Migration, ...],
    overrides: dict[str, Any],
    applied: list[str] | None = None,
) -> dict[str, Any]:
    """The overrides migrated by ``reference``'s ``spec.migrations`` from the instance's
    template version; ``InputError`` naming what could not be migrated (nothing built)."""
    if not migrations:
        return overrides
    result = migrate_overrides(migrations, view.template_version, overrides)
    if result.problems:
        raise InputError(
            f"the values of {view.id} cannot be migrated to {reference}, nothing was built or "
            f"committed: {'; '.join(result.problems)} (edit values.yaml first)",
            location=Location(view.values_path, path="values"),
        )
    if applied is not None:
        applied[:] = result.applied
    return result.values


def migrated_values(
    view: InstanceView,
    reference: str,
    migrations: tuple[Migration, ...],
    text: str,
    overrides: dict[str, Any],
    *,
    applied: list[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """values.yaml ``text`` (meaning ``overrides``) and the overrides after ``reference``'s
    ``spec.migrations`` from the instance's template version: the text edited in place, its
    comments kept, and unchanged when nothing migrates (``applied`` receives what did).
    ``InputError`` naming what could not be migrated."""
    migrated = _migrated(view, reference, migrations, overrides, applied)
    if migrated == overrides:
        return text, overrides
    edited = apply_edits(text, edits_between(overrides, migrated), source=view.values_path)
    return edited.text, migrated


class _ApplicationBump:
    """application.yaml with source 1's ``targetRevision`` set to the new chart version (an
    edit of the file, so anything else written into it stays), and values.yaml migrated by the
    new version's ``spec.migrations`` in the same commit (structured edits: comments stay);
    the values re-checked against the new chart whenever they are read again.

    The group commit may ask it more than once (on the cache's head, then on a fetched one;
    again after a lost race): every call works from the head it is handed alone, and what
    it keeps (the texts of the diff, the migrations applied) is that call's, so the last
    call's is the commit's. Values found valid are remembered (the same overrides of the
    same chart are not checked twice)."""

    def __init__(
        self,
        view: InstanceView,
        version: str,
        template: Template,
        context: dict[str, str],
        *,
        migrations: tuple[Migration, ...] = (),
        reference: str = "",
    ) -> None:
        self.view, self.version, self.template, self.context = view, version, template, context
        self.migrations, self.reference = migrations, reference
        self.before = ""
        self.after = ""
        self.values_before = ""
        self.values_after = ""
        self.applied: list[str] = []
        self._valid: list[dict[str, Any]] = []

    def __call__(self, read: Reader) -> dict[str, bytes | None]:
        view = self.view
        now = read_state(read, view)
        require_present(now, view)
        values_text, overrides = overrides_of(now[view.values_path], source=view.values_path)
        self.values_after, migrated = migrated_values(
            view, self.reference, self.migrations, values_text, overrides, applied=self.applied
        )
        if migrated not in self._valid:
            require_valid(view.id, self.template, self.context, migrated)
            self._valid.append(migrated)
        text = (now[view.application_path] or b"").decode("utf-8", "replace")
        self.before, self.after = text, bumped_application(view, text, self.version)
        files: dict[str, bytes | None] = {view.application_path: self.after.encode()}
        self.values_before = values_text
        if self.values_after != values_text:
            files[view.values_path] = self.values_after.encode()
        return files

    def diff(self) -> str:
        """The unified diff of what the commit changed (application.yaml, values.yaml)."""
        view = self.view
        return unified_diff(self.before, self.after, path=view.application_path) + (
            unified_diff(self.values_before, self.values_after, path=view.values_path)
            if self.values_after != self.values_before
            else ""
        )


def bumped_application(view: InstanceView, text: str, version: str) -> str:
    """application.yaml ``text`` with source 1's ``targetRevision`` set to chart ``version``
    and the ``helmforge.io/application`` label (the list's selector of its status) set to
    its name (an edit of the file: anything else written into it stays). ``ConflictError`` when the
    file has no chart source (someone rewrote it outside helmforge)."""
    document = load_single(text, source=view.application_path).data
    sources = document.get("spec", {}).get("sources") if isinstance(document, dict) else None
    if not isinstance(sources, list) or not sources or not isinstance(sources[0], dict):
        raise ConflictError(
            f"{view.application_path} has no chart source (spec.sources[0]) to upgrade: "
            "it was changed outside helmforge",
            location=Location(view.application_path, path="spec.sources"),
        )
    edited = apply_edits(
        text,
        [
            SetValue(("spec", "sources", 0, "targetRevision"), version),
            SetValue(("metadata", "labels", APPLICATION_LABEL), view.app_name),
        ],
        source=view.application_path,
    )
    return edited.text


def publish_chart(
    sessions: sessionmaker[Session],
    view: InstanceView,
    *,
    reference: str,
    context: dict[str, str],
    actor: Principal,
    workspace: GitWorkspace,
    approved_by: tuple[str, ...],
    what: str,
) -> PublishOutcome:
    """Build the instance's chart from template version ``reference`` for ``context`` and
    publish it to the instance's registry, on ``actor``'s behalf (``what``: the change that
    needs it, for the error). ``ConflictError`` naming the way out when the chart version the
    template's policy gives already holds other content."""
    build = chart_builds.build_chart(
        sessions,
        template=reference,
        context=context,
        actor=delegate(actor),
        defer_required=True,
    )
    try:
        return chart_pushes.publish_build(
            sessions,
            build.id,
            registry=view.registry,
            key=workspace.key,
            actor=delegate(actor),
            deadline=workspace.registry_deadline,
            approved_by=approved_by or None,
        )
    except ConflictError as error:
        raise ConflictError(
            f"the {what} of {view.id} needs a new chart version, but chart {build.name} "
            f"{build.version} (what {reference}'s chartVersionPolicy gives for app version "
            f"{context.get('version')}) already holds other content: give a new app version "
            f"too, or use chartVersionPolicy auto. {error.message}",
            location=Location(path="version"),
        ) from error
