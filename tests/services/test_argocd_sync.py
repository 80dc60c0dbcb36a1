"""services.argocd_sync against the swagger-checking Argo CD stand-in, on SQLite and PostgreSQL
(RELIABILITY 28, 30): manual syncs name the exact revisions, auto-syncs refresh and wait,
busy Applications are waited for within bounds, and 401/403 are explained without the token.
Time is the test's clock: every wait advances it and ticks the stand-in's controller."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.secrets import new_key
from helmforge.adapters.storage.instances_tables import InstanceRow
from helmforge.core.access.principals import SYSTEM, Principal
from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from helmforge.core.instances.application import ApplicationSpec, application_manifest
from helmforge.core.instances.layout import InstanceId
from helmforge.core.secrets import Secret
from helmforge.services import accounts, argocd_servers, argocd_sync, gitops_repositories
from helmforge.services.argocd_servers import ArgoCdOptions
from helmforge.services.gitops_repositories import GitWorkspace
from helmforge.services.instance_git import load_instance
from tests.support.argocd import ArgoCdStandIn

TOKEN = "canary-argocd-sync-token-c0ffee-DO-NOT-LEAK"
COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
OLD_COMMIT = "1111111111111111111111111111111111111111"
PROD = InstanceId("shop", "acme", "prod", "eu-1")
DEV = InstanceId("shop", "acme", "dev", "eu-1")
DEADLINE = 60.0
POLL = 2.0


@dataclass
class Clock:
    """The sync's clock: ``wait`` moves time on and lets Argo CD's controller take a step."""

    stand_in: ArgoCdStandIn
    now: float = 1000.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        self.stand_in.tick()


@dataclass
class Lab:
    sessions: sessionmaker[Session]
    engine: Engine
    argocd: ArgoCdStandIn
    clock: Clock
    workspace: GitWorkspace
    key: bytes


def _spec(instance: InstanceId, *, automated: bool) -> ApplicationSpec:
    return ApplicationSpec(
        instance=instance,
        chart=instance.default_namespace(),
        chart_version="1.4.0",
        registry_location="registry.example.com/charts",
        repository_url="https://git.example.com/gitops.git",
        branch="main",
        automated=automated,
    )


def _instance_row(instance: InstanceId, *, argocd: str | None = "cluster") -> InstanceRow:
    now = datetime.now(UTC)
    name = instance.default_namespace()
    return InstanceRow(
        product=instance.product, customer=instance.customer, environment=instance.environment,
        instance=instance.instance, app_name=name, namespace=name, state="ready",
        template_name="web-service", template_version="1.2.0", app_version="3.4.0",
        registry_name="lab", repository="gitops", argocd=argocd, chart_name=name,
        chart_version="1.4.0", revision=COMMIT, created_at=now, created_by="admin",
        updated_at=now, updated_by="admin",
    )  # fmt: skip


@pytest.fixture
def lab(
    engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> Iterator[Lab]:
    stand_in = ArgoCdStandIn(shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}})
    for instance in (PROD, DEV):
        stand_in.add_application(
            application_manifest(_spec(instance, automated=instance.environment == "dev"))
        )
    stand_in.heads[DEV.default_namespace()] = COMMIT
    clock = Clock(stand_in)
    key = new_key()
    options = ArgoCdOptions(
        deadline=DEADLINE, poll_interval=POLL, clock=clock, wait=clock.wait, read_deadline=5
    )
    workspace = GitWorkspace(key=key, cache_root=tmp_path / "git", argocd=options)
    gitops_repositories.add_repository(
        sessions, name="gitops", url="https://git.example.com/gitops.git", key=key, actor=SYSTEM
    )
    with stand_in.running():
        argocd_servers.add_server(
            sessions, name="cluster", url=stand_in.url, token=Secret(TOKEN), key=key, actor=SYSTEM
        )
        with sessions.begin() as session:
            session.add_all([_instance_row(PROD), _instance_row(DEV)])
        yield Lab(sessions, engine, stand_in, clock, workspace, key)
    assert stand_in.violations == []


def _sync(lab: Lab, instance: InstanceId, actor: Principal = SYSTEM) -> argocd_sync.SyncResult:
    return argocd_sync.sync_instance(
        lab.sessions, str(instance), actor=actor, workspace=lab.workspace
    )


def _audit(lab: Lab) -> str:
    with lab.engine.connect() as connection:
        return repr(connection.execute(sa.text("SELECT * FROM audit_events")).all())


def test_a_manual_sync_names_the_exact_chart_version_and_commit(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    name = PROD.default_namespace()
    with caplog.at_level(logging.DEBUG):
        result = _sync(lab, PROD)
    assert (result.mode, result.revision, result.chart_version) == ("manual", COMMIT, "1.4.0")
    assert (result.phase, result.health, result.status) == ("Succeeded", "Healthy", "Synced")
    assert result.synced_revision == COMMIT
    posts = [(path, body) for method, path, body in lab.argocd.requests if method == "POST"]
    assert posts == [
        (
            f"/api/v1/applications/{name}/sync",
            {"name": name, "revisions": ["1.4.0", COMMIT], "sourcePositions": ["1", "2"]},
        )
    ]
    # Running -> Succeeded (Progressing) -> Healthy: two polls on the test's clock.
    assert lab.clock.waits == [POLL, POLL]
    audit = _audit(lab)
    assert "instance.sync" in audit
    assert COMMIT in audit
    assert TOKEN not in audit + caplog.text + repr(result)


def test_an_auto_sync_refreshes_and_waits_for_the_pushed_revision(lab: Lab) -> None:
    name = DEV.default_namespace()
    # Argo CD shows an older rollout as done: that is not the pushed revision.
    status = lab.argocd.applications[name]["status"]
    status["sync"] = {"status": "Synced", "revisions": ["1.4.0", OLD_COMMIT]}
    status["health"] = {"status": "Healthy"}
    status["operationState"] = {
        "phase": "Succeeded",
        "operation": {"sync": {"revisions": ["1.4.0", OLD_COMMIT]}},
        "startedAt": "2026-12-02T05:00:00Z",
    }
    result = _sync(lab, DEV)
    assert (result.mode, result.synced_revision, result.phase, result.health) == (
        "auto",
        COMMIT,
        "Succeeded",
        "Healthy",
    )
    methods = [(method, path) for method, path, _ in lab.argocd.requests]
    assert ("GET", f"/api/v1/applications/{name}") in methods
    assert all(method == "GET" for method, _ in methods)  # Argo CD syncs by itself
    # refresh -> operation started -> Succeeded (Progressing) -> Healthy
    assert lab.clock.waits == [POLL, POLL, POLL]


def test_another_operation_is_waited_for_then_the_sync_is_retried(lab: Lab) -> None:
    name = PROD.default_namespace()
    lab.argocd.start_foreign_operation(name, ticks=2)
    result = _sync(lab, PROD)
    assert result.busy_retries == 1
    assert result.synced_revision == COMMIT
    posts = [body for method, _, body in lab.argocd.requests if method == "POST"]
    assert [body["revisions"] for body in posts] == [["1.4.0", COMMIT]] * 2


def test_an_operation_that_never_ends_is_a_bounded_conflict(lab: Lab) -> None:
    lab.argocd.start_foreign_operation(PROD.default_namespace())
    start = lab.clock.now
    with pytest.raises(ConflictError, match="stayed busy with another operation") as caught:
        _sync(lab, PROD)
    assert "deadline of 60 s" in str(caught.value)
    assert lab.clock.now - start == pytest.approx(DEADLINE)
    assert len(lab.clock.waits) == DEADLINE / POLL
    assert "instance.sync" not in _audit(lab)


def test_operations_that_keep_coming_are_retried_a_bounded_number_of_times(lab: Lab) -> None:
    """Each time the other operation has ended, yet another starts just before our retry: the
    sync gives up after MAX_BUSY_RETRIES waits, well within the deadline; one rival fewer and
    it gets through."""
    name = PROD.default_namespace()
    lab.argocd.rivals[name] = argocd_sync.MAX_BUSY_RETRIES + 1
    with pytest.raises(ConflictError, match="through 5 wait") as caught:
        _sync(lab, PROD)
    assert "nothing was synced" in str(caught.value)
    posts = [m for m, _, _ in lab.argocd.requests if m == "POST"]
    assert len(posts) == argocd_sync.MAX_BUSY_RETRIES + 1
    assert lab.clock.now - 1000.0 < DEADLINE
    lab.argocd.tick()  # the last rival's operation ends
    lab.argocd.rivals[name] = argocd_sync.MAX_BUSY_RETRIES
    assert _sync(lab, PROD).busy_retries == argocd_sync.MAX_BUSY_RETRIES


def test_a_failed_rollout_and_one_that_never_gets_healthy_say_what_argocd_reports(
    lab: Lab,
) -> None:
    name = PROD.default_namespace()
    lab.argocd.outcomes[name] = {"phase": "Failed", "message": "Deployment/web: image missing"}
    with pytest.raises(ExternalServiceError, match="ended Failed: Deployment/web: image missing"):
        _sync(lab, PROD)
    lab.argocd.outcomes[name] = {"health": "Progressing"}
    start = lab.clock.now
    with pytest.raises(ExternalServiceError, match="within the deadline of 60 s") as caught:
        _sync(lab, PROD)
    assert "health Progressing" in str(caught.value)
    assert "Synced at 1.4.0, 4b825dc642cb" in str(caught.value)
    assert lab.clock.now - start == pytest.approx(DEADLINE)  # Progressing: on its way


@pytest.mark.parametrize("where", ["health_message", "resource_message"])
def test_a_sync_done_at_the_pushed_revision_but_degraded_fails_at_once_saying_why(
    lab: Lab, where: str
) -> None:
    """Argo CD counts Degraded as failed (a Deployment past its progressDeadlineSeconds): once
    our operation Succeeded at the pushed revisions and health says Degraded, the sync fails
    then, with Argo CD's message (the Application's, else its Degraded objects'), rather than
    waiting out the deadline."""
    name = PROD.default_namespace()
    message = 'Deployment "web" exceeded its progress deadline'
    lab.argocd.outcomes[name] = {"health": "Degraded", where: message}
    with pytest.raises(ExternalServiceError) as caught:
        _sync(lab, PROD)
    text = str(caught.value)
    assert f"application {name}" in text
    assert f"chart 1.4.0 and commit {COMMIT[:12]}" in text
    assert "Succeeded" in text
    assert "Degraded" in text
    shown = message if where == "health_message" else f"Deployment web: {message}"
    assert shown in text
    assert "within the deadline" not in text
    # Running -> Succeeded (Progressing) -> Degraded: no poll after that.
    assert lab.clock.waits == [POLL, POLL]
    assert "instance.sync" not in _audit(lab)


def test_an_auto_synced_instance_degraded_at_the_pushed_revision_fails_at_once(lab: Lab) -> None:
    name = DEV.default_namespace()
    lab.argocd.outcomes[name] = {"health": "Degraded"}
    with pytest.raises(ExternalServiceError, match="reports it Degraded") as caught:
        _sync(lab, DEV)
    assert "no health message" in str(caught.value)
    # refresh -> operation started -> Succeeded (Progressing) -> Degraded
    assert lab.clock.waits == [POLL, POLL, POLL]


def test_degraded_health_from_before_our_operation_ended_is_no_verdict(lab: Lab) -> None:
    """Argo CD reports health as of its last reconciliation (``reconciledAt``): a Degraded
    from one before our operation ended is waited past, until a reconciliation after it."""
    name = PROD.default_namespace()
    lab.argocd.outcomes[name] = {"stale_health": "Degraded"}
    result = _sync(lab, PROD)
    assert (result.synced_revision, result.phase, result.health) == (
        COMMIT,
        "Succeeded",
        "Healthy",
    )
    # Running -> Succeeded (Degraded, reconciled before it ended) -> Healthy, reconciled after.
    assert lab.clock.waits == [POLL, POLL]


def test_a_degraded_application_before_our_sync_is_waited_past(lab: Lab) -> None:
    """Degraded at other revisions (what ran before) is no verdict on ours."""
    name = PROD.default_namespace()
    status = lab.argocd.applications[name]["status"]
    status["sync"] = {"status": "Synced", "revisions": ["1.3.0", OLD_COMMIT]}
    status["health"] = {"status": "Degraded", "message": "the old pods crash"}
    status["operationState"] = {
        "phase": "Succeeded",
        "operation": {"sync": {"revisions": ["1.3.0", OLD_COMMIT]}},
        "startedAt": "2026-12-02T05:00:00Z",
        "finishedAt": "2026-12-02T05:01:00Z",
    }
    result = _sync(lab, PROD)
    assert (result.synced_revision, result.phase, result.health) == (
        COMMIT,
        "Succeeded",
        "Healthy",
    )


def test_an_auto_sync_application_without_the_automated_policy_is_named(lab: Lab) -> None:
    del lab.argocd.applications[DEV.default_namespace()]["spec"]["syncPolicy"]["automated"]
    with pytest.raises(ExternalServiceError, match="within the deadline") as caught:
        _sync(lab, DEV)
    assert "carries syncPolicy.automated" in str(caught.value)
    assert "operation none" in str(caught.value)


def test_a_rejected_token_is_the_argocd_servers_problem_and_never_shown(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab.argocd.tokens = {"another-token": {"*"}}
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(ExternalServiceError, match=r"'cluster' .* refused its token") as caught,
    ):
        _sync(lab, PROD)
    assert TOKEN not in str(caught.value) + caplog.text


def test_a_403_says_whether_rbac_a_missing_application_or_a_sync_window(lab: Lab) -> None:
    name = PROD.default_namespace()
    lab.argocd.blocked.add(name)
    with pytest.raises(ConflictError, match="a sync window of project 'default'") as window:
        _sync(lab, PROD)
    assert "deny 0 22 * * * for 8h" in str(window.value)
    lab.argocd.blocked.clear()
    del lab.argocd.applications[name]
    with pytest.raises(NotFoundError, match=f"has no application {name}") as missing:
        _sync(lab, PROD)
    assert "clusters" not in str(missing.value)  # the repository's path: none configured
    assert f"{PROD}/application.yaml" in str(missing.value)
    lab.argocd.tokens[TOKEN] = {"something-else"}
    with pytest.raises(ExternalServiceError, match="RBAC does not let") as rbac:
        _sync(lab, PROD)
    assert "applications, sync, default/*" in str(rbac.value)
    for caught in (window, missing, rbac):
        assert TOKEN not in str(caught.value)


def test_who_may_sync_and_what_cannot_be_synced(lab: Lab) -> None:
    accounts.create_user(
        lab.sessions, "ann", role="approver", password="a long enough password", actor=SYSTEM
    )
    accounts.create_user(
        lab.sessions, "tom", role="template-user", password="a long enough password", actor=SYSTEM
    )
    with pytest.raises(PermissionDeniedError):  # may read the instance, not sync it
        _sync(lab, PROD, Principal(name="ann", role="approver", kind="user", id=2))
    with pytest.raises(NotFoundError):  # may not even read it
        _sync(lab, PROD, Principal(name="tom", role="template-user", kind="user", id=3))
    with lab.sessions.begin() as session:
        session.add(_instance_row(InstanceId("shop", "acme", "uat", "eu-1"), argocd=None))
    with pytest.raises(InputError, match="has no Argo CD server"):
        _sync(lab, InstanceId("shop", "acme", "uat", "eu-1"))
    assert [m for m, _, _ in lab.argocd.requests] == []


def test_the_status_read_never_fails(lab: Lab) -> None:
    view = load_instance(lab.sessions, PROD, actor=SYSTEM, permission="instance.read")
    status = argocd_sync.read_status(lab.sessions, view, workspace=lab.workspace)
    assert status == argocd_sync.SyncStatus(status="OutOfSync", health="Missing", revision=None)
    _sync(lab, PROD)
    status = argocd_sync.read_status(lab.sessions, view, workspace=lab.workspace)
    assert status == argocd_sync.SyncStatus(status="Synced", health="Healthy", revision=COMMIT)
    lab.argocd.tokens = {}
    status = argocd_sync.read_status(lab.sessions, view, workspace=lab.workspace)
    assert status is not None
    assert status.error is not None
    assert "refused its token" in status.error
    assert TOKEN not in status.error


def test_with_an_applicationset_the_sync_waits_for_the_generated_application(lab: Lab) -> None:
    name = PROD.default_namespace()
    manifest = lab.argocd.applications.pop(name)
    del manifest["status"]
    lab.argocd.generate_later(manifest, ticks=2)
    generated = GitWorkspace(
        key=lab.key,
        cache_root=lab.workspace.cache_root,
        argocd=dataclasses.replace(lab.workspace.argocd, generated_applications=True),
    )
    result = argocd_sync.sync_instance(lab.sessions, str(PROD), actor=SYSTEM, workspace=generated)
    assert (result.synced_revision, result.health) == (COMMIT, "Healthy")
    # two polls for the Application to appear, then Running -> Progressing -> Healthy
    assert lab.clock.waits == [POLL] * 4
    del lab.argocd.applications[name]
    with pytest.raises(NotFoundError, match="did not generate application") as caught:
        argocd_sync.sync_instance(lab.sessions, str(PROD), actor=SYSTEM, workspace=generated)
    assert "helmforge argocd applicationset" in str(caught.value)
    assert lab.clock.waits[4:] == [POLL] * int(DEADLINE / POLL)
