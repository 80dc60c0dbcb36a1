"""Two helmforge servers on one database (each with its own Git cache, as two replicas have)
editing instances of one GitOps repository at once: every accepted edit is exactly one
commit, none is lost, and editors of the same instance get 409 instead of overwriting each
other (RELIABILITY 25, 26; DESIGN §7: one writer per repository across processes)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from helmforge.adapters.secrets import new_key
from helmforge.core.access.principals import SYSTEM
from helmforge.core.yaml_codec import load_single
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.support.apps import make_app
from tests.support.instances import GitLab, git_lab, instance_body
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.support.servers import serve

pytestmark = [pytest.mark.registry, pytest.mark.slow]

ROUNDS = 5
OWN = ("a1", "a2", "a3", "a4")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


def _segments(name: str) -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": "dev", "instance": name}


def test_two_servers_editing_one_repository_lose_no_update(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    with ExitStack() as stack:
        urls, token = [], ""
        key = new_key().decode()  # replicas share HELMFORGE_SECRET_KEY
        for number in (1, 2):
            app, _ = make_app(database_url, tmp_path / f"data-{number}", secret_key=key)
            if number == 1:
                sessions = state_of(app).sessions
                token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
            stack.callback(state_of(app).engine.dispose)
            urls.append(stack.enter_context(serve(app)))
        headers = {"Authorization": f"Bearer {token}"}
        clients = [
            stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=120))
            for url in urls
        ]
        first = clients[0]
        assert first.post("/api/v1/gitops/repositories", json={
            "name": "gitops", "url": lab.url(), "path": "clusters/eu",
            "username": lab.server.username, "password": lab.server.password,
        }).status_code == 201  # fmt: skip
        assert first.post("/api/v1/registries", json={
            "name": "lab", "url": f"oci://{basic_registry.authority}/{unique_path()}",
            "username": ROBOT, "password": CANARY_PASSWORD, "plain_http": True,
        }).status_code == 201  # fmt: skip
        for name in (*OWN, "shared"):
            created = first.post("/api/v1/instances", json=instance_body(_segments(name)))
            assert created.status_code == 201, created.text
        commits = lab.commits()
        accepted: dict[str, list[tuple[int, str]]] = {name: [] for name in (*OWN, "shared")}
        conflicts: list[int] = []
        failures: list[str] = []
        lock = threading.Lock()

        def edit(client: httpx.Client, name: str, values: list[int]) -> None:
            url = f"/api/v1/instances/shop/acme/dev/{name}"
            for value in values:
                shown = client.get(url)
                if shown.status_code != 200:
                    with lock:
                        failures.append(f"GET {name}: {shown.status_code} {shown.text}")
                    return
                revision = shown.headers["ETag"]
                answer = client.put(
                    url + "/values",
                    json={"values": {"replicaCount": value}},
                    headers={"If-Match": revision},
                )
                with lock:
                    if answer.status_code == 200 and answer.json()["committed"]:
                        accepted[name].append((value, answer.json()["revision"]))
                    elif answer.status_code == 409:
                        conflicts.append(value)
                    else:
                        failures.append(f"{name}={value}: {answer.status_code} {answer.text}")

        threads = [
            threading.Thread(
                target=edit,
                args=(clients[index % 2], name, [10 * (index + 1) + r for r in range(ROUNDS)]),
            )
            for index, name in enumerate(OWN)
        ]
        threads += [
            threading.Thread(
                target=edit,
                args=(clients[side], "shared", [100 * (side + 1) + r for r in range(ROUNDS)]),
            )
            for side in (0, 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert failures == []
        for index, name in enumerate(OWN):
            assert [value for value, _ in accepted[name]] == [
                10 * (index + 1) + r for r in range(ROUNDS)
            ]
        shared = accepted["shared"]
        assert len(shared) + len(conflicts) == 2 * ROUNDS
        assert shared
        total = sum(len(edits) for edits in accepted.values())
        assert lab.commits() == commits + total  # one commit per accepted edit, no more
        for name, edits in accepted.items():
            history = clients[1].get(f"/api/v1/instances/shop/acme/dev/{name}/history").json()
            revisions = [item["revision"] for item in history["items"]]
            by_revision = {revision: value for value, revision in edits}
            assert set(revisions[: len(edits)]) == set(by_revision)  # each accepted edit is in Git
            assert len(revisions) == len(edits) + 1  # and nothing else but the creation
            path = f"clusters/eu/shop/acme/dev/{name}/values.yaml"
            final = load_single(lab.show(path), source=path).data
            assert final == {"replicaCount": by_revision[revisions[0]]}  # the newest one stands
