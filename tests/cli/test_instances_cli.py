"""``helmforge gitops``, ``instances`` and ``values`` (DESIGN §6), each run as the real
``helmforge`` process against a real server on loopback, with a real Git server over smart HTTP
(``git http-backend``) and Debian's docker-registry behind it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.core.access.changes import ApprovalRules
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import accounts
from tests.support.apps import make_app
from tests.support.change_requests import user_token
from tests.support.git_servers import SshGitServer, bare_repository, git
from tests.support.instances import GIT_CANARY, GIT_USER, GitLab, git_lab
from tests.support.proxies import interposing_proxy
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.support.servers import serve

pytestmark = [pytest.mark.registry]

HELMFORGE = str(Path(sys.executable).with_name("helmforge"))
DEV = "shop/acme/dev/eu-1"
PROD = "shop/acme/prod/eu-1"
DEV_VALUES = f"clusters/eu/{DEV}/values.yaml"


@dataclass
class Lab:
    url: str
    sessions: Any
    admin: str  # the admin's token
    git: GitLab

    def run(
        self, *arguments: str, token: str | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "HELMFORGE_TOKEN": token or self.admin}
        environment.pop("HELMFORGE_GIT_PASSWORD", None)
        return subprocess.run(
            [HELMFORGE, *arguments, "--server", self.url],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=environment,
        )

    def ok(self, *arguments: str, **options: Any) -> str:
        result = self.run(*arguments, **options)
        assert (result.returncode, result.stderr) == (0, result.stderr), result.stderr
        assert GIT_CANARY not in result.stdout + result.stderr
        return result.stdout


@pytest.fixture
def lab(tmp_path: Path, basic_registry: RegistryServer) -> Iterator[Lab]:
    """A server where prod needs one approval, registry ``lab`` recorded; no repository yet."""
    application, _ = make_app(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "data",
        approvals=ApprovalRules(by_environment={"prod": 1}),
    )
    sessions = state_of(application).sessions
    admin = accounts.create_token(sessions, user="admin", actor=SYSTEM).token
    with git_lab(tmp_path) as git, serve(application) as url:
        registry = httpx.post(
            f"{url}/api/v1/registries",
            json={"name": "lab", "url": f"oci://{basic_registry.authority}/{unique_path()}",
                  "username": ROBOT, "password": CANARY_PASSWORD, "plain_http": True},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=60,
        )  # fmt: skip
        assert registry.status_code == 201, registry.text
        yield Lab(url, sessions, admin, git)
    state_of(application).engine.dispose()


def _add_gitops(lab: Lab) -> None:
    added = lab.ok(
        "gitops", "add-repository", "gitops", "--url", lab.git.url(), "--path", "clusters/eu",
        "--username", GIT_USER, "--password-stdin", stdin=GIT_CANARY + "\n",
    )  # fmt: skip
    assert added == f"gitops\t{lab.git.url()}\tmain\tclusters/eu\tpassword\n"


def _create(lab: Lab, instance: str, *extra: str) -> str:
    return lab.ok(
        "instances", "create", instance, "--template", "web-service@1.2.0", "--version",
        "3.4.0", "--registry", "lab", "--repository", "gitops", "--set", "replicaCount=2",
        *extra,
    )  # fmt: skip


def test_repositories_instances_and_values_from_the_command_line(lab: Lab) -> None:
    _add_gitops(lab)
    assert lab.ok("gitops", "list-repositories").startswith("gitops\t")
    listed = json.loads(lab.ok("gitops", "list-repositories", "--output", "json"))
    assert [(r["name"], r["has_password"]) for r in listed] == [("gitops", True)]

    commits = lab.git.commits()
    created = _create(lab, DEV, "--message", "first deploy")
    assert created == f"{DEV}: created, chart shop-acme-dev-eu-1 3.4.0, revision {lab.git.head()}\n"
    assert lab.git.commits() == commits + 1
    assert "first deploy" in lab.git.log()
    row = lab.ok("instances", "list", "--environment", "dev")
    assert row == (
        f"{DEV}\tweb-service@1.2.0\tshop-acme-dev-eu-1:3.4.0\t{lab.git.head()[:12]}\tcurrent\n"
    )
    assert lab.ok("instances", "list", "--environment", "prod") == ""
    assert lab.ok("instances", "list", "--outdated") == ""
    shown = lab.ok("instances", "show", DEV)
    assert f"  revision     {lab.git.head()}\n" in shown
    assert "values.yaml:\n" in shown
    assert "  replicaCount: 2" in shown

    # set: YAML-typed values at dotted paths, on the revision read first; comments stay.
    first = lab.git.head()
    changed = lab.ok(
        "values", "set", DEV, "replicaCount=3", "image.tag='1.10'", "ingress.host=a.example.com",
        "env=[{name: MODE, value: 'on'}]", "--message", "three pods",
    )  # fmt: skip
    assert changed.startswith(f"values of {DEV}: committed revision {lab.git.head()}\n")
    assert "+replicaCount: 3" in changed
    text = lab.git.show(DEV_VALUES)
    assert text.startswith(f"# Values of {DEV}: only what differs")
    assert 'tag: "1.10"' in text
    assert 'value: "on"' in text
    got = subprocess.run(
        [HELMFORGE, "values", "get", DEV, "--server", lab.url, "--output", "json"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "HELMFORGE_TOKEN": lab.admin},
    )  # fmt: skip
    assert got.stderr == f"revision {lab.git.head()}\n"
    assert json.loads(got.stdout)["values"] == {
        "replicaCount": 3,
        "image": {"tag": "1.10"},
        "ingress": {"host": "a.example.com"},
        "env": [{"name": "MODE", "value": "on"}],
    }
    assert lab.ok("values", "get", DEV) == text
    effective = lab.ok("values", "get", DEV, "--effective")
    assert "pullPolicy: IfNotPresent" in effective

    # An edit on a revision that is no longer current is refused with the diff: no commit.
    commits = lab.git.commits()
    stale = lab.run("values", "set", DEV, "replicaCount=9", "--if-match", first)
    assert stale.returncode == 1
    assert "-replicaCount: 2" in stale.stderr
    assert "+replicaCount: 3" in stale.stderr
    last = stale.stderr.rstrip("\n").split("\n")[-1]
    assert re.fullmatch(
        rf"helmforge: error: server answered 409: .*changed since revision {first[:12]}.* "
        rf"\(current revision {lab.git.head()}; read it again and redo the edit\)",
        last,
    ), last
    assert lab.git.commits() == commits
    # The same values again change nothing and make no call that could commit.
    same = lab.ok("values", "set", DEV, "replicaCount=3")
    assert same == f"values of {DEV}: unchanged at revision {lab.git.head()}\n"
    unset = lab.ok("values", "set", DEV, "--unset", "env", "--unset", "image.tag")
    assert "-env:" in unset
    assert "env" not in lab.git.show(DEV_VALUES)

    # edit -f: values.yaml from a file (stdin here), committed as written, its comments
    # too (a YAML 1.1 look-alike quoted); invalid values or text commit nothing.
    bad = lab.run("values", "edit", DEV, "-f", "-", stdin="service: {type: Mesh}\n")
    assert bad.returncode == 1
    assert "service.type" in bad.stderr
    assert "nothing was committed" in bad.stderr
    twice = lab.run("values", "edit", DEV, "-f", "-", stdin="replicaCount: 4\nreplicaCount: 5\n")
    assert twice.returncode == 1
    assert "<stdin>:2:" in twice.stderr
    assert "duplicate key" in twice.stderr
    assert lab.git.commits() == commits + 1
    typed = "# scaled out for the sale (OPS-1234)\nreplicaCount: 4  # until January\ngreeting: on\n"
    edited = lab.ok("values", "edit", DEV, "-f", "-", stdin=typed)
    assert "+replicaCount: 4" in edited
    assert lab.git.show(DEV_VALUES) == typed.replace("greeting: on", 'greeting: "on"')

    history = lab.ok("values", "history", DEV).splitlines()
    assert len(history) == 4
    assert history[0].startswith(lab.git.head() + "\t")
    assert history[-1].endswith(f"{DEV}: create from web-service@1.2.0, chart shop-acme-dev-eu-1 "
                                "3.4.0")  # fmt: skip
    rolled = lab.ok("values", "rollback", DEV, first, "--message", "back to two")
    assert f"values of {DEV}: committed revision {lab.git.head()}" in rolled
    assert "replicaCount: 2" in lab.git.show(DEV_VALUES)
    assert len(lab.ok("values", "history", DEV).splitlines()) == 5

    upgraded = json.loads(
        lab.ok("instances", "upgrade", DEV, "--version", "3.5.0", "--output", "json")
    )
    assert upgraded["instance"]["chart_version"] == "3.5.0"
    assert upgraded["revision"] == lab.git.head()
    refused = lab.run("gitops", "remove-repository", "gitops")
    assert refused.returncode == 1
    assert "409" in refused.stderr


def test_values_set_without_if_match_never_overwrites_a_change_made_after_it_read(
    lab: Lab,
) -> None:
    _add_gitops(lab)
    _create(lab, DEV)
    admin = {"Authorization": f"Bearer {lab.admin}"}
    url = f"{lab.url}/api/v1/instances/{DEV}"
    writes: list[int] = []

    def other_writer(method: str, path: str) -> None:
        # Between the command's read and its write, someone else changes the values.
        if method == "PUT" and not writes:
            revision = httpx.get(url, headers=admin, timeout=60).json()["revision"]
            changed = httpx.put(
                f"{url}/values",
                json={"values": {"replicaCount": 7}},
                headers={**admin, "If-Match": f'"{revision}"'},
                timeout=120,
            )
            writes.append(changed.status_code)

    with interposing_proxy(lab.url, other_writer) as proxy:
        result = subprocess.run(
            [HELMFORGE, "values", "set", DEV, "logLevel=warn", "--server", proxy],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "HELMFORGE_TOKEN": lab.admin},
        )  # fmt: skip
    assert writes == [200]
    assert result.returncode == 1, result.stdout
    assert "-replicaCount: 2\n+replicaCount: 7\n" in result.stderr
    assert "server answered 409" in result.stderr
    assert f"(current revision {lab.git.head()};" in result.stderr
    text = lab.git.show(DEV_VALUES)
    assert "replicaCount: 7" in text
    assert "logLevel" not in text


def test_a_prod_change_from_the_command_line_awaits_approval_and_commits_once_approved(
    lab: Lab,
) -> None:
    _add_gitops(lab)
    bob = user_token(lab.sessions, "bob", "approver")
    proposed = _create(lab, PROD)
    match = re.match(r"change request (\d+) awaits approval \(instance.create on " + PROD, proposed)
    assert match, proposed
    commits = lab.git.commits()
    creation = lab.ok("changes", "show", match.group(1), token=bob)
    assert "What approving applies now (a new instance: everything below is created):" in creation
    assert "# rendered manifests (what Argo CD will apply)\n" in creation
    assert f"+++ b/Deployment/{PROD.replace('/', '-')}.yaml\n" in creation
    assert "+  replicas: 2\n" in creation
    assert lab.git.commits() == commits
    assert lab.ok("changes", "approve", match.group(1), token=bob).split("\t")[1] == "applied"
    assert lab.git.commits() == commits + 1
    olga = user_token(lab.sessions, "olga", "operator")
    change = lab.ok("values", "set", PROD, "replicaCount=5", token=olga)
    request = re.match(r"change request (\d+) awaits approval \(values.update", change)
    assert request, change
    assert "+replicaCount: 5" in change
    assert lab.git.commits() == commits + 1
    # Bob sees what approving applies: Helm's objects of prod as Git has it now, and after.
    shown = lab.ok("changes", "show", request.group(1), token=bob)
    assert shown.split("\t")[:3] == [request.group(1), "pending", "values.update"]
    assert "What approving applies now (the instance at revision " in shown
    assert "# rendered manifests (what Argo CD will apply)\n" in shown
    assert "-  replicas: 2\n+  replicas: 5\n" in shown
    assert "STALE" not in shown
    assert lab.git.commits() == commits + 1
    assert lab.ok("changes", "approve", request.group(1), token=bob).split("\t")[1] == "applied"
    assert lab.git.commits() == commits + 2
    assert "replicaCount: 5" in lab.git.show(f"clusters/eu/{PROD}/values.yaml")


def test_without_a_token_or_with_a_bad_instance_the_commands_fail_in_one_line(lab: Lab) -> None:
    missing = subprocess.run(
        [HELMFORGE, "instances", "list", "--server", lab.url],
        capture_output=True, text=True, timeout=60, check=False,
        env={key: value for key, value in os.environ.items() if key != "HELMFORGE_TOKEN"},
    )  # fmt: skip
    assert (missing.returncode, missing.stderr) == (
        1,
        "helmforge: error: no API token: set HELMFORGE_TOKEN (create one: helmforge tokens "
        "create)\n",
    )
    unknown = lab.run("values", "get", "shop/acme/dev/nope")
    assert unknown.returncode == 1
    assert "server answered 404" in unknown.stderr
    malformed = lab.run("values", "set", DEV, "replicaCount")
    assert malformed.returncode == 1
    assert "is not PATH=VALUE" in malformed.stderr
    usage = lab.run("instances", "show", "shop/acme")
    assert usage.returncode == 2
    leaked = lab.run(
        "gitops", "add-repository", "other", "--url", lab.git.url(), "--username", GIT_USER,
        "--password-stdin", "--path", "../up", stdin=GIT_CANARY + "\n",
    )  # fmt: skip
    assert leaked.returncode == 1
    assert GIT_CANARY not in leaked.stdout + leaked.stderr


def test_instances_promote_copies_dev_to_sit_at_once_and_to_prod_through_approval(
    lab: Lab,
) -> None:
    _add_gitops(lab)
    bob = user_token(lab.sessions, "bob", "approver")
    _create(lab, DEV)
    sit = DEV.replace("/dev/", "/sit/")
    _create(lab, sit, "--set", "ingress.host=eu-1.acme.sit.example.com")
    missing = lab.run("instances", "promote", sit)
    assert missing.returncode == 1
    assert "instance shop/acme/uat/eu-1 does not exist: create it first" in missing.stderr
    lab.ok("instances", "upgrade", DEV, "--version", "3.5.0")
    lab.ok("values", "set", DEV, "logLevel=warn")
    commits = lab.git.commits()
    promoted = lab.ok("instances", "promote", DEV, "--values", "logLevel", "-m", "dev is green")
    assert promoted.startswith(f"{sit}: committed revision {lab.git.head()}\n")
    assert '+    targetRevision: "3.5.0"' in promoted
    assert "+logLevel: warn" in promoted
    assert lab.git.commits() == commits + 1
    history = lab.ok("values", "history", sit, "--limit", "1")
    assert f"{sit}: promote from {DEV}: chart shop-acme-sit-eu-1 3.4.0 -> 3.5.0" in history

    created = re.match(r"change request (\d+) ", _create(lab, PROD))
    assert created
    lab.ok("changes", "approve", created.group(1), token=bob)
    commits = lab.git.commits()
    proposed = lab.ok("instances", "promote", sit, "--to", "prod")
    request = re.match(r"change request (\d+) awaits approval \(instance.promote on " + PROD,
                       proposed)  # fmt: skip
    assert request, proposed
    assert lab.git.commits() == commits
    assert lab.ok("changes", "approve", request.group(1), token=bob).split("\t")[1] == "applied"
    assert lab.git.commits() == commits + 1
    assert json.loads(lab.ok("instances", "show", PROD, "-o", "json"))["chart_version"] == "3.5.0"


def test_an_ssh_repository_from_key_and_known_hosts_files_and_the_key_never_shows(
    lab: Lab, tmp_path: Path
) -> None:
    with SshGitServer(tmp_path / "sshd").running() as ssh:
        remote = bare_repository(tmp_path, "ssh-gitops", {"README.md": "gitops\n"})
        key, known = tmp_path / "deploy-key", tmp_path / "known_hosts"
        key.write_text(ssh.private_key)
        key.chmod(0o600)
        known.write_text(ssh.known_hosts)
        added = lab.run(
            "gitops", "add-repository", "gitops", "--url", ssh.url(remote),
            "--ssh-key-file", str(key), "--known-hosts-file", str(known), "-o", "json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        shown = json.loads(added.stdout)
        assert (shown["has_ssh_key"], shown["has_password"]) == (True, False)
        assert shown["ssh_known_hosts"] == ssh.known_hosts
        _create(lab, DEV)
        assert "replicaCount: 2" in git("-C", str(remote), "show", f"main:{DEV}/values.yaml")
        key_body = ssh.private_key.splitlines()[1]
        listed = lab.run("gitops", "list-repositories", "-o", "json")
        for result in (added, listed):
            assert key_body not in result.stdout + result.stderr
        unreadable = lab.run(
            "gitops", "add-repository", "other", "--url", ssh.url(remote),
            "--ssh-key-file", str(tmp_path / "nope"),
        )  # fmt: skip
        assert (unreadable.returncode, unreadable.stderr) == (
            1,
            f"helmforge: error: {tmp_path / 'nope'}: cannot read the SSH key file "
            "(FileNotFoundError)\n",
        )
