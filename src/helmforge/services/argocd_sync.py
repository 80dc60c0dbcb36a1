"""Syncing instances with Argo CD (DESIGN §6, RELIABILITY 30): roll out exactly what was pushed.

``sync_target`` names what a sync of an instance must roll out: its Application, its Argo CD
server, the chart version (source 1) and the commit (source 2, the values) helmforge last
pushed. ``sync_instance`` (``instance.sync``, in the instance's context) then:

- in a *manual-sync* environment asks Argo CD to sync the Application to exactly those two
  revisions (``revisions`` with 1-based ``sourcePositions``), so a sync never rolls out a commit
  nobody reviewed;
- in an *auto-sync* environment (``HELMFORGE_AUTO_SYNC_ENVIRONMENTS``, default ``dev``, whose
  Applications carry ``syncPolicy.automated``) asks Argo CD to refresh, and Argo CD syncs
  itself;

and in both waits until the Application reports that revision synced, the operation
``Succeeded`` and health ``Healthy``. Once our operation has Succeeded at that revision, health
``Degraded`` fails the sync at once with Argo CD's health message (Argo CD counts Degraded as
failed: a Deployment past its ``progressDeadlineSeconds``); ``Progressing`` is waited for.
An auto-synced Application may report a later commit of the branch (another instance's
change): it counts when the instance's two files are the same there, as the Git cache tells.

"Another operation is already in progress": the sync waits for that operation to end and
tries again, a bounded number of times. Everything is bounded by the sync's deadline
(``HELMFORGE_ARGOCD_DEADLINE``), measured and waited with the workspace's clock, which tests
inject. Argo CD refusing helmforge's token (401) is the Argo CD server's problem, not the
caller's login; a 403 is explained as what it is — a sync window, the token's RBAC, or an
Application that does not exist (Argo CD answers 403 for those too). The token is never in an
answer, error, log line or audit event.

``read_status`` is the instance page's view of Argo CD (sync, health, revision); it never
fails: an Argo CD that cannot answer is reported in its ``error``. ``read_statuses`` is the
list's: one ``GET /api/v1/applications`` per Argo CD server and batch of at most
``STATUS_BATCH`` instances, selecting exactly their Applications by the label
``helmforge.io/application`` (their name, which every application.yaml helmforge writes
carries); a server that cannot answer is the ``error`` of each of its rows, never a failure.
"""

from __future__ import annotations

__all__ = [
    "SyncResult",
    "SyncStatus",
    "SyncTarget",
    "read_status",
    "read_statuses",
    "sync_instance",
    "sync_target",
]

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.argocd import ApplicationState, ArgoCdClient
from helmforge.core.access.principals import Principal
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    InputError,
    Location,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from helmforge.core.instances.application import APPLICATION_LABEL, application_selector
from helmforge.core.instances.layout import InstanceId
from helmforge.services import argocd_servers, audit, gitops_repositories
from helmforge.services.argocd_servers import ArgoCdOptions, ServerView
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_git import load_instance, parse_instance_id, refresh_cache
from helmforge.services.instance_records import InstanceView

_log = logging.getLogger(__name__)
#: How often a sync that meets another operation waits for it and tries again.
MAX_BUSY_RETRIES = 5
#: At most this many Applications are named in one list request's label selector (an URL of
#: some 3.5 kB with names of 63 characters).
STATUS_BATCH = 50
_DONE_PHASES = ("Failed", "Error")


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """What an Argo CD sync of the instance names: the Application, its server, and the exact
    sources — chart version (source 1) and commit (source 2, the values)."""

    instance: str
    app_name: str
    argocd: str | None
    chart: str
    chart_version: str
    revision: str | None
    repository: str
    values_path: str
    application_path: str


@dataclass(frozen=True, slots=True)
class SyncResult:
    """A finished sync: the Application ``app_name`` on ``server`` runs chart
    ``chart_version`` with the values of ``revision``; ``mode`` is ``manual`` (helmforge asked
    for those revisions) or ``auto`` (Argo CD synced by itself after a refresh); ``phase``,
    ``health`` and ``status`` as Argo CD reports them last; ``busy_retries`` how often another
    operation was waited for."""

    instance: str
    app_name: str
    server: str
    mode: str
    revision: str
    chart_version: str
    synced_revision: str | None
    phase: str | None
    health: str | None
    status: str | None
    busy_retries: int


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """An instance's Application as Argo CD reports it now (``status``: ``Synced`` or
    ``OutOfSync``, ``health``, the commit it runs), or why that could not be read
    (``error``)."""

    status: str | None = None
    health: str | None = None
    revision: str | None = None
    error: str | None = None


def _target(view: InstanceView) -> SyncTarget:
    return SyncTarget(
        instance=view.id,
        app_name=view.app_name,
        argocd=view.argocd,
        chart=view.chart,
        chart_version=view.chart_version,
        revision=view.revision,
        repository=view.repository,
        values_path=view.values_path,
        application_path=view.application_path,
    )


def sync_target(
    sessions: sessionmaker[Session], instance_id: str | InstanceId, *, actor: Principal
) -> SyncTarget:
    """What an Argo CD sync of the instance names (``instance.sync``): its Application and
    server, the chart version and the commit helmforge last pushed or saw."""
    instance = parse_instance_id(instance_id)
    return _target(load_instance(sessions, instance, actor=actor, permission="instance.sync"))


def _where(target: SyncTarget) -> Location:
    return Location(f"argocd:{target.argocd}", path=f"applications/{target.app_name}")


def sync_instance(
    sessions: sessionmaker[Session],
    instance_id: str | InstanceId,
    *,
    actor: Principal,
    workspace: GitWorkspace,
) -> SyncResult:
    """Roll the instance out with Argo CD and wait for it (see the module's docstring).

    Raises ``NotFoundError`` (no such instance, or not readable; no such server; no such
    Application in Argo CD), ``PermissionDeniedError`` (no ``instance.sync`` there),
    ``InputError`` (the instance has no Argo CD server), ``ConflictError`` (nothing pushed
    yet; a sync window blocks syncs; another operation kept running), ``ExternalServiceError``
    (Argo CD refused the token, its RBAC refuses it, the sync failed or did not finish within
    the deadline, or Argo CD could not be reached)."""
    target = sync_target(sessions, instance_id, actor=actor)
    instance = parse_instance_id(target.instance)
    if target.argocd is None:
        raise InputError(
            f"instance {target.instance} has no Argo CD server to sync it: it was created "
            "without argocd (its application.yaml is in Git for Argo CD to pick up)",
            location=Location(path="argocd"),
        )
    if not target.revision:
        raise ConflictError(
            f"instance {target.instance} has no pushed revision yet; nothing to sync",
            location=Location(path="revision"),
        )
    options = workspace.argocd
    server_view, server = argocd_servers.open_server(
        sessions, target.argocd, key=workspace.key, deadline=options.request_deadline()
    )
    auto = instance.environment in options.auto_sync_environments
    wanted = (target.chart_version, target.revision)
    same_files = _same_files(sessions, target, workspace)
    run = _Run(
        options, target, wanted, same_files, give_up=options.clock() + options.deadline, auto=auto
    )
    with ArgoCdClient(server, clock=options.clock, wait=options.wait, busy_retries=0) as client:
        try:
            if options.generated_applications:
                run.wait_for_application(client, server_view.project)
            if auto:
                state = client.get_application(target.app_name, refresh=True)
            else:
                state = run.sync_when_free(client)
            state = run.wait_for_rollout(client, state)
        except AuthenticationError:
            raise ExternalServiceError(
                f"Argo CD server {server_view.name!r} ({server_view.url}) refused its token "
                "(expired, revoked or for another server): configure the server again with a "
                "new token (`argocd account generate-token`)",
                location=_where(target),
            ) from None
        except PermissionDeniedError as error:
            raise _denied(client, server_view, target, error, syncing=not auto) from None
        except NotFoundError:
            raise _missing(server_view, target, generated=options.generated_applications) from None
    result = SyncResult(
        instance=target.instance,
        app_name=target.app_name,
        server=server_view.name,
        mode="auto" if auto else "manual",
        revision=target.revision,
        chart_version=target.chart_version,
        synced_revision=_commit_of(state),
        phase=state.operation_phase,
        health=state.health_status,
        status=state.sync_status,
        busy_retries=run.busy_retries,
    )
    with sessions.begin() as session:
        audit.record(
            session,
            actor,
            "instance.sync",
            f"instance:{target.instance}",
            after={
                "argocd": server_view.name,
                "application": target.app_name,
                "mode": result.mode,
                "chart_version": target.chart_version,
                "revision": target.revision,
                "synced_revision": result.synced_revision,
                "phase": result.phase,
                "health": result.health,
            },
        )
    return result


def _commit_of(state: ApplicationState) -> str | None:
    """The commit of the values source (source 2) the Application reports synced."""
    revisions = state.synced_revisions
    return revisions[1] if len(revisions) > 1 else None


def _same_files(
    sessions: sessionmaker[Session], target: SyncTarget, workspace: GitWorkspace
) -> Callable[[str], bool]:
    """Whether a commit holds the instance's two files exactly as ``target.revision`` does,
    read from the Git cache; a commit the cache lacks is fetched for once per sync (someone
    else pushed it), and still lacking it does not count."""
    fetched: list[bool] = []

    def same(commit: str) -> bool:
        try:
            repository = gitops_repositories.open_repository(
                sessions, target.repository, workspace=workspace
            )
            git = repository.reader()
            if not git.contains(commit) and not fetched:
                fetched.append(True)
                refresh_cache(sessions, repository, workspace)
                git = repository.reader()
            if not (git.contains(commit) and target.revision and git.contains(target.revision)):
                return False
            return all(
                git.read_file(path, commit) == git.read_file(path, target.revision)
                for path in (target.values_path, target.application_path)
            )
        except HelmforgeError:
            return False

    return same


class _Run:
    """One sync's bounded waiting: the deadline, the busy retries, the polls."""

    def __init__(
        self,
        options: ArgoCdOptions,
        target: SyncTarget,
        wanted: tuple[str, str],
        same_files: Callable[[str], bool],
        *,
        give_up: float,
        auto: bool = False,
    ) -> None:
        self.auto = auto
        self.options = options
        self.target = target
        self.wanted = wanted
        self.same_files = same_files
        self.give_up = give_up
        self.busy_retries = 0

    def _pause(self) -> bool:
        """Wait one poll interval within the deadline; False when the deadline has passed."""
        left = self.give_up - self.options.clock()
        if left <= 0:
            return False
        self.options.wait(min(self.options.poll_interval, left))
        return True

    def wait_for_application(self, client: ArgoCdClient, project: str) -> None:
        """Poll until Argo CD has the Application (an ApplicationSet generates it from the
        pushed application.yaml); ``NotFoundError`` once the deadline passes. A 403 for an
        Application the token may see means it does not exist yet (Argo CD's answer)."""
        name = self.target.app_name
        while True:
            try:
                client.get_application(name)
                return
            except NotFoundError:
                pass
            except PermissionDeniedError:
                if not client.can_i("get", project, name):
                    raise
            if not self._pause():
                raise NotFoundError(f"application {name} was not generated in time")

    def sync_when_free(self, client: ArgoCdClient) -> ApplicationState:
        """``POST .../sync`` with the exact revisions; while another operation runs, wait for
        it to end and try again (at most ``MAX_BUSY_RETRIES`` times, within the deadline)."""
        name = self.target.app_name
        while True:
            try:
                return client.sync(name, revisions=list(self.wanted), source_positions=[1, 2])
            except UnavailableError as busy:
                if self.busy_retries >= MAX_BUSY_RETRIES:
                    raise self._still_busy(busy.message) from None
                self.busy_retries += 1
                _log.info("Argo CD application %s is busy; waiting for its operation", name)
                self._wait_for_other_operation(client, busy.message)

    def _wait_for_other_operation(self, client: ArgoCdClient, message: str) -> None:
        name = self.target.app_name
        while True:
            if not self._pause():
                raise self._still_busy(message)
            if client.get_application(name).operation_phase != "Running":
                return

    def _still_busy(self, message: str) -> ConflictError:
        return ConflictError(
            f"Argo CD application {self.target.app_name} stayed busy with another operation "
            f"({message}) through {self.busy_retries} wait(s) within the deadline of "
            f"{self.options.deadline:g} s (HELMFORGE_ARGOCD_DEADLINE); nothing was synced: try "
            "again when that operation has ended, or terminate it in Argo CD",
            location=_where(self.target),
        )

    def _rolled_out(self, state: ApplicationState) -> bool:
        revisions = state.synced_revisions
        if len(revisions) != 2 or revisions[0] != self.wanted[0]:
            return False
        return revisions[1] == self.wanted[1] or self.same_files(revisions[1])

    def _ours(self, state: ApplicationState) -> bool:
        return tuple(state.operation_revisions) == self.wanted or (
            len(state.operation_revisions) == 2
            and state.operation_revisions[0] == self.wanted[0]
            and self.same_files(state.operation_revisions[1])
        )

    def _degraded(self, state: ApplicationState) -> bool:
        """Whether our operation Succeeded at the wanted revisions and health is Degraded:
        Argo CD's failed state, which waiting does not end (Progressing does). A health found
        by a reconciliation before the operation ended is no verdict on it: waited past."""
        reconciled, finished = state.reconciled_at, state.operation_finished_at
        return (
            state.health_status == "Degraded"
            and state.operation_phase == "Succeeded"
            and self._ours(state)
            and self._rolled_out(state)
            and (reconciled is None or finished is None or reconciled >= finished)
        )

    def wait_for_rollout(self, client: ArgoCdClient, state: ApplicationState) -> ApplicationState:
        """Poll until the Application reports the wanted revisions synced, the operation
        ``Succeeded`` and health ``Healthy``; a failed operation of ours, our operation done
        with health ``Degraded``, or the deadline, is ``ExternalServiceError`` saying what
        Argo CD reported last."""
        name = self.target.app_name
        while True:
            if (
                self._rolled_out(state)
                and state.operation_phase == "Succeeded"
                and state.health_status == "Healthy"
            ):
                return state
            if state.operation_phase in _DONE_PHASES and self._ours(state):
                raise ExternalServiceError(
                    f"Argo CD's sync of {name} to chart {self.wanted[0]} and commit "
                    f"{self.wanted[1][:12]} ended {state.operation_phase}: "
                    f"{state.operation_message or 'no message'}",
                    location=_where(self.target),
                )
            if self._degraded(state):
                raise ExternalServiceError(
                    f"Argo CD synced application {name} to chart {self.wanted[0]} and commit "
                    f"{self.wanted[1][:12]} (operation Succeeded) but reports it Degraded: "
                    f"{state.health_message or 'no health message'}; Argo CD counts Degraded "
                    "as failed (such as a Deployment past its progressDeadlineSeconds): see "
                    "the Application's objects in Argo CD, fix the instance and sync again",
                    location=_where(self.target),
                )
            if not self._pause():
                raise ExternalServiceError(
                    f"Argo CD did not report {name} synced to chart {self.wanted[0]} and commit "
                    f"{self.wanted[1][:12]}, Succeeded and Healthy within the deadline of "
                    f"{self.options.deadline:g} s (HELMFORGE_ARGOCD_DEADLINE); it reports "
                    f"{_seen(state)}"
                    + (
                        " (an auto-sync environment: Argo CD syncs by itself only when the "
                        "Application it has carries syncPolicy.automated)"
                        if self.auto and state.operation_phase is None
                        else ""
                    ),
                    location=_where(self.target),
                )
            state = client.get_application(name)


def _seen(state: ApplicationState) -> str:
    revisions = ", ".join(r[:12] for r in state.synced_revisions) or "none"
    return (
        f"sync {state.sync_status or 'unknown'} at {revisions}, operation "
        f"{state.operation_phase or 'none'}, health {state.health_status or 'unknown'}"
    )


def _missing(server: ServerView, target: SyncTarget, *, generated: bool = False) -> NotFoundError:
    if generated:
        return NotFoundError(
            f"Argo CD server {server.name!r} did not generate application {target.app_name} "
            f"from {target.application_path} within the sync's deadline: is the repository's "
            "ApplicationSet applied in Argo CD (`helmforge argocd applicationset`), and does "
            "its controller read the repository?",
            location=_where(target),
        )
    return NotFoundError(
        f"Argo CD server {server.name!r} has no application {target.app_name} in project "
        f"{server.project!r} (Argo CD answers 403 for an application that does not exist, "
        f"when the token could see it): create it from {target.application_path} in the "
        "GitOps repository (kubectl apply -f, an app-of-apps, or the repository's "
        "ApplicationSet: `helmforge argocd applicationset`)",
        location=_where(target),
    )


def _denied(
    client: ArgoCdClient,
    server: ServerView,
    target: SyncTarget,
    error: PermissionDeniedError,
    *,
    syncing: bool,
) -> HelmforgeError:
    """A 403 from Argo CD explained: a sync window, the token's RBAC, or a missing app."""
    name = target.app_name
    if "sync window" in error.message:
        try:
            active = ", ".join(client.sync_windows(name).active) or "a deny window"
        except HelmforgeError:
            active = "a deny window"
        return ConflictError(
            f"Argo CD refuses to sync {name} now: a sync window of project {server.project!r} "
            f"blocks it ({active}); nothing was synced: try again when the window ends, or "
            "ask an Argo CD admin to allow manual syncs in it",
            location=_where(target),
        )
    action = "sync" if syncing else "get"
    try:
        allowed: bool | None = client.can_i(action, server.project, name)
    except HelmforgeError:
        allowed = None
    if allowed:
        return _missing(server, target)
    return ExternalServiceError(
        f"Argo CD's RBAC does not let the token of server {server.name!r} {action} "
        f"applications/{server.project}/{name}"
        + ("" if allowed is False else f" ({error.message})")
        + f": grant its account 'p, <role>, applications, {action}, {server.project}/*, allow' "
        "(and get), or configure the server with another token",
        location=_where(target),
    )


def read_status(
    sessions: sessionmaker[Session], view: InstanceView, *, workspace: GitWorkspace
) -> SyncStatus | None:
    """The instance's Application as its Argo CD server reports it now (``None`` without a
    server). Never raises: what went wrong is the answer's ``error`` (no token in it). The
    caller has checked that the actor may read the instance."""
    if view.argocd is None:
        return None
    target = _target(view)
    options = workspace.argocd
    try:
        server_view, server = argocd_servers.open_server(
            sessions, view.argocd, key=workspace.key, deadline=options.read_deadline
        )
        with ArgoCdClient(server, clock=options.clock, busy_retries=0) as client:
            try:
                state = client.get_application(view.app_name)
            except AuthenticationError:
                raise ExternalServiceError(
                    f"Argo CD server {server_view.name!r} refused its token", location=None
                ) from None
            except PermissionDeniedError as error:
                raise _denied(client, server_view, target, error, syncing=False) from None
            except NotFoundError:
                raise _missing(server_view, target) from None
    except HelmforgeError as error:
        return SyncStatus(error=error.message)
    return SyncStatus(
        status=state.sync_status, health=state.health_status, revision=_commit_of(state)
    )


def read_statuses(
    sessions: sessionmaker[Session], views: Sequence[InstanceView], *, workspace: GitWorkspace
) -> dict[str, SyncStatus | None]:
    """The sync status of each of ``views`` by instance id (``None`` without an Argo CD
    server), read with one list request per Argo CD server and ``STATUS_BATCH`` instances.
    Never raises: a server that cannot answer, or an Application it does not list (missing,
    hidden by the token's RBAC, or written before helmforge labelled Applications with
    their name), is that row's ``error``. The caller has checked that the actor may read
    every one of ``views``."""
    statuses: dict[str, SyncStatus | None] = {view.id: None for view in views}
    by_server: dict[str, list[InstanceView]] = {}
    for view in views:
        if view.argocd is not None:
            by_server.setdefault(view.argocd, []).append(view)
    options = workspace.argocd
    for name, members in by_server.items():
        try:
            server_view, server = argocd_servers.open_server(
                sessions, name, key=workspace.key, deadline=options.read_deadline
            )
        except HelmforgeError as error:
            statuses.update({view.id: SyncStatus(error=error.message) for view in members})
            continue
        with ArgoCdClient(server, clock=options.clock, busy_retries=0) as client:
            for start in range(0, len(members), STATUS_BATCH):
                batch = members[start : start + STATUS_BATCH]
                statuses.update(_listed_statuses(client, server_view, batch))
    return statuses


def _listed_statuses(
    client: ArgoCdClient, server: ServerView, batch: Sequence[InstanceView]
) -> dict[str, SyncStatus]:
    try:
        listed = {
            state.name: state
            for state in client.list_applications(
                application_selector(view.app_name for view in batch)
            )
        }
    except AuthenticationError:
        why = f"Argo CD server {server.name!r} refused its token"
        return {view.id: SyncStatus(error=why) for view in batch}
    except HelmforgeError as error:
        why = f"Argo CD server {server.name!r}: {error.message}"
        return {view.id: SyncStatus(error=why) for view in batch}
    answer = {}
    for view in batch:
        state = listed.get(view.app_name)
        answer[view.id] = (
            SyncStatus(
                status=state.sync_status, health=state.health_status, revision=_commit_of(state)
            )
            if state is not None
            else SyncStatus(
                error=f"Argo CD server {server.name!r} lists no application {view.app_name} "
                f"labelled {APPLICATION_LABEL}: it does not exist there, the token may not "
                "read it, or its application.yaml predates that label (an upgrade or "
                "promotion rewrites it)"
            )
        )
    return answer
