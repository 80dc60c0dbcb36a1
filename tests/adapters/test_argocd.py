"""The Argo CD client against the swagger-checking stand-in (RELIABILITY rows 28, 30, 41)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from helmforge.adapters.argocd import ArgoCdClient, ArgoCdServer
from helmforge.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
)
from helmforge.core.instances.application import ApplicationSpec, application_manifest
from helmforge.core.instances.layout import InstanceId
from tests.support.argocd import ArgoCdStandIn

TOKEN = "canary-argocd-token-9d1e-DO-NOT-LEAK"
NAME = "shop-acme-prod-eu-1"
COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def argocd(shared_data: Path) -> Iterator[ArgoCdStandIn]:
    stand_in = ArgoCdStandIn(
        shared_data / "argocd" / "swagger.json", tokens={TOKEN: {NAME}, "other-token": {"x"}}
    )
    spec = ApplicationSpec(
        instance=InstanceId("shop", "acme", "prod", "eu-1"),
        chart="shop",
        chart_version="1.4.0",
        registry_location="registry.example.com/charts",
        repository_url="https://git.example.com/gitops.git",
        branch="main",
    )
    stand_in.add_application(application_manifest(spec))
    with stand_in.running():
        yield stand_in
    assert stand_in.violations == []


def _client(argocd: ArgoCdStandIn, token: str = TOKEN, **kwargs: object) -> ArgoCdClient:
    return ArgoCdClient(ArgoCdServer(argocd.url, token), **kwargs)  # type: ignore[arg-type]


def test_get_and_sync_the_exact_pushed_revisions(argocd: ArgoCdStandIn) -> None:
    with _client(argocd) as client:
        state = client.get_application(NAME, refresh=True)
        assert (state.sync_status, state.health_status) == ("OutOfSync", "Missing")
        state = client.sync(NAME, revisions=["1.4.0", COMMIT], source_positions=[1, 2])
        assert state.operation_phase == "Running"
        assert state.operation_revisions == ("1.4.0", COMMIT)
        argocd.finish_operation(NAME)
        state = client.get_application(NAME)
    assert (state.sync_status, state.health_status) == ("Synced", "Healthy")
    assert state.synced_revisions == ("1.4.0", COMMIT)
    method, path, body = argocd.requests[1]
    assert (method, path) == ("POST", f"/api/v1/applications/{NAME}/sync")
    assert body == {"name": NAME, "revisions": ["1.4.0", COMMIT], "sourcePositions": ["1", "2"]}


def test_health_is_read_with_its_message_and_when_it_was_found(argocd: ArgoCdStandIn) -> None:
    argocd.outcomes[NAME] = {"health": "Degraded", "resource_message": "progress deadline"}
    with _client(argocd) as client:
        client.sync(NAME, revisions=["1.4.0", COMMIT], source_positions=[1, 2])
        argocd.tick()
        done = client.get_application(NAME)
        argocd.tick()
        settled = client.get_application(NAME)
    assert (done.health_status, done.health_message) == ("Progressing", None)
    assert done.operation_finished_at == datetime(2026, 12, 2, 6, 1, tzinfo=UTC)
    assert done.reconciled_at == done.operation_finished_at
    assert settled.health_status == "Degraded"
    # The Deployment's message (the Service is Healthy: not named).
    assert settled.health_message == "Deployment web: progress deadline"
    assert settled.reconciled_at == datetime(2026, 12, 2, 6, 2, tzinfo=UTC)
    argocd.applications[NAME]["status"]["health"]["message"] = "the Application's own"
    argocd.applications[NAME]["status"]["reconciledAt"] = "not a time"
    with _client(argocd) as client:
        own = client.get_application(NAME)
    assert (own.health_message, own.reconciled_at) == ("the Application's own", None)


def test_a_busy_application_is_retried_without_sleeping(argocd: ArgoCdStandIn) -> None:
    argocd.start_foreign_operation(NAME)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        argocd.finish_operation(NAME)  # the other operation ends while we wait

    with _client(argocd, wait=wait) as client:
        state = client.sync(NAME, revisions=["1.4.0", COMMIT], source_positions=[1, 2])
    assert waits == [0.5]
    assert state.operation_revisions == ("1.4.0", COMMIT)


def test_busy_past_the_retries_is_unavailable(argocd: ArgoCdStandIn) -> None:
    argocd.start_foreign_operation(NAME)
    waits: list[float] = []
    with (
        _client(argocd, wait=waits.append, busy_retries=2) as client,
        pytest.raises(UnavailableError, match="another operation is already in progress"),
    ):
        client.sync(NAME, revisions=["1.4.0", COMMIT], source_positions=[1, 2])
    assert waits == [0.5, 1.0]


def test_a_wrong_token_is_401_and_never_shown(
    argocd: ArgoCdStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        _client(argocd, token=TOKEN + "-old") as client,
        pytest.raises(AuthenticationError, match="refused the token") as caught,
    ):
        client.get_application(NAME)
    assert TOKEN not in str(caught.value) + caplog.text
    assert TOKEN not in repr(ArgoCdServer(argocd.url, TOKEN))


def test_forbidden_and_missing_applications(argocd: ArgoCdStandIn) -> None:
    with (
        _client(argocd, token="other-token") as client,
        pytest.raises(PermissionDeniedError, match="permission denied"),
    ):
        client.sync(NAME, revisions=["1.4.0"], source_positions=[1])
    argocd.tokens[TOKEN].add("ghost")
    with _client(argocd) as client, pytest.raises(NotFoundError, match='"ghost" not found'):
        client.get_application("ghost")


def test_the_stand_in_refuses_what_argocd_would_not_read(argocd: ArgoCdStandIn) -> None:
    answer = httpx.post(
        f"{argocd.url}/api/v1/applications/{NAME}/sync",
        json={"revisions": ["1"], "sourcePositions": [1], "revison": "typo"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400
    assert "is not of type 'string'" in argocd.violations[0]
    assert "unknown field 'revison'" in argocd.violations[0]
    argocd.violations.clear()


def test_a_peer_that_never_answers_meets_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections in the kernel, never reads or answers
        server = ArgoCdServer(
            f"http://127.0.0.1:{silent.getsockname()[1]}", TOKEN, deadline_seconds=0.2
        )
        with (
            ArgoCdClient(server) as client,
            pytest.raises(ExternalServiceError, match=r"within the deadline of 0\.2 s"),
        ):
            client.get_application(NAME)
