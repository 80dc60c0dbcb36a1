"""Group commit (DESIGN §6): edits of one repository that arrive while a push is under way wait,
and the next writer commits them all, one commit each in arrival order, and pushes once. A
stale edit in the group gets its own 409 and the others land; a push the remote declines fails
exactly the group's edits and saves none of them (RELIABILITY 26, 27), on SQLite and
PostgreSQL, over HTTP against a real ``git http-backend`` whose hook holds the first push."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.server.app import state_of
from helmforge.services import gitops_repositories, instance_git
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.held_pushes import HeldPush as _HeldPush
from tests.support.held_pushes import commit_log as _log
from tests.support.held_pushes import until as _until
from tests.support.instances import (
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    url_of,
)
from tests.support.registry import RegistryServer
from tests.support.servers import UPPER_BOUND, serve

pytestmark = [pytest.mark.registry]


def _segments(name: str) -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": "dev", "instance": name}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The server with threads enough for every edit of a test to be in flight at once: an
    edit waiting for its group holds an outbound thread (HELMFORGE_THREADS)."""
    app, password = make_app(database_url, tmp_path / "data", threads=8)
    yield from serve_app(app, password)


class _Editors:
    """PUTs from threads, each on its own connection, answered in ``answers`` by label."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers
        self.answers: dict[str, httpx.Response] = {}
        self.threads: list[threading.Thread] = []

    def put(
        self,
        label: str,
        name: str,
        values: dict[str, Any],
        revision: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        def run() -> None:
            with httpx.Client(
                base_url=self.base, headers=headers or self.headers, timeout=UPPER_BOUND
            ) as client:
                self.answers[label] = client.put(
                    url_of(_segments(name)) + "/values",
                    json={"values": values, "message": f"edit {label}"},
                    headers={"If-Match": f'"{revision}"'},
                )

        self._start(run)

    def get(self, label: str, name: str) -> None:
        def run() -> None:
            with httpx.Client(base_url=self.base, headers=self.headers, timeout=UPPER_BOUND) as c:
                self.answers[label] = c.get(url_of(_segments(name)))

        self._start(run)

    def _start(self, run: Any) -> None:
        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(UPPER_BOUND)
            assert not thread.is_alive(), "an edit did not finish"


def _setup(api: Api, lab: GitLab, registry: RegistryServer) -> dict[str, str]:
    add_repository(api.client, lab)
    add_registry(api.client, registry)
    revisions = {}
    for name in ("a", "b", "c"):
        created = api.client.post("/api/v1/instances", json=instance_body(_segments(name)))
        assert created.status_code == 201, created.text
        revisions[name] = created.json()["revision"]
    return revisions


def _queue_of(api: Api) -> gitops_repositories.OpenRepository:
    workspace = state_of(api.app).git_workspace
    return gitops_repositories.open_repository(api.sessions, "gitops", workspace=workspace)


def _queue_edits(api: Api, editors: _Editors, hold: _HeldPush, edits: list[Any]) -> None:
    """The first edit's push is held in the hook; each further edit (or read: a label and an
    instance) is queued in turn (so their arrival order is the list's), then the hook lets
    the first push through."""
    repository = _queue_of(api)
    first, *rest = edits
    editors.put(*first[:4], **first[4])
    hold.wait_held()
    for number, edit in enumerate(rest, start=1):
        if len(edit) == 2:
            editors.get(*edit)
        else:
            editors.put(*edit[:4], **edit[4])
        queued = lambda n=number: gitops_repositories.queued(repository) == n  # noqa: E731
        _until(queued, f"edit {edit[0]} queued")
    hold.release()
    editors.join()


def test_edits_queued_behind_a_push_are_committed_in_order_and_pushed_once(
    api: Api, lab: GitLab, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    revisions = _setup(api, lab, basic_registry)
    bob = api.as_user("bob", role="admin")
    start, received = lab.head(), len(lab.server.received)
    hold = _HeldPush(lab, tmp_path, "exit 0")
    with serve(api.app) as base:
        editors = _Editors(base, {"Authorization": f"Bearer {api.token}"})
        _queue_edits(api, editors, hold, [
            ("first", "a", {"replicaCount": 3}, revisions["a"], {}),
            ("b1", "b", {"replicaCount": 4}, revisions["b"], {"headers": bob}),
            ("a-stale", "a", {"replicaCount": 5}, revisions["a"], {}),  # "first" changed a
            ("read-c", "c"),  # a read waits for the group and sees what it pushed
            ("c1", "c", {"replicaCount": 6}, revisions["c"], {}),
            ("b-stale", "b", {"replicaCount": 7}, revisions["b"], {}),  # b1 changed b
        ])  # fmt: skip
    answers = editors.answers
    assert {label: answer.status_code for label, answer in answers.items()} == {
        "first": 200, "b1": 200, "a-stale": 409, "read-c": 200, "c1": 200, "b-stale": 409,
    }  # fmt: skip
    read = answers["read-c"]
    assert read.json()["fetched"] is True
    assert read.headers["ETag"] == f'"{answers["c1"].json()["revision"]}"'
    assert read.json()["values"] == {"replicaCount": 6}
    log = _log(lab, start)
    # One commit per accepted edit, in arrival order, each with its author and message.
    assert [(author, body) for _, author, body in log] == [
        ("admin", "edit first"), ("bob", "edit b1"), ("admin", "edit c1"),
    ]  # fmt: skip
    assert [commit for commit, _, _ in log] == [
        answers[label].json()["revision"] for label in ("first", "b1", "c1")
    ]
    # Two pushes: the held one, and the group of everything queued behind it.
    assert len(lab.server.received) == received + 2
    assert lab.server.received[-1].old == answers["first"].json()["revision"]
    assert lab.server.received[-1].new == answers["c1"].json()["revision"]
    # Each stale edit names the revision of its instance now, with the diff from what it saw.
    assert answers["a-stale"].json()["current_revision"] == answers["first"].json()["revision"]
    assert answers["b-stale"].json()["current_revision"] == answers["b1"].json()["revision"]
    assert "+replicaCount: 4" in answers["b-stale"].json()["diff"]
    for name, value in (("a", 3), ("b", 4), ("c", 6)):
        shown = api.client.get(url_of(_segments(name))).json()
        assert shown["values"] == {"replicaCount": value}


def test_a_declined_group_push_fails_exactly_the_groups_edits(
    api: Api, lab: GitLab, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    revisions = _setup(api, lab, basic_registry)
    start = lab.head()
    hold = _HeldPush(lab, tmp_path, "echo 'policy: frozen until Monday' >&2\nexit 1")
    with serve(api.app) as base:
        editors = _Editors(base, {"Authorization": f"Bearer {api.token}"})
        _queue_edits(api, editors, hold, [
            ("first", "a", {"replicaCount": 3}, revisions["a"], {}),
            ("b1", "b", {"replicaCount": 4}, revisions["b"], {}),
            ("a-stale", "a", {"replicaCount": 5}, revisions["a"], {}),  # "first" landed
            ("c1", "c", {"replicaCount": 6}, revisions["c"], {}),
            ("b-again", "b", {"replicaCount": 7}, revisions["b"], {}),  # stale only by b1
        ])  # fmt: skip
    answers = editors.answers
    assert {label: answer.status_code for label, answer in answers.items()} == {
        "first": 200, "b1": 502, "a-stale": 409, "c1": 502, "b-again": 502,
    }  # fmt: skip
    for label in ("b1", "c1", "b-again"):
        assert "frozen until Monday" in answers[label].json()["message"]
    first = answers["first"].json()["revision"]
    assert [commit for commit, _, _ in _log(lab, start)] == [first]
    assert answers["a-stale"].json()["current_revision"] == first
    # Nothing of the declined group is saved: not in Git, not as the instances' revisions or
    # values, not in their history.
    for name, value in (("a", 3), ("b", 2), ("c", 2)):
        shown = api.client.get(url_of(_segments(name))).json()
        assert shown["values"] == {"replicaCount": value}
        expected = first if name == "a" else revisions[name]
        assert shown["revision"] == expected
        history = api.client.get(url_of(_segments(name)) + "/history").json()["items"]
        assert len(history) == (2 if name == "a" else 1)


def test_a_read_behind_a_held_push_answers_from_the_cache(
    api: Api,
    lab: GitLab,
    basic_registry: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RELIABILITY 41 with group commit: a read never waits out another edit's push; past
    its wait it answers what the cache has, and says why it did not fetch."""
    monkeypatch.setattr(instance_git, "READ_WAIT", 0.2)
    revisions = _setup(api, lab, basic_registry)
    hold = _HeldPush(lab, tmp_path, "exit 0")
    with serve(api.app) as base:
        editors = _Editors(base, {"Authorization": f"Bearer {api.token}"})
        editors.put("first", "a", {"replicaCount": 3}, revisions["a"])
        hold.wait_held()
        try:
            shown = api.client.get(url_of(_segments("b")))
        finally:
            hold.release()
        editors.join()
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["fetched"], body["revision"], body["values"]) == (
        False,
        revisions["b"],
        {"replicaCount": 2},
    )
    assert "waited over 0.2 s" in body["fetch_error"]
    assert editors.answers["first"].status_code == 200
    assert gitops_repositories.queued(_queue_of(api)) == 0  # the read left the queue


def test_an_edit_stale_on_the_cached_head_is_answered_while_a_push_holds_the_repository(
    api: Api, lab: GitLab, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    # The cache's head already shows "a" changed since the revision the editor names: the
    # 409 needs no turn in the repository's group, so it comes while another push is held.
    revisions = _setup(api, lab, basic_registry)
    first = api.client.put(
        url_of(_segments("a")) + "/values",
        json={"values": {"replicaCount": 3}},
        headers={"If-Match": f'"{revisions["a"]}"'},
    )
    assert first.status_code == 200, first.text
    start = lab.head()
    hold = _HeldPush(lab, tmp_path, "exit 0")
    with serve(api.app) as base:
        editors = _Editors(base, {"Authorization": f"Bearer {api.token}"})
        editors.put("b1", "b", {"replicaCount": 4}, revisions["b"])
        hold.wait_held()
        # Values the schema refuses: a stale edit is answered 409 whatever its values.
        stale = api.client.put(
            url_of(_segments("a")) + "/values",
            json={"values": {"replicaCount": 2, "logLevel": "loud"}},
            headers={"If-Match": f'"{revisions["a"]}"'},
        )
        assert "b1" not in editors.answers  # the push is still held
        assert gitops_repositories.queued(_queue_of(api)) == 0
        hold.release()
        editors.join()
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_revision"] == first.json()["revision"]
    assert "+replicaCount: 3" in stale.json()["diff"]
    assert editors.answers["b1"].status_code == 200
    assert [author for _, author, _ in _log(lab, start)] == ["admin"]
