"""Hostile inputs on instances, GitOps repositories, Argo CD and fleet rollouts (DESIGN §6, §9,
§10), through one real server per backend (SQLite and PostgreSQL) with a ``git http-backend``
repository, Debian's docker-registry, the swagger-checking Argo CD stand-in and a peer posing as
Argo CD that answers what no Argo CD would.

Each test is named after the defect it reproduces (found by trying the product from outside).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts, fleet_rollouts
from tests.api.conftest import Api, TestClient
from tests.api.test_fleet_verification import run_job
from tests.support.apps import make_app
from tests.support.argocd import ArgoCdStandIn
from tests.support.databases import fresh_database_url
from tests.support.git_servers import ed25519_key_pair
from tests.support.instances import (
    DEV,
    GIT_CANARY,
    GIT_USER,
    PROD,
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    url_of,
)
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]

TOKEN = "canary-argocd-hostile-token-DO-NOT-LEAK"
JSON = {"Content-Type": "application/json"}
IMPOSTOR = {**DEV, "instance": "eu-9"}


class _Impostor(BaseHTTPRequestHandler):
    """Answers every request 200 with ``answer`` (what a login page, a proxy or a wrong URL
    would answer in Argo CD's place)."""

    answer: ClassVar[tuple[str, bytes]] = ("application/json", b"{}")

    def do_GET(self) -> None:
        self._reply()

    def do_POST(self) -> None:
        self._reply()

    def _reply(self) -> None:
        content_type, body = type(self).answer
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class World:
    api: Api
    lab: GitLab


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_data: Path,
    basic_registry: RegistryServer,
) -> Iterator[World]:
    """One server (no job worker: tests run jobs themselves; prod changes need one approval)
    with repository ``gitops``,
    registry ``lab``, Argo CD servers ``cluster`` (the stand-in) and ``impostor``, and two dev
    instances: ``eu-1`` on ``cluster``, ``eu-9`` on ``impostor``."""
    directory = tmp_path_factory.mktemp(f"hostile-{request.param}")
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    stand_in = ArgoCdStandIn(shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}})
    try:
        with (
            fresh_database_url(request.param, directory) as url,
            git_lab(directory) as lab,
            stand_in.running(),
        ):
            app, password = make_app(
                url,
                directory / "data",
                argocd_poll_interval=0.05,
                argocd_deadline=1.0,
                jobs_worker=False,
                approvals=ApprovalRules(by_environment={"prod": 1}),
            )
            sessions = state_of(app).sessions
            token = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
            with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
                api = Api(app, client, sessions, token, password)
                add_repository(client, lab)
                add_registry(client, basic_registry)
                servers = {"cluster": stand_in.url}
                servers["impostor"] = f"http://127.0.0.1:{impostor.server_address[1]}"
                for name, address in servers.items():
                    body = {"name": name, "url": address, "token": TOKEN}
                    created = client.post("/api/v1/argocd/servers", json=body)
                    assert created.status_code == 201, created.text
                for segments, server in ((DEV, "cluster"), (IMPOSTOR, "impostor")):
                    body = instance_body(segments, argocd=server)
                    created = client.post("/api/v1/instances", json=body)
                    assert created.status_code == 201, created.text
                yield World(api, lab)
            state_of(app).engine.dispose()
    finally:
        impostor.shutdown()
        impostor.server_close()
    assert stand_in.violations == []


def _revision(world: World, segments: dict[str, str] = DEV) -> str:
    return str(world.api.client.get(url_of(segments)).json()["revision"])


# --- Argo CD answering what Argo CD never would -----------------------------------------------

IMPOSTOR_ANSWERS = {
    "an object of the wrong shape": (
        "application/json",
        b'{"metadata": 5, "status": "nope", "items": 7, "activeWindows": 1}',
        "not an Application",
    ),
    "fields of the wrong types": (
        "application/json",
        b'{"metadata": {"name": 1}, "status": {"sync": [], "health": "x", '
        b'"operationState": {"phase": {}, "operation": 3}}, "operation": "x"}',
        "did not report",
    ),
    "a list": ("application/json", b"[1, 2]", "not an Application"),
    "JSON nested 100,000 deep": (
        "application/json",
        b"[" * 100_000 + b"]" * 100_000,
        "nested 100000 levels deep",
    ),
    "a 5 MiB body": ("application/json", b'{"a": "' + b"x" * (5 << 20) + b'"}', "more than"),
    "an HTML sign-in page echoing the token": (
        "text/html",
        b"<html><body>Sign in again, " + TOKEN.encode() + b"</body></html>",
        "invalid JSON",
    ),
}


@pytest.mark.parametrize("answer", list(IMPOSTOR_ANSWERS))
def test_an_argo_cd_answering_garbage_json_or_a_huge_body_answers_502_or_a_sync_error_not_500(
    world: World, answer: str
) -> None:
    content_type, body, reason = IMPOSTOR_ANSWERS[answer]
    _Impostor.answer = (content_type, body)
    client = world.api.client
    # The views never raise: the sync status says what went wrong.
    shown = client.get(url_of(IMPOSTOR))
    assert shown.status_code == 200, shown.text
    listed = client.get("/api/v1/instances", params={"with_sync": "true"})
    assert listed.status_code == 200, listed.text
    filtered = client.get("/api/v1/instances", params={"health": "Healthy"})
    assert filtered.status_code == 200, filtered.text
    assert [item["id"] for item in filtered.json()["items"]] == []
    commits = world.lab.commits()
    synced = client.post(url_of(IMPOSTOR) + "/sync")
    assert synced.status_code == 502, synced.text
    assert reason in synced.json()["message"]
    assert world.lab.commits() == commits
    for text in (shown.text, listed.text, synced.text):
        assert TOKEN not in text


# --- GitOps repositories that no instance could ever use ------------------------------------

REFUSED_REPOSITORIES = {
    "a branch starting with '-' (an option to Git)": ({"branch": "-x"}, "branch"),
    "branch HEAD": ({"branch": "HEAD"}, "branch"),
    "a branch with a NUL": ({"branch": "main\x00evil"}, "branch"),
    "a '+' branch (a forced refspec)": ({"branch": "+main"}, "branch"),
    "branch '@'": ({"branch": "@"}, "branch"),
    "a branch ending in .lock": ({"branch": "release.lock"}, "branch"),
    "a hidden folder in the branch": ({"branch": "team/.x"}, "branch"),
    "an unclosed IPv6 address": ({"url": "http://[::1/gitops.git"}, "repository URL"),
    "port 99999": ({"url": "http://127.0.0.1:99999/gitops.git"}, "repository URL"),
    "an ssh host that is an option": (
        {"url": "ssh://git@-oProxyCommand=touch%20pwned/gitops.git"},
        "no host or user starting with '-'",
    ),
    "an scp-like host that is an option": (
        {"url": "git@-oProxyCommand=touch:gitops.git"},
        "no host or user starting with '-'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_REPOSITORIES))
def test_a_repository_whose_branch_or_url_no_instance_could_use_is_refused_when_added(
    world: World, case: str
) -> None:
    # Such a repository used to be stored, and every instance created in it then failed (422
    # from the Application's own branch rule, or 502 from the fetch).
    change, named = REFUSED_REPOSITORIES[case]
    client = world.api.client
    before = client.get("/api/v1/gitops/repositories").json()["items"]
    body = {"name": "broken", "url": world.lab.url(), "branch": "main", **change}
    body |= {"username": GIT_USER, "password": GIT_CANARY}
    response = client.post("/api/v1/gitops/repositories", content=json.dumps(body), headers=JSON)
    assert response.status_code == 422, response.text
    assert named in response.json()["message"]
    assert GIT_CANARY not in response.text
    assert client.get("/api/v1/gitops/repositories").json()["items"] == before


def test_branches_git_takes_are_still_accepted(world: World) -> None:
    client = world.api.client
    for number, branch in enumerate(("release/1.2", "feature/x-y_z", "v1.0", "HEADS")):
        body = {"name": f"branches-{number}", "url": world.lab.url(), "branch": branch}
        response = client.post("/api/v1/gitops/repositories", json=body)
        assert response.status_code == 201, response.text
        assert client.delete(f"/api/v1/gitops/repositories/branches-{number}").status_code == 204


_KEY, _HOST_KEY = ed25519_key_pair()
_KEY_BODY = _KEY.splitlines()[2]  # of the private part: the canary
_HOST = f"127.0.0.1 {_HOST_KEY}"
_ENCRYPTED = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"a passphrase"),
    )
    .decode()
)
MALFORMED_SSH = {
    "a truncated key": ({"ssh_private_key": _KEY.partition("\n")[0] + "\n" + _KEY_BODY}, "END"),
    "a key on one line": ({"ssh_private_key": _KEY.replace("\n", "")}, "line of its own"),
    "a body that is not base64": (
        {"ssh_private_key": _KEY.replace(_KEY_BODY, "not*base64")},
        "does not read as a key",
    ),
    "a body cut short": (
        {"ssh_private_key": _KEY.replace(_KEY_BODY + "\n", "")},
        "does not read as a key",
    ),
    "a key with a passphrase": ({"ssh_private_key": _ENCRYPTED}, "passphrase"),
    "an RSA armour around junk": (
        {
            "ssh_private_key": "-----BEGIN RSA PRIVATE KEY-----\nSSHKEYCANARY\n"
            "-----END RSA PRIVATE KEY-----\n"
        },
        "does not read as a key",
    ),
    "a key with a NUL": ({"ssh_private_key": _KEY + "\x00"}, "control character"),
    "known_hosts that do not parse": ({"ssh_known_hosts": "not a known hosts line"}, "line 1"),
    "known_hosts of an unknown key type": (
        {"ssh_known_hosts": _HOST.replace("ssh-ed25519", "ssh-nope")},
        "key type 'ssh-nope'",
    ),
    "known_hosts whose key is of another type": (
        {"ssh_known_hosts": _HOST.replace("ssh-ed25519", "ssh-rsa")},
        "does not read as a ssh-rsa key",
    ),
    "known_hosts with a NUL": ({"ssh_known_hosts": _HOST + "\x00"}, "control character"),
}


@pytest.mark.parametrize("case", list(MALFORMED_SSH))
def test_a_malformed_ssh_key_or_known_hosts_is_refused_when_the_repository_is_added(
    world: World, case: str
) -> None:
    # They were stored (on PostgreSQL a NUL answered "the database refused a value"), and
    # every instance created in the repository failed at its first fetch with 502.
    change, reason = MALFORMED_SSH[case]
    client = world.api.client
    before = client.get("/api/v1/gitops/repositories").json()["items"]
    body = {"name": "over-ssh", "url": "ssh://git@127.0.0.1:2222/gitops.git"}
    body |= {"ssh_private_key": _KEY, "ssh_known_hosts": _HOST, **change}
    response = client.post("/api/v1/gitops/repositories", content=json.dumps(body), headers=JSON)
    assert response.status_code == 422, response.text
    assert reason in response.json()["message"]
    field = next(iter(change))
    assert response.json()["message"].startswith(f"{field}")
    for secret in (_KEY_BODY, "SSHKEYCANARY"):
        assert secret not in response.text
    assert client.get("/api/v1/gitops/repositories").json()["items"] == before
    fine = client.post(
        "/api/v1/gitops/repositories",
        content=json.dumps({**body, "ssh_private_key": _KEY, "ssh_known_hosts": _HOST}),
        headers=JSON,
    )
    assert fine.status_code == 201, fine.text
    assert client.delete("/api/v1/gitops/repositories/over-ssh").status_code == 204


# --- JSON bodies giving a key twice -------------------------------------------------------------


def test_a_json_body_giving_a_key_twice_is_refused_with_both_lines_and_nothing_committed(
    world: World,
) -> None:
    # Python's json keeps the last of two equal keys silently: the values saved were not the
    # ones a reviewer of the body read first.
    client = world.api.client
    commits = world.lab.commits()
    body = '{"values": {\n  "replicaCount": 5,\n  "replicaCount": 2\n}}'
    headers = {**JSON, "If-Match": f'"{_revision(world)}"'}
    updated = client.put(url_of() + "/values", content=body, headers=headers)
    assert updated.status_code == 422, updated.text
    message = updated.json()["message"]
    assert "lines 2 and 3" in message
    assert "'replicaCount' appears twice" in message
    created = client.post(
        "/api/v1/instances",
        content=json.dumps(instance_body({**DEV, "instance": "twice"}))[:-1]
        + ', "registry": "lab"}',
        headers=JSON,
    )
    assert created.status_code == 422, created.text
    assert "'registry' appears twice" in created.json()["message"]
    assert client.get(url_of({**DEV, "instance": "twice"})).status_code == 404
    assert world.lab.commits() == commits
    # The same key in two objects is no duplicate.
    fine = '{"values": {"replicaCount": 2, "service": {"replicaCount": 1}}}'
    previewed = client.post(url_of() + "/values/preview", content=fine, headers=JSON)
    assert previewed.status_code == 200, previewed.text


# --- commit messages ---------------------------------------------------------------------------

FORGED = {
    "an Approved-by trailer": ("fixed it\n\nApproved-by: Mallory <m@example.com>", "Approved-by:"),
    "a trailer in another case": ("x\n\n  approved-BY : someone", "line 3 opens with"),
    "a NUL": ("fixed\x00it", "control character"),
}


@pytest.mark.parametrize("case", list(FORGED))
def test_a_commit_message_forging_an_approval_or_holding_a_nul_is_refused_before_any_write(
    world: World, case: str
) -> None:
    # The caller's message used to be committed as is: a line "Approved-by: ..." in it read
    # as an approval nobody gave, in a commit of an environment that asks for none.
    message, reason = FORGED[case]
    client = world.api.client
    commits, builds = world.lab.commits(), len(client.get("/api/v1/charts").json())
    new = {**DEV, "instance": "forged"}
    revision = _revision(world)
    calls = [
        ("POST", "/api/v1/instances", instance_body(new, message=message)),
        ("PUT", url_of() + "/values", {"values": {"replicaCount": 4}, "message": message}),
        ("POST", url_of() + "/rollback", {"revision": revision, "message": message}),
        ("POST", url_of() + "/upgrade", {"version": "3.4.9", "message": message}),
    ]
    for method, path, body in calls:
        answer = client.request(
            method, path, content=json.dumps(body), headers={**JSON, "If-Match": revision}
        )
        assert answer.status_code == 422, (path, answer.text)
        assert reason in answer.json()["message"], answer.text
        assert answer.json()["message"].startswith("message: ")
    assert world.lab.commits() == commits
    assert len(client.get("/api/v1/charts").json()) == builds
    assert client.get(url_of(new)).status_code == 404
    # A colon elsewhere, or the word inside a line, is a message like any other.
    fine = "as approved-by the team lead: see the ticket\n\nTicket: OPS-1"
    saved = client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 4}, "message": fine},
        headers={"If-Match": revision},
    )
    assert saved.status_code == 200, saved.text
    assert "Ticket: OPS-1" in world.lab.log()


def test_an_edited_change_request_cannot_forge_an_approval_or_commit_other_values_than_shown(
    world: World,
) -> None:
    # PUT /change-requests/{id} checked neither: the message went into the commit as its
    # body, and values_yaml (what approving commits) could mean other values than "values";
    # fields the kind does not know were stored and shown beside the proposal.
    api, lab = world.api, world.lab
    approver = api.as_user("hostile-approver", role="approver")
    operator = api.as_user("hostile-operator", role="operator")
    created = api.client.post("/api/v1/instances", json=instance_body(PROD))
    assert created.status_code == 202, created.text
    request = created.json()["change_request"]
    approved = api.client.post(f"/api/v1/change-requests/{request}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    revision = _revision(world, PROD)
    proposed = api.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 4}},
        headers={**operator, "If-Match": revision},
    )
    assert proposed.status_code == 202, proposed.text
    request = proposed.json()["change_request"]
    payload = proposed.json()["payload"]
    edits = {
        "Approved-by:": {**payload, "message": "ok\n\nApproved-by: Mallory <m@example.com>"},
        "control character": {**payload, "message": "ok\x00"},
        "means other values": {**payload, "values_yaml": "replicaCount: 9\n"},
        "python/object": {**payload, "values_yaml": "a: !!python/object:os.system x\n"},
        "has no field 'approved_by'": {**payload, "approved_by": ["Mallory"]},
        "is not a commit id": {**payload, "revision": "HEAD"},  # it failed only at approval
    }
    for reason, edited in edits.items():
        answer = api.client.put(
            f"/api/v1/change-requests/{request}",
            content=json.dumps({"payload": edited}),
            headers={**operator, **JSON},
        )
        assert answer.status_code == 422, (reason, answer.text)
        assert reason in answer.json()["message"], answer.text
    shown = api.client.get(f"/api/v1/change-requests/{request}", headers=operator).json()
    assert shown["payload"] == payload
    agreeing = {**payload, "values": {"replicaCount": 5}, "values_yaml": "replicaCount: 5\n"}
    edited = api.client.put(
        f"/api/v1/change-requests/{request}",
        content=json.dumps(
            {
                "payload": agreeing,
            }
        ),
        headers={**operator, **JSON},
    )
    assert edited.status_code == 200, edited.text
    commits = lab.commits()
    applied = api.client.post(f"/api/v1/change-requests/{request}/approve", headers=approver)
    assert applied.status_code == 200, applied.text
    assert lab.commits() == commits + 1
    assert "replicaCount: 5" in lab.show("clusters/eu/shop/acme/prod/eu-1/values.yaml")
    assert "Mallory" not in lab.log()


# --- values.yaml text ------------------------------------------------------------------------


def _put_text(world: World, text: str) -> Any:
    headers = {"If-Match": f'"{_revision(world)}"'}
    return world.api.client.put(url_of() + "/values", json={"values_yaml": text}, headers=headers)


def test_a_values_yaml_with_a_byte_order_mark_is_committed_without_it(world: World) -> None:
    # The mark used to be committed as the file's first character: a diff of its first line
    # and a file other YAML tools may misread.
    saved = _put_text(world, "\ufeffreplicaCount: 3\n")
    assert saved.status_code == 200, saved.text
    committed = world.lab.show(
        f"clusters/eu/{url_of().removeprefix('/api/v1/instances/')}/values.yaml"
    )
    assert committed == "replicaCount: 3\n"
    assert world.api.client.get(url_of()).json()["values"] == {"replicaCount": 3}


def test_the_same_values_written_otherwise_are_not_committed_as_no_change(world: World) -> None:
    # Comments added around unchanged values made a commit whose message said "no change".
    assert _put_text(world, "replicaCount: 2\n").status_code == 200
    commits = world.lab.commits()
    saved = _put_text(world, "# two pods\nreplicaCount: 2  # enough for dev\n")
    assert saved.status_code == 200, saved.text
    assert saved.json()["committed"] is True
    assert world.lab.commits() == commits + 1
    assert "values.yaml rewritten, values unchanged" in saved.json()["message"]
    assert "no change" not in saved.json()["message"]


# --- rollouts started or controlled twice at once -------------------------------------------

PLAN = {
    "template": "web-service@1.2.0",
    "waves": [{"name": "dev", "filter": {"environment": "dev"}}],
}


def _at_once(count: int, call: Callable[[], Any]) -> list[Any]:
    """``call`` made from ``count`` threads released together; the answers."""
    barrier = threading.Barrier(count)
    answers: list[Any] = []

    def run() -> None:
        barrier.wait()
        answers.append(call())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _end(world: World, rollout: dict[str, Any]) -> None:
    """Abort ``rollout`` if it is under way and let its job see it, so the template is free
    again."""
    client = world.api.client
    path = f"/api/v1/fleet/rollouts/{rollout['rollout']}"
    if client.get(path).json()["state"] in fleet_rollouts.UNDER_WAY:
        aborted = client.post(f"{path}/abort")
        assert aborted.status_code == 200, aborted.text
    current = client.get(path).json()
    if current["state"] == "running":
        run_job(world.api, current["job"])
    assert client.get(path).json()["state"] not in fleet_rollouts.UNDER_WAY


def test_two_rollouts_of_one_template_started_at_once_are_one_rollout_and_a_409(
    world: World,
) -> None:
    # Each used to be recorded and queued: two jobs upgrading the same instances, each
    # paused or aborted only on its own.
    client = world.api.client
    answers = _at_once(4, lambda: client.post("/api/v1/fleet/rollouts", json=PLAN))
    assert sorted(answer.status_code for answer in answers) == [202, 409, 409, 409]
    started = next(answer.json() for answer in answers if answer.status_code == 202)
    for refused in (answer for answer in answers if answer.status_code == 409):
        message = refused.json()["message"]
        assert f"rollout {started['rollout']} of web-service@1.2.0 is running" in message
    other_version = client.post("/api/v1/fleet/rollouts", json={**PLAN, "version": "3.4.1"})
    assert other_version.status_code == 409, other_version.text
    _end(world, started)
    again = client.post("/api/v1/fleet/rollouts", json=PLAN)
    assert again.status_code == 202, again.text
    _end(world, again.json())


def test_two_resumes_of_a_paused_rollout_at_once_queue_one_job_and_answer_409(
    world: World,
) -> None:
    client = world.api.client
    rollout = _paused(world)["rollout"]
    answers = _at_once(4, lambda: client.post(f"/api/v1/fleet/rollouts/{rollout}/resume"))
    assert sorted(answer.status_code for answer in answers) == [200, 409, 409, 409]
    assert {answer.json()["job"] for answer in answers if answer.status_code == 200} == {
        client.get(f"/api/v1/fleet/rollouts/{rollout}").json()["job"]
    }
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert "resume applies to a paused or awaiting rollout" in refused.json()["message"]
    _end(world, client.get(f"/api/v1/fleet/rollouts/{rollout}").json())


def _paused(world: World) -> dict[str, Any]:
    client = world.api.client
    started = client.post("/api/v1/fleet/rollouts", json=PLAN)
    assert started.status_code == 202, started.text
    rollout = started.json()["rollout"]
    assert client.post(f"/api/v1/fleet/rollouts/{rollout}/pause").status_code == 200
    assert run_job(world.api, started.json()["job"])["state"] == "succeeded"
    paused = client.get(f"/api/v1/fleet/rollouts/{rollout}").json()
    assert paused["state"] == "paused"
    return dict(paused)


@pytest.mark.parametrize("action", ["resume", "rollback"])
def test_a_resume_or_rollback_deciding_on_a_stale_read_queues_no_second_job(
    world: World, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state was read, then written, in two steps: two requests that both read "paused"
    # (the interleaving of two clients at once, made certain here by answering every read
    # with the first one) both queued a job moving the same instances.
    client = world.api.client
    rollout = _paused(world)["rollout"]
    read = fleet_rollouts.get_rollout
    first: list[fleet_rollouts.RolloutView] = []

    def stale(*args: Any, **kwargs: Any) -> fleet_rollouts.RolloutView:
        first[:] = first or [read(*args, **kwargs)]
        return first[0]

    monkeypatch.setattr(fleet_rollouts, "get_rollout", stale)
    moved = client.post(f"/api/v1/fleet/rollouts/{rollout}/{action}", json={})
    assert moved.status_code == 200, moved.text
    again = client.post(f"/api/v1/fleet/rollouts/{rollout}/{action}", json={})
    assert again.status_code == 409, again.text
    assert f"{action} applies to a" in again.json()["message"]
    monkeypatch.undo()
    current = client.get(f"/api/v1/fleet/rollouts/{rollout}").json()
    assert current["job"] == moved.json()["job"]
    assert run_job(world.api, current["job"])["state"] == "succeeded"
    _end(world, client.get(f"/api/v1/fleet/rollouts/{rollout}").json())
