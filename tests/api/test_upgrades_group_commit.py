"""Upgrades and creations in the group commit (DESIGN §6): those of instances of one
repository started at once are one commit each, in fewer pushes than changes, none lost, each
instance's history and files right, on SQLite and PostgreSQL, over HTTP against a real ``git
http-backend`` whose hook holds the first push while the others queue behind it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helmforge.server.app import state_of
from helmforge.services import gitops_repositories, instance_git
from tests.api.conftest import Api, serve_app
from tests.api.test_fleet_impact import publish
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.held_pushes import HeldPush, commit_log, until
from tests.support.instances import GitLab, add_registry, add_repository, git_lab, instance_body
from tests.support.instances import url_of as instance_url
from tests.support.registry import RegistryServer
from tests.support.servers import UPPER_BOUND, serve

pytestmark = [pytest.mark.registry]

NAMES = ("a", "b", "c", "d")


def _segments(name: str) -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": "dev", "instance": name}


def url_of(name: str) -> str:
    return instance_url(_segments(name))


def queue_of(api: Api) -> gitops_repositories.OpenRepository:
    workspace = state_of(api.app).git_workspace
    return gitops_repositories.open_repository(api.sessions, "gitops", workspace=workspace)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """Threads enough for every upgrade to be in flight at once (HELMFORGE_THREADS)."""
    app, password = make_app(database_url, tmp_path / "data", threads=8)
    yield from serve_app(app, password)


def _upgrade_at_once(api: Api, base: str, hold: HeldPush) -> dict[str, httpx.Response]:
    """Upgrade every instance, each from its own thread and connection: the first one's
    push is held in the hook until the upgrades of all the others have queued their commits
    behind it."""
    answers: dict[str, httpx.Response] = {}

    def run(name: str) -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {api.token}"}, timeout=UPPER_BOUND
        ) as client:
            answers[name] = client.post(
                url_of(name) + "/upgrade", json={"version": "3.5.0", "message": f"up {name}"}
            )

    threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in NAMES]
    threads[0].start()
    hold.wait_held()
    for thread in threads[1:]:
        thread.start()
    repository = queue_of(api)
    others = len(NAMES) - 1
    until(
        lambda: gitops_repositories.queued(repository, edits_only=True) == others,
        "the other upgrades' commits queued",
    )
    hold.release()
    for thread in threads:
        thread.join(UPPER_BOUND)
        assert not thread.is_alive(), "an upgrade did not finish"
    return answers


def test_upgrades_started_at_once_are_one_commit_each_in_fewer_pushes(
    api: Api,
    lab: GitLab,
    basic_registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The upgrades behind the held push check their values on the cache (a read waits at
    # most READ_WAIT) and build meanwhile.
    monkeypatch.setattr(instance_git, "READ_WAIT", 0.2)
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    for name in NAMES:
        created = api.client.post("/api/v1/instances", json=instance_body(_segments(name)))
        assert created.status_code == 201, created.text
    publish(api, example_text(version="1.3.0"), "1.3.0")
    start, pushes = lab.head(), len(lab.server.received)
    hold = HeldPush(lab, tmp_path, "exit 0")
    with serve(api.app) as base:
        answers = _upgrade_at_once(api, base, hold)
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        NAMES, 200
    ), {name: answer.text for name, answer in answers.items()}
    log = commit_log(lab, start)
    # One commit per upgrade, none lost; the held push, then one for all queued behind it.
    assert sorted(body for _, _, body in log) == [f"up {name}" for name in NAMES]
    assert len(lab.server.received) == pushes + 2
    assert lab.server.received[-1].new == lab.head()
    revisions = {commit for commit, _, _ in log}
    for name in NAMES:
        change = answers[name].json()
        assert change["committed"] is True
        assert change["revision"] in revisions
        shown = api.client.get(url_of(name)).json()
        assert shown["revision"] == change["revision"]
        assert shown["values"] == {"replicaCount": 2}
        assert shown["app_version"] == "3.5.0"
        history = api.client.get(url_of(name) + "/history").json()["items"]
        assert [item["revision"] for item in history][:1] == [change["revision"]]
        assert len(history) == 2  # the creation, the upgrade
        assert f"shop/acme/dev/{name}: upgrade chart" in change["message"]
        assert change["message"].rstrip().endswith(f"up {name}")
        application = lab.show(f"clusters/eu/shop/acme/dev/{name}/application.yaml")
        assert re.search(r"targetRevision: ['\"]?3\.5\.0", application), application


def test_creations_started_at_once_are_one_commit_each_in_fewer_pushes(
    api: Api, lab: GitLab, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    start, pushes = lab.head(), len(lab.server.received)
    hold = HeldPush(lab, tmp_path, "exit 0")
    answers: dict[str, httpx.Response] = {}
    with serve(api.app) as base:

        def run(name: str) -> None:
            headers = {"Authorization": f"Bearer {api.token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=UPPER_BOUND) as client:
                body = instance_body(_segments(name), message=f"new {name}")
                answers[name] = client.post("/api/v1/instances", json=body)

        threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in NAMES]
        threads[0].start()
        hold.wait_held()
        for thread in threads[1:]:
            thread.start()
        repository = queue_of(api)
        until(
            lambda: gitops_repositories.queued(repository, edits_only=True) == len(NAMES) - 1,
            "the other creations' commits queued",
        )
        hold.release()
        for thread in threads:
            thread.join(UPPER_BOUND)
            assert not thread.is_alive(), "a creation did not finish"
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        NAMES, 201
    ), {name: answer.text for name, answer in answers.items()}
    log = commit_log(lab, start)
    assert sorted(body for _, _, body in log) == [f"new {name}" for name in NAMES]
    assert len(lab.server.received) == pushes + 2
    for name in NAMES:
        revision = answers[name].json()["revision"]
        assert revision in {commit for commit, _, _ in log}
        shown = api.client.get(url_of(name)).json()
        assert (shown["revision"], shown["values"]) == (revision, {"replicaCount": 2})
        history = api.client.get(url_of(name) + "/history").json()["items"]
        assert [item["revision"] for item in history] == [revision]
