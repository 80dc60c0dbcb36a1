"""``helmforge argocd`` and ``helmforge instances sync`` (DESIGN §6), run as the real
``helmforge`` process against a real server on loopback, with a real Git server, Debian's
docker-registry and the swagger-checking Argo CD stand-in behind it (its controller steps once
per request and the server polls without pausing: nothing waits on wall-clock time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.yaml_codec import load_single
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.support.apps import make_app
from tests.support.argocd import ArgoCdStandIn
from tests.support.instances import GIT_CANARY, GIT_USER, GitLab, git_lab
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.support.servers import serve

pytestmark = [pytest.mark.registry]

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
TOKEN = "canary-argocd-cli-token-f00d-DO-NOT-LEAK"
PROD = "shop/acme/prod/eu-1"


@dataclass
class Lab:
    url: str
    admin: str
    git: GitLab
    argocd: ArgoCdStandIn

    def run(self, *arguments: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "HELMFORGE_TOKEN": self.admin, **env}
        result = subprocess.run(
            [HELMFORGE, *arguments, "--server", self.url],
            input=stdin, capture_output=True, text=True, timeout=180, check=False,
            env=environment,
        )  # fmt: skip
        assert TOKEN not in result.stdout + result.stderr
        return result

    def ok(self, *arguments: str, **options: Any) -> str:
        result = self.run(*arguments, **options)
        assert (result.returncode, result.stderr) == (0, result.stderr), result.stderr
        return result.stdout


@pytest.fixture
def lab(tmp_path: Path, basic_registry: RegistryServer, shared_data: Path) -> Iterator[Lab]:
    application, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "data", argocd_poll_interval=0.0
    )
    admin = accounts.create_token(state_of(application).sessions, user="admin", actor=SYSTEM).token
    stand_in = ArgoCdStandIn(
        shared_data / "argocd" / "swagger.json", tokens={TOKEN: {"*"}}, auto_tick=True
    )
    with git_lab(tmp_path) as git, stand_in.running(), serve(application) as url:
        headers = {"Authorization": f"Bearer {admin}"}
        for path, body in (
            ("/api/v1/registries", {"name": "lab", "url": f"oci://{basic_registry.authority}/"
             f"{unique_path()}", "username": ROBOT, "password": CANARY_PASSWORD,
             "plain_http": True}),
            ("/api/v1/gitops/repositories", {"name": "gitops", "url": git.url(),
             "username": GIT_USER, "password": GIT_CANARY}),
        ):  # fmt: skip
            answer = httpx.post(f"{url}{path}", json=body, headers=headers, timeout=60)
            assert answer.status_code == 201, answer.text
        yield Lab(url, admin, git, stand_in)
    assert stand_in.violations == []
    state_of(application).engine.dispose()


def test_servers_and_a_sync_from_the_command_line(lab: Lab) -> None:
    added = lab.ok(
        "argocd", "add-server", "cluster", "--url", lab.argocd.url, "--token-stdin",
        stdin=TOKEN + "\n",
    )  # fmt: skip
    assert added == f"cluster\t{lab.argocd.url}\tproject default\ttls verified\ttoken set\n"
    listed = json.loads(lab.ok("argocd", "list-servers", "--output", "json"))
    assert [(s["name"], s["has_token"]) for s in listed] == [("cluster", True)]
    lab.ok(
        "instances", "create", PROD, "--template", "web-service@1.2.0", "--version", "3.4.0",
        "--registry", "lab", "--repository", "gitops", "--argocd", "cluster",
    )  # fmt: skip
    revision = lab.git.head()
    application = load_single(lab.git.show(f"{PROD}/application.yaml"), source="app").data
    lab.argocd.add_application(application)
    synced = lab.ok("instances", "sync", PROD)
    assert synced == (
        f"{PROD}: manual sync of chart 3.4.0 at revision {revision} on cluster: "
        "Succeeded, Healthy\n"
    )
    shown = lab.ok("instances", "show", PROD)
    assert f"  argo cd      Synced, Healthy at {revision}\n" in shown
    as_json = json.loads(lab.ok("instances", "sync", PROD, "--output", "json"))
    assert (as_json["revision"], as_json["synced_revision"]) == (revision, revision)
    rendered = lab.ok("argocd", "applicationset", "cluster", "--repository", "gitops")
    application_set = load_single(rendered, source="applicationset.yaml").data
    assert application_set["kind"] == "ApplicationSet"
    assert application_set["spec"]["generators"][0]["git"]["repoURL"] == lab.git.url()
    refused = lab.run("argocd", "remove-server", "cluster")
    assert refused.returncode != 0
    assert "still syncs 1 instance" in refused.stderr
    lab.argocd.tokens = {}
    assert "  argo cd      cannot tell: Argo CD server 'cluster' refused its token" in lab.ok(
        "instances", "show", PROD
    )


def test_a_token_comes_from_the_environment_or_the_command_says_what_is_missing(
    lab: Lab,
) -> None:
    missing = lab.run("argocd", "add-server", "cluster", "--url", lab.argocd.url)
    assert missing.returncode != 0
    assert "HELMFORGE_ARGOCD_TOKEN" in missing.stderr
    lab.ok(
        "argocd", "add-server", "cluster", "--url", lab.argocd.url, "--project", "shop",
        HELMFORGE_ARGOCD_TOKEN=TOKEN,
    )  # fmt: skip
    assert "project shop" in lab.ok("argocd", "list-servers")
    lab.run("argocd", "remove-server", "cluster")
    assert lab.ok("argocd", "list-servers") == ""
    unknown = lab.run("instances", "sync", PROD)
    assert unknown.returncode != 0
    assert "server answered 404" in unknown.stderr
