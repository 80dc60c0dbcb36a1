"""Changing a deployed instance: values updates, previews, history, rollback and upgrade.

Every change is one commit authored by the caller on the repository's branch, made in the
repository's group commit (``gitops_repositories.commit``: under its one-writer lock, with the
edits queued beside it, each its own commit, pushed together without force). The structured
edit is what is committed, not bytes: it is applied on the head the edits before it in the
group left, and on a push that lost a race the adapter hands the new head to the edit again,
which re-applies it there (comments and key order kept) — or refuses with 409 when the other
writer changed the same values, so nothing is lost silently.

``update_values`` takes the revision the editor saw (``If-Match``): when the instance's files
differ from that revision's, the answer is ``StaleInstanceError`` with the diff from what they
saw to what is there now. Every result is checked against the chart's values schema before it
is committed (``InvalidValuesError``, nothing committed).
"""

from __future__ import annotations

__all__ = [
    "ValuesChange",
    "instance_files",
    "open_for",
    "read_state",
    "record_outcome",
    "require_present",
    "rollback",
    "update_values",
    "update_values_text",
]

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.git import CommitRequest, GitRepository, Snapshot
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import (
    ConflictError,
    HelmforgeError,
    Location,
    NotFoundError,
    PreconditionRequiredError,
)
from helmforge.core.instances.layout import InstanceId
from helmforge.core.instances.values_diff import (
    changes_as_json,
    override_changes,
    unified_diff,
)
from helmforge.core.instances.values_edits import (
    ValuesEdit,
    apply_edits,
    edits_between,
)
from helmforge.core.instances.values_text import checked_values_text
from helmforge.core.templates.models import Template
from helmforge.services import gitops_repositories, instance_records
from helmforge.services.gitops_repositories import GitWorkspace, OpenRepository
from helmforge.services.instance_git import (
    commit_queued,
    commit_text,
    load_instance,
    load_with_repository,
    lock_wait,
    outside_errors,
    parse_instance_id,
    require_direct,
)
from helmforge.services.instance_records import InstanceView
from helmforge.services.instance_values import (
    StaleInstanceError,
    changed_paths,
    files_diff,
    last_revision,
    overlapping,
    overrides_of,
    plain_overrides,
    published_template,
    require_valid,
    summary_of,
)

type Reader = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class ValuesChange:
    """What a change committed: ``revision`` is the instance's revision after it (the new
    commit, or the unchanged one when ``committed`` is False because nothing changed);
    ``diff`` the unified diff of its files; ``message`` the commit message."""

    instance: InstanceView
    revision: str
    previous_revision: str | None
    committed: bool
    diff: str
    message: str


def instance_files(view: InstanceView) -> list[str]:
    return [view.values_path, view.application_path]


def open_for(
    sessions: sessionmaker[Session], view: InstanceView, workspace: GitWorkspace
) -> OpenRepository:
    return gitops_repositories.open_repository(sessions, view.repository, workspace=workspace)


def read_state(read: Reader, view: InstanceView) -> dict[str, bytes | None]:
    return {path: read(path) for path in instance_files(view)}


def require_present(state: Mapping[str, bytes | None], view: InstanceView) -> None:
    if state[view.application_path] is None:
        raise ConflictError(
            f"{view.application_path} is no longer in repository {view.repository!r}: the "
            f"instance {view.id} was removed from Git outside helmforge",
            location=Location(path="instance"),
        )


class _PendingStaleError(StaleInstanceError):
    """A stale edit's answer as decided under the repository's lock, without what it takes
    long to work out (the instance's revision on that head, found by a history walk, and the
    diff): ``_commit_values`` fills those in after the group, outside the lock. Commits are
    immutable, so the revision at ``head`` is the same then as it was under the lock."""

    def __init__(
        self,
        message: str,
        *,
        head: str | None,
        seen: Mapping[str, bytes | None],
        now: Mapping[str, bytes | None],
    ) -> None:
        super().__init__(message, current_revision=None, diff="")
        self.head, self.seen, self.now = head, dict(seen), dict(now)

    def completed(self, repository: OpenRepository, view: InstanceView) -> StaleInstanceError:
        return StaleInstanceError(
            self.message,
            current_revision=last_revision(repository.reader(), instance_files(view), at=self.head),
            diff=files_diff(self.seen, self.now),
        )


class _ValuesEdit:
    """The structured edit of one update, re-applied on whatever head the adapter hands in."""

    def __init__(
        self,
        view: InstanceView,
        *,
        seen_revision: str | None,
        wanted: dict[str, Any] | None = None,
        restore: bytes | None = None,
        template: Template | None = None,
    ) -> None:
        self.view, self.seen_revision = view, seen_revision
        self.wanted, self.restore, self.template = wanted, restore, template
        self.base: dict[str, bytes | None] | None = None
        self.base_head: Snapshot | None = None
        self.edits: tuple[ValuesEdit, ...] = ()
        self.before_text = ""
        self.after_text = ""
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        # Pure work done once per input, mostly before the lock (``prepare``): the edit
        # applied to a text, overrides found valid (lists: values need not be hashable).
        self._applied: list[tuple[str, tuple[ValuesEdit, ...], str, dict[str, Any]]] = []
        self._valid: list[dict[str, Any]] = []
        self.stale_checked = False

    def checked(self, overrides: dict[str, Any]) -> None:
        """``require_valid`` for ``overrides``, remembered: the same overrides of the same
        template and context are not checked twice (the answer would be the same)."""
        if overrides not in self._valid:
            assert self.template is not None, "the template is set before values are checked"
            require_valid(self.view.id, self.template, self.view.context, overrides)
            self._valid.append(overrides)

    def _apply(self, text: str) -> tuple[str, dict[str, Any]]:
        if self.restore is not None:
            return overrides_of(self.restore, source=self.view.values_path)
        for source, edits, written, after in self._applied:
            if source == text and edits == self.edits:
                return written, after
        result = apply_edits(text, self.edits, source=self.view.values_path)
        after = plain_overrides(result.after, source=self.view.values_path)
        self._applied.append((text, self.edits, result.text, after))
        return result.text, after

    def stale_on(self, reader: GitRepository) -> _PendingStaleError | None:
        """Before the lock: the 409 of an edit stale on the cache's head, which the remote
        held after the editor's revision (it descends from it), so the remote holds the
        instance changed now too; else None, and the group decides."""
        seen_revision, view = self.seen_revision, self.view
        head = reader.head()
        if (
            seen_revision is None
            or head is None
            or seen_revision == head
            or not reader.contains(seen_revision)
            or not reader.is_ancestor(seen_revision, head)
        ):
            return None
        now = {path: reader.read_file(path, head) for path in instance_files(view)}
        seen = {path: reader.read_file(path, seen_revision) for path in now}
        if now[view.application_path] is None or seen == now or self._already_done(seen, now):
            return None
        return _PendingStaleError(
            f"instance {view.id} changed since revision {seen_revision[:12]}: review the "
            "diff and edit the current values",
            head=head,
            seen=seen,
            now=now,
        )

    def prepare(self, reader: GitRepository) -> None:
        """Before the lock: apply the edit to values.yaml at the editor's revision and check
        the result, so that under the lock, on a head where the instance is as they saw it,
        the ruamel round trip and the schema check are done. Nothing is decided here."""
        values_path = self.view.values_path
        if self.seen_revision is None or not reader.contains(self.seen_revision):
            return
        try:
            text, seen = overrides_of(
                reader.read_file(values_path, self.seen_revision), source=values_path
            )
            if self.wanted is not None:
                self.edits = edits_between(seen, self.wanted)
            self.checked(self._apply(text)[1])
        except HelmforgeError:
            return  # decided (and answered) on the head under the lock

    def _stale(
        self,
        head: Snapshot,
        message: str,
        seen: Mapping[str, bytes | None],
        now: Mapping[str, bytes | None],
    ) -> _PendingStaleError:
        # The revision of the instance on the head this edit was handed: in a group, that
        # head holds the commits of the edits before it (the answer stands once they land).
        # It and the diff are worked out after the group, outside the lock.
        return _PendingStaleError(message, head=head.commit, seen=seen, now=now)

    def _check_seen(self, head: Snapshot, now: dict[str, bytes | None]) -> dict[str, bytes | None]:
        """What the editor saw (the files at their revision), once it matches the head."""
        view, seen_revision, git = self.view, self.seen_revision, head.repository
        if seen_revision is None:
            return now
        if not git.contains(seen_revision):
            raise self._stale(
                head,
                f"revision {seen_revision[:40]!r} is not on branch {git.remote.branch} "
                f"of repository {view.repository!r}: read the instance {view.id} again and "
                "edit what is there now",
                {},
                {},
            )
        seen = {path: git.read_file(path, seen_revision) for path in now}
        if seen != now and not self._already_done(seen, now):
            raise self._stale(
                head,
                f"instance {view.id} changed since revision {seen_revision[:12]}: review the "
                "diff and edit the current values",
                seen,
                now,
            )
        return seen

    def _already_done(
        self, seen: Mapping[str, bytes | None], now: Mapping[str, bytes | None]
    ) -> bool:
        """Whether the instance changed since the editor's revision only by this very edit
        (a retry of a change whose answer was lost): then it is done, not stale."""
        view = self.view
        if seen[view.application_path] != now[view.application_path]:
            return False
        if self.restore is not None:
            return now[view.values_path] == self.restore
        _, current = overrides_of(now[view.values_path], source=view.values_path)
        return current == self.wanted

    def __call__(self, head: Snapshot) -> dict[str, bytes | None]:
        view, values_path = self.view, self.view.values_path
        now = read_state(head, view)
        require_present(now, view)
        if self.base is None or self.base_head is None or not self.base_head.confirmed:
            # A first call, or the one before was on the cache's head and the remote was
            # never there: check If-Match on this head as if nothing had been done yet.
            seen = self._check_seen(head, now)
            if seen != now:  # already done: edit the head, which changes nothing
                seen = now
            _, seen_overrides = overrides_of(seen[values_path], source=values_path)
            if self.wanted is not None:
                self.edits = edits_between(seen_overrides, self.wanted)
            self.base, self.base_head = now, head
        elif now != self.base:
            # Someone else pushed this instance between our fetch and our push: keep their
            # change unless it touches what ours does.
            _, base_overrides = overrides_of(self.base[values_path], source=values_path)
            _, now_overrides = overrides_of(now[values_path], source=values_path)
            theirs = changed_paths(override_changes(base_overrides, now_overrides))
            ours = [edit.path for edit in self.edits] if self.restore is None else [()]
            clash = overlapping(ours, theirs) if theirs else []
            if now[view.application_path] != self.base[view.application_path] or clash:
                raise self._stale(
                    head,
                    f"instance {view.id} was changed by another writer while this change was "
                    f"being pushed ({', '.join(clash) or 'its Application'}): review the diff",
                    self.base,
                    now,
                )
        text, before = overrides_of(now[values_path], source=values_path)
        written, after = self._apply(text)
        self.checked(after)
        self.before_text, self.after_text = text, written
        self.before, self.after = before, after
        return {values_path: written.encode()}

    def changes(self) -> list[dict[str, Any]]:
        return changes_as_json(override_changes(self.before, self.after))

    def summary(self) -> str:
        changes = override_changes(self.before, self.after)
        if not changes and self.after_text != self.before_text:
            # The same values written otherwise (comments, order, quoting): say so rather
            # than "no change" over a diff that shows one.
            return "values.yaml rewritten, values unchanged"
        return summary_of(changes)


def _answer_if_stale(repository: OpenRepository, edit: _ValuesEdit) -> None:
    """The 409 of an edit already stale on the cache's head (``_ValuesEdit.stale_on``),
    raised before it is queued; checked once per edit."""
    if edit.stale_checked:
        return
    edit.stale_checked = True
    early = edit.stale_on(repository.reader())
    if early is not None:
        raise early.completed(repository, edit.view)


def _commit_values(
    sessions: sessionmaker[Session],
    view: InstanceView,
    edit: _ValuesEdit,
    *,
    subject: Callable[[_ValuesEdit], str],
    action: str,
    audit: Mapping[str, Any],
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None,
    approved_by: tuple[str, ...],
    repository: OpenRepository | None = None,
) -> ValuesChange:
    """Commit one values edit in the repository's next group commit and record it as
    ``action`` (the audit event carries ``audit``, the edit's changes and the message)."""
    repository = repository or open_for(sessions, view, workspace)
    composed: list[str] = []

    def compose() -> str:
        composed.append(commit_text(workspace, subject(edit), message or "", approved_by))
        return composed[-1]

    request = CommitRequest(edit, author=workspace.author(actor.name), message=compose)
    _answer_if_stale(repository, edit)
    edit.prepare(repository.reader())
    try:
        pushed, revision = commit_queued(
            sessions, repository, request, workspace=workspace, files=instance_files(view)
        )
    except _PendingStaleError as stale:
        raise stale.completed(repository, view) from None
    text = composed[-1] if pushed.created and composed else ""
    return record_outcome(
        sessions,
        view,
        actor=actor,
        action=action,
        revision=revision or pushed.commit,
        committed=pushed.created,
        previous=pushed.parent,
        diff=unified_diff(edit.before_text, edit.after_text, path=view.values_path),
        message=text,
        after={**audit, "changes": edit.changes(), "message": message or ""},
        approved_by=approved_by,
    )


def record_outcome(
    sessions: sessionmaker[Session],
    view: InstanceView,
    *,
    actor: Principal,
    action: str,
    revision: str,
    committed: bool,
    previous: str | None,
    diff: str,
    message: str,
    after: Mapping[str, Any],
    approved_by: tuple[str, ...],
    changes: Mapping[str, Any] | None = None,
) -> ValuesChange:
    instance = view.instance_id
    stamped = instance_records.record_change(
        sessions,
        instance,
        actor=actor,
        action=action,
        changes={"revision": revision, **(changes or {})},
        audit_after={
            **after,
            "revision": revision,
            "committed": committed,
            **({"approved_by": list(approved_by)} if approved_by else {}),
        },
    )
    fresh = (
        # Only the revision changed: the view is the one read for this change, stamped as
        # the row was (reading it again took three more queries per edit).
        replace(view, revision=revision, updated_by=actor.name, updated_at=stamped)
        if not changes
        else load_instance(sessions, instance, actor=SYSTEM, permission="instance.read")
    )
    return ValuesChange(
        instance=fresh,
        revision=revision,
        previous_revision=previous,
        committed=committed,
        diff=diff,
        message=message,
    )


def update_values(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    values: Mapping[str, Any],
    *,
    if_match: str | None,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """Make the instance's overrides ``values`` (the whole set), as one commit on top of
    revision ``if_match`` (the instance's revision the editor saw).

    Raises ``PreconditionRequiredError`` (no ``if_match``), ``StaleInstanceError`` (the
    instance changed since: ``current_revision`` and the diff), ``InvalidValuesError``
    (nothing committed), ``PermissionDeniedError`` (no ``values.update``, or the environment
    needs approval: ``update_values_or_propose``), ``NotFoundError``,
    ``ExternalServiceError`` (the remote refused or failed: nothing was changed).
    """
    instance = parse_instance_id(instance_id)
    view, repository = load_with_repository(
        sessions, instance, actor=actor, permission="values.update", workspace=workspace
    )
    require_direct(sessions, instance.environment, approved_by, "changing values")
    if not if_match:
        raise PreconditionRequiredError(
            f"changing the values of {instance} needs the revision you edited (If-Match: "
            '"<revision>" from GET /api/v1/instances/...): it is how a concurrent change is '
            "noticed instead of overwritten",
            location=Location(path="If-Match"),
        )
    wanted = plain_overrides(values)
    edit = _ValuesEdit(view, seen_revision=if_match, wanted=wanted)
    # A stale edit is answered 409 whatever its values (as its group would answer it),
    # before the template is read and the values checked.
    _answer_if_stale(repository(), edit)
    _, edit.template = published_template(sessions, view.template)
    edit.checked(wanted)
    return _commit_values(
        sessions,
        view,
        edit,
        subject=lambda edit: f"{view.id}: values: {edit.summary()}",
        action="values.update",
        audit={},
        actor=actor,
        workspace=workspace,
        message=message,
        approved_by=approved_by,
        repository=repository(),
    )


def update_values_text(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    text: str,
    *,
    if_match: str | None,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """Make values.yaml ``text`` as the user wrote it — comments, order and anchors kept —
    as one commit on top of revision ``if_match``, like ``update_values``.

    The text is checked first (``core.instances.values_text``: the codec's budgets and
    refusals with their line, a mapping at the top, ruamel can read it, YAML 1.1 look-alikes
    quoted in place, read back to exactly the same values by helmforge and by a YAML 1.1
    reader), then the values it means against the chart's schema; ``InputError`` or
    ``InvalidValuesError`` otherwise, and nothing is committed. Raises as ``update_values``.
    """
    instance = parse_instance_id(instance_id)
    view, repository = load_with_repository(
        sessions, instance, actor=actor, permission="values.update", workspace=workspace
    )
    require_direct(sessions, instance.environment, approved_by, "changing values")
    if not if_match:
        raise PreconditionRequiredError(
            f"changing the values of {instance} needs the revision you edited (If-Match: "
            '"<revision>" from GET /api/v1/instances/...): it is how a concurrent change is '
            "noticed instead of overwritten",
            location=Location(path="If-Match"),
        )
    checked = checked_values_text(text, source=view.values_path)
    edit = _ValuesEdit(view, seen_revision=if_match, restore=checked.text.encode())
    _answer_if_stale(repository(), edit)  # as for update_values
    _, edit.template = published_template(sessions, view.template)
    edit.checked(plain_overrides(checked.values))
    return _commit_values(
        sessions,
        view,
        edit,
        subject=lambda edit: f"{view.id}: values: {edit.summary()}",
        action="values.update",
        audit={"as_text": True},
        actor=actor,
        workspace=workspace,
        message=message,
        approved_by=approved_by,
        repository=repository(),
    )


def values_at(git: GitRepository, view: InstanceView, revision: object) -> bytes:
    """``view``'s values.yaml at ``revision``, a commit of the branch ``git`` holds (what a
    rollback restores); raises ``NotFoundError`` at ``revision`` when it is no such commit or
    the instance had no values.yaml there."""
    if not isinstance(revision, str) or not git.contains(revision):
        raise NotFoundError(
            f"revision {str(revision)[:40]!r} is not a commit of branch {git.remote.branch} of "
            f"repository {view.repository!r}",
            location=Location(path="revision"),
        )
    restored = git.read_file(view.values_path, revision)
    if restored is None:
        raise NotFoundError(
            f"{view.values_path} did not exist at revision {revision[:12]}: nothing to restore",
            location=Location(path="revision"),
        )
    return restored


def rollback(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    revision: str,
    *,
    actor: Principal,
    workspace: GitWorkspace,
    message: str | None = None,
    if_match: str | None = None,
    approved_by: tuple[str, ...] = (),
) -> ValuesChange:
    """A new commit restoring values.yaml as it was at ``revision`` (a commit of the branch);
    history stays. The restored values must still fit the chart the instance runs now
    (``InvalidValuesError`` otherwise). ``if_match``, when given, is checked as for an
    update. Raises ``NotFoundError`` (no such revision on the branch, or the instance had no
    values.yaml there), like ``update_values`` otherwise."""
    instance = parse_instance_id(instance_id)
    view = load_instance(sessions, instance, actor=actor, permission="instance.rollback")
    require_direct(sessions, instance.environment, approved_by, "rolling back")
    _, template = published_template(sessions, view.template)
    repository = open_for(sessions, view, workspace)
    with outside_errors(view.repository):
        gitops_repositories.refresh(sessions, repository, wait=lock_wait(workspace))
    restored = values_at(repository.reader(), view, revision)
    return _commit_values(
        sessions,
        view,
        _ValuesEdit(view, seen_revision=if_match, restore=restored, template=template),
        subject=lambda edit: f"{view.id}: values: roll back to {revision[:12]} ({edit.summary()})",
        action="instance.rollback",
        audit={"to": revision},
        actor=actor,
        workspace=workspace,
        message=message,
        approved_by=approved_by,
    )
