"""RELIABILITY rows 25-29 for instances, over the API against a real ``git http-backend``
(server hooks run) and Debian's docker-registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helmforge.core.yaml_codec import load_single
from helmforge.server.app import state_of
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.git_servers import HangingHook, git, install_hook
from tests.support.instances import (
    GIT_CANARY,
    GIT_USER,
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    path_of,
    url_of,
)
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

VALUES = f"clusters/eu/{path_of()}/values.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def ready(api: Api, lab: GitLab, basic_registry: RegistryServer) -> Api:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    return api


def create(api: Api) -> str:
    response = api.client.post("/api/v1/instances", json=instance_body())
    assert response.status_code == 201, response.text
    return str(response.json()["revision"])


def put_values(api: Api, values: dict[str, Any], revision: str) -> Any:
    return api.client.put(
        url_of() + "/values", json={"values": values}, headers={"If-Match": f'"{revision}"'}
    )


def _other_writer(lab: GitLab, tmp_path: Path, text: str) -> None:
    """Someone else's commit of values.yaml, waiting on branch ``staging``; a pre-receive
    hook moves main to it while our push is received (once), so our push loses the race
    at the server and is retried on that head."""
    other = tmp_path / "other"
    git("clone", "-q", lab.url().replace("http://", f"http://{GIT_USER}:{GIT_CANARY}@"), str(other))
    (other / VALUES).write_text(text, encoding="utf-8")
    git("-C", str(other), "commit", "-qam", "outside writer")
    git("-C", str(other), "push", "-q", "origin", "HEAD:refs/heads/staging")
    marker = tmp_path / "moved"
    install_hook(
        lab.remote,
        "pre-receive",
        f"[ -e '{marker}' ] && exit 0\ntouch '{marker}'\n"
        "env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES"
        " git update-ref refs/heads/main refs/heads/staging\n",
    )


def test_an_outside_push_during_ours_is_kept_and_our_edit_reapplied(
    ready: Api, lab: GitLab, tmp_path: Path
) -> None:
    """Row 25: a non-fast-forward is fetched, the structured edit re-applied, pushed; the
    outside writer's change to another value of the same file is not lost."""
    revision = create(ready)
    seen = lab.show(VALUES)
    _other_writer(lab, tmp_path, seen + "greeting: from outside\n")
    commits = lab.commits()
    updated = put_values(ready, {"replicaCount": 9}, revision)
    assert updated.status_code == 200, updated.text
    values = load_single(lab.show(VALUES), source="values.yaml").data
    assert values == {"replicaCount": 9, "greeting": "from outside"}
    assert lab.commits() == commits + 2  # theirs and ours, nothing twice
    assert updated.json()["revision"] == lab.head()


def test_an_outside_push_of_the_same_value_during_ours_is_409_with_the_diff(
    ready: Api, lab: GitLab, tmp_path: Path
) -> None:
    revision = create(ready)
    seen = lab.show(VALUES)
    _other_writer(lab, tmp_path, seen.replace("replicaCount: 2", "replicaCount: 5"))
    refused = put_values(ready, {"replicaCount": 9}, revision)
    assert refused.status_code == 409, refused.text
    assert "-replicaCount: 2\n+replicaCount: 5\n" in refused.json()["diff"]
    assert refused.json()["current_revision"] == lab.head()
    assert "replicaCount: 5" in lab.show(VALUES)


def test_a_declining_hook_fails_the_change_and_nothing_is_half_saved(
    ready: Api, lab: GitLab
) -> None:
    """Row 27, for an update and for a creation."""
    revision = create(ready)
    install_hook(lab.remote, "pre-receive", "echo 'policy: frozen until Monday' >&2\nexit 1\n")
    commits = lab.commits()
    refused = put_values(ready, {"replicaCount": 3}, revision)
    assert refused.status_code == 502, refused.text
    assert "frozen until Monday" in refused.json()["message"]
    assert lab.commits() == commits
    shown = ready.client.get(url_of()).json()
    assert (shown["revision"], shown["values"]) == (revision, {"replicaCount": 2})
    other = {"product": "shop", "customer": "acme", "environment": "dev", "instance": "eu-2"}
    created = ready.client.post("/api/v1/instances", json=instance_body(other))
    assert created.status_code == 502, created.text
    assert lab.commits() == commits
    assert ready.client.get(url_of(other)).status_code == 404
    assert [i["id"] for i in ready.client.get("/api/v1/instances").json()["items"]] == [path_of()]
    # Once the hook lets it through, the same creation works (its chart publishes unchanged).
    (lab.remote / "hooks" / "pre-receive").unlink()
    again = ready.client.post("/api/v1/instances", json=instance_body(other))
    assert again.status_code == 201, again.text


def test_a_hanging_remote_times_out_and_the_retry_makes_one_commit(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    """Row 29: the push meets its deadline; retrying the same edit gives one commit."""
    app, password = make_app(database_url, tmp_path / "data", git_deadline=1.0)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        revision = create(api)
        commits = lab.commits()
        hook = HangingHook(lab.remote)
        try:
            hung = put_values(api, {"replicaCount": 3}, revision)
        finally:
            hook.release()
        assert hung.status_code == 502, hung.text
        assert "deadline of 1 s" in hung.json()["message"]
        assert lab.commits() == commits
        (lab.remote / "hooks" / "pre-receive").unlink()
        retried = put_values(api, {"replicaCount": 3}, revision)
        assert retried.status_code == 200, retried.text
        assert retried.json()["committed"] is True
        again = put_values(api, {"replicaCount": 3}, revision)
        assert again.status_code == 200, again.text
        assert again.json()["committed"] is False
        assert lab.commits() == commits + 1


def test_the_git_credential_never_leaves_helmforge(
    ready: Api, lab: GitLab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 28: the repository password is the canary: not in answers, errors, the audit
    log, log lines, the database in clear, the caches or Git."""
    answers: list[str] = []
    with caplog.at_level(logging.DEBUG):
        revision = create(ready)
        answers.append(ready.client.get(url_of()).text)
        updated = put_values(ready, {"replicaCount": 4}, revision)
        answers.append(updated.text)
        revision = updated.json()["revision"]
        answers.append(ready.client.get(url_of() + "/history").text)
        answers.append(ready.client.get("/api/v1/gitops/repositories").text)
        answers.append(ready.client.get("/api/v1/gitops/repositories/gitops").text)
        answers.append(ready.client.get("/api/v1/audit", params={"limit": 500}).text)
        install_hook(lab.remote, "pre-receive", f"echo 'echoing {GIT_CANARY}' >&2\nexit 1\n")
        answers.append(put_values(ready, {"replicaCount": 5}, revision).text)
        (lab.remote / "hooks" / "pre-receive").unlink()
        wrong = {**_repository_body(lab), "name": "wrong", "password": GIT_CANARY + "-wrong"}
        answers.append(ready.client.post("/api/v1/gitops/repositories", json=wrong).text)
        broken = dict(wrong, name="broken", password=GIT_CANARY[:-1])
        answers.append(ready.client.post("/api/v1/gitops/repositories", json=broken).text)
        other = {"product": "shop", "customer": "acme", "environment": "dev", "instance": "x"}
        answers.append(
            ready.client.post(
                "/api/v1/instances", json=instance_body(other, repository="broken")
            ).text
        )
        duplicate = ready.client.post("/api/v1/gitops/repositories", json=_repository_body(lab))
        answers.append(duplicate.text)
    assert "echoing ***" in answers[6]
    assert "refused the credentials" in answers[-2]
    assert all(GIT_CANARY[:-1] not in answer for answer in answers)
    assert GIT_CANARY[:-1] not in caplog.text
    assert GIT_CANARY[:-1] not in lab.log()
    with state_of(ready.app).engine.connect() as connection:
        rows = {
            table: [
                list(map(str, row)) for row in connection.execute(sa.text(f"SELECT * FROM {table}"))
            ]
            for table in ("gitops_repositories", "instances", "audit_events", "change_requests")
        }
    assert GIT_CANARY[:-1] not in json.dumps(rows)
    for file in (tmp_path / "data").rglob("*"):
        if file.is_file():
            assert GIT_CANARY[:-1].encode() not in file.read_bytes(), file


def _repository_body(lab: GitLab) -> dict[str, Any]:
    return {
        "name": "gitops",
        "url": lab.url(),
        "branch": "main",
        "path": "clusters/eu",
        "username": GIT_USER,
        "password": GIT_CANARY,
    }


def test_a_creation_whose_record_was_lost_after_its_push_is_adopted_without_a_commit(
    ready: Api, lab: GitLab
) -> None:
    """Row 48: the push landed but the server died before its row was written; the next
    attempt finds its own files in Git and records them instead of committing again."""
    revision = create(ready)
    with state_of(ready.app).engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM instances"))
    commits = lab.commits()
    again = ready.client.post("/api/v1/instances", json=instance_body())
    assert again.status_code == 201, again.text
    assert again.json()["revision"] == revision
    assert lab.commits() == commits
    other_values = ready.client.post(
        "/api/v1/instances", json=instance_body(values={"replicaCount": 3})
    )
    assert other_values.status_code == 409  # it exists now


def test_a_read_while_the_remote_hangs_answers_from_the_cache(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    """Row 41: a remote that accepts and never answers does not hold reads: GET answers what
    the cache has (``fetched: false`` and why), history too."""
    app, password = make_app(database_url, tmp_path / "data", git_deadline=1.0)
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        revision = create(api)
        with lab.server.hanging():
            shown = api.client.get(url_of())
            assert shown.status_code == 200, shown.text
            body = shown.json()
            assert (body["fetched"], body["revision"], body["values"]) == (
                False,
                revision,
                {"replicaCount": 2},
            )
            assert "deadline of 1 s" in body["fetch_error"]
            history = api.client.get(url_of() + "/history")
            assert history.status_code == 200, history.text
            assert [item["revision"] for item in history.json()["items"]] == [revision]
            changed = put_values(api, {"replicaCount": 3}, revision)
            assert changed.status_code == 502, changed.text
