"""``PUT /api/v1/instances/{p}/{c}/{e}/{i}/values {"values_yaml": TEXT}`` (issue 12): values.yaml
as the user wrote it is committed as written — comments and order kept, YAML 1.1 look-alikes
quoted — with the If-Match / 409 / 422 / 202 semantics of ``{"values"}``; hostile text is 422
at its line with nothing committed. Against a real ``git http-backend`` and Debian's
docker-registry, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helmforge.core.access.changes import ApprovalRules
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.instances import (
    PROD,
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
TYPED = """\
# Values of shop/acme/dev/eu-1
# scaled out for the sale, see OPS-1234
replicaCount: 4   # back to 2 in January
greeting: on
logLevel: debug
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def ready(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        yield api


def _create(api: Api, segments: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.client.post("/api/v1/instances", json=instance_body(segments))
    assert response.status_code in (201, 202), response.text
    return dict(response.json())


def _put_text(
    api: Api, text: str, revision: str | None, segments: dict[str, str] | None = None
) -> Any:
    headers = {"If-Match": f'"{revision}"'} if revision else {}
    return api.client.put(
        url_of(segments) + "/values",
        json={"values_yaml": text, "message": "typed in the YAML pane"},
        headers=headers,
    )


def test_the_text_is_committed_as_written_with_its_new_comments(ready: Api, lab: GitLab) -> None:
    revision = _create(ready)["revision"]
    commits = lab.commits()
    assert _put_text(ready, TYPED, None).status_code == 428
    saved = _put_text(ready, TYPED, revision)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert (body["committed"], body["revision"]) == (True, lab.head())
    assert lab.commits() == commits + 1
    assert lab.show(VALUES) == TYPED.replace("greeting: on", 'greeting: "on"')
    assert "+# scaled out for the sale, see OPS-1234\n" in body["diff"]
    assert body["message"].startswith("shop/acme/dev/eu-1: values: set replicaCount, ")
    shown = ready.client.get(url_of()).json()
    assert shown["values"] == {"replicaCount": 4, "greeting": "on", "logLevel": "debug"}
    assert shown["values_yaml"] == lab.show(VALUES)
    # The same text again changes nothing; a stale revision is 409 with the diff.
    again = _put_text(ready, lab.show(VALUES), body["revision"])
    assert again.status_code == 200, again.text
    assert again.json()["committed"] is False
    stale = _put_text(ready, "replicaCount: 9\n", revision)
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_revision"] == body["revision"]
    assert "+replicaCount: 4" in stale.json()["diff"]
    # A data edit afterwards keeps the comments the text brought.
    data = ready.client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 5, "greeting": "on", "logLevel": "debug"}},
        headers={"If-Match": f'"{body["revision"]}"'},
    )
    assert data.status_code == 200, data.text
    assert "# scaled out for the sale, see OPS-1234\nreplicaCount: 5   # back to 2" in lab.show(
        VALUES
    )


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("replicaCount: 2\nreplicaCount: 3\n", 2, "duplicate key"),
        ("- replicaCount\n", 1, "mapping of values"),
        ("replicaCount: !!python/object/apply:os.system [id]\n", 1, "not allowed"),
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
         + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                   for p, c in zip("abcdefg", "bcdefgh", strict=True)), None, "alias bomb"),
        ("# fine\n" + "replicaCount: 2\n" * 70_000, 65_537, "at most 1048576"),
    ],
)  # fmt: skip
def test_hostile_text_is_422_at_its_line_and_nothing_is_committed(
    ready: Api, lab: GitLab, text: str, line: int | None, words: str
) -> None:
    revision = _create(ready)["revision"]
    commits = lab.commits()
    refused = _put_text(ready, text, revision)
    assert refused.status_code == 422, refused.text
    answer = str(refused.json())
    assert words in answer
    if line is not None:
        assert f"values.yaml:{line}" in answer
    assert lab.commits() == commits


def test_schema_problems_are_422_with_paths_and_both_forms_at_once_are_refused(
    ready: Api, lab: GitLab
) -> None:
    revision = _create(ready)["revision"]
    commits = lab.commits()
    refused = _put_text(ready, "# typed\nservice: {type: Mesh}\nlogLevel: loud\n", revision)
    assert refused.status_code == 422, refused.text
    assert {e["path"] for e in refused.json()["errors"]} == {"service.type", "logLevel"}
    both = ready.client.put(
        url_of() + "/values",
        json={"values": {}, "values_yaml": ""},
        headers={"If-Match": f'"{revision}"'},
    )
    assert both.status_code == 422, both.text
    assert "either values or values_yaml" in both.text
    assert lab.commits() == commits


def test_in_an_approved_environment_the_text_is_committed_when_approved(
    ready: Api, lab: GitLab
) -> None:
    proposed = _create(ready, PROD)
    bob = ready.as_user("bob", role="approver")
    approved = ready.client.post(
        f"/api/v1/change-requests/{proposed['change_request']}/approve", json={}, headers=bob
    )
    assert approved.status_code == 200, approved.text
    revision = ready.client.get(url_of(PROD)).json()["revision"]
    text = "# prod: reviewed by bob\nreplicaCount: 6  # black friday\n"
    asked = _put_text(ready, text, revision, PROD)
    assert asked.status_code == 202, asked.text
    commits = lab.commits()
    done = ready.client.post(
        f"/api/v1/change-requests/{asked.json()['change_request']}/approve", json={}, headers=bob
    )
    assert done.status_code == 200, done.text
    assert lab.commits() == commits + 1
    assert lab.show(f"clusters/eu/{path_of(PROD)}/values.yaml") == text
