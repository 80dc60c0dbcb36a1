"""An instance in a GitOps repository reached over SSH (Debian's sshd on loopback): a deploy
key, the host key pinned; the key never comes back out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.core.yaml_codec import load_single
from tests.api.conftest import Api
from tests.support.git_servers import SshGitServer, bare_repository, git
from tests.support.instances import add_registry, instance_body, path_of, url_of
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[SshGitServer]:
    with SshGitServer(tmp_path / "sshd").running() as server:
        yield server


def test_an_instance_over_ssh_with_a_deploy_key(
    api: Api, ssh_server: SshGitServer, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    remote = bare_repository(tmp_path, "gitops", {"README.md": "gitops\n"})
    body = {
        "name": "gitops",
        "url": ssh_server.url(remote),
        "ssh_private_key": ssh_server.private_key,
        "ssh_known_hosts": ssh_server.known_hosts,
    }
    added = api.client.post("/api/v1/gitops/repositories", json=body)
    assert added.status_code == 201, added.text
    assert added.json()["has_ssh_key"] is True
    add_registry(api.client, basic_registry)
    created = api.client.post("/api/v1/instances", json=instance_body())
    assert created.status_code == 201, created.text
    values = git("-C", str(remote), "show", f"main:{path_of()}/values.yaml")
    assert load_single(values, source="values.yaml").data == {"replicaCount": 2}
    revision = created.json()["revision"]
    changed = api.client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 3}},
        headers={"If-Match": f'"{revision}"'},
    )
    assert changed.status_code == 200, changed.text
    key_body = ssh_server.private_key.splitlines()[1]
    for answer in (added, created, changed, api.client.get("/api/v1/gitops/repositories")):
        assert key_body not in answer.text
