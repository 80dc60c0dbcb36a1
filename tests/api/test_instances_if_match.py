"""``If-Match`` forms other than one revision on ``PUT .../values`` (found by trying the product
from outside): ``*`` names no revision (428), a list of several or a value with quotes inside is
refused as input naming ``If-Match`` (422), and nothing is committed; one revision, quoted, weak
or bare, is what the edit was made on. Real ``git http-backend`` and docker-registry, on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Api
from tests.support.instances import (
    GitLab,
    add_registry,
    add_repository,
    git_lab,
    instance_body,
    url_of,
)
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.registry]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


def test_if_match_that_is_not_one_revision_is_refused_naming_the_header(
    api: Api, lab: GitLab, basic_registry: RegistryServer
) -> None:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    created = api.client.post("/api/v1/instances", json=instance_body())
    assert created.status_code == 201, created.text
    revision = created.json()["revision"]
    commits = lab.commits()
    refused = {
        "*": 428,
        f'"{revision}", "{"0" * 40}"': 422,
        f'"{revision}" , W/"{revision}"': 422,
        f'"{revision}"x"': 422,
    }
    for header, expected in refused.items():
        answer = api.client.put(
            url_of() + "/values", json={"values": {"replicaCount": 5}}, headers={"If-Match": header}
        )
        assert answer.status_code == expected, (header, answer.text)
        message = answer.json()["message"]
        assert "If-Match" in message, message
        assert "not on branch" not in message, message
        if expected == 422:
            assert answer.json()["errors"][0]["path"] == "If-Match"
        assert lab.commits() == commits, header
    weak = api.client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 5}},
        headers={"If-Match": f'W/"{revision}"'},
    )
    assert weak.status_code == 200, weak.text
    assert lab.commits() == commits + 1
