"""DESIGN §6 and §9 on instances, read as an outside client calls them, against a real
``git http-backend`` and Debian's docker-registry on SQLite and PostgreSQL: the exact answer
shapes (fields, ETag, bare and quoted If-Match, history items), a forbidden change answering
403 with nothing committed, an instance outside every readable scope answering 404 on each
route and absent from the list, and every one of those denials audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.services import audit_trail
from tests.api.conftest import Api
from tests.support.charts import example_text
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


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def ready(api: Api, lab: GitLab, basic_registry: RegistryServer) -> Api:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    return api


def _denials(api: Api) -> list[tuple[str, str, str]]:
    """The denials audited so far, oldest first."""
    events = audit_trail.list_events(api.sessions, actor=SYSTEM, action="access.deny")
    return [(e.actor, e.target, e.after["permission"]) for e in reversed(events)]


def test_the_answers_carry_the_contracts_fields_and_headers(ready: Api, lab: GitLab) -> None:
    client = ready.client
    created = client.post("/api/v1/instances", json=instance_body())
    assert created.status_code == 201, created.text
    assert {"id", "chart", "chart_version", "revision", "values"} <= created.json().keys()
    revision = created.json()["revision"]
    shown = client.get(url_of())
    assert shown.headers["ETag"] == f'"{revision}"'
    body = shown.json()
    assert {"id", "template", "chart_version", "revision", "values", "effective_values"} <= (
        body.keys()
    )
    assert (body["id"], body["template"], body["revision"]) == (
        path_of(),
        "web-service@1.2.0",
        revision,
    )
    listed = client.get("/api/v1/instances", params={"product": "shop", "customer": "acme"})
    assert list(listed.json()) == ["items"]
    assert [item["id"] for item in listed.json()["items"]] == [path_of()]

    # A bare revision in If-Match names the same revision a quoted one does.
    updated = client.put(
        url_of() + "/values", json={"values": {"replicaCount": 3}}, headers={"If-Match": revision}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] == lab.head()
    stale = client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 4}, "message": "late"},
        headers={"If-Match": f'"{revision}"'},
    )
    assert stale.status_code == 409
    assert stale.json()["current_revision"] == lab.head()
    assert "+replicaCount: 3" in stale.json()["diff"]
    invalid = client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": "x"}},
        headers={"If-Match": f'"{lab.head()}"'},
    )
    assert invalid.status_code == 422
    assert [set(error) for error in invalid.json()["errors"]] == [{"path", "message"}]

    items = client.get(url_of() + "/history").json()["items"]
    assert [set(item) >= {"revision", "author", "at", "message", "diff"} for item in items] == [
        True,
        True,
    ]
    assert items[0]["revision"] == lab.head()
    assert items[0]["message"].startswith(f"{path_of()}: values: set replicaCount")


def test_a_forbidden_change_is_403_commits_nothing_and_is_audited(ready: Api, lab: GitLab) -> None:
    revision = ready.client.post("/api/v1/instances", json=instance_body()).json()["revision"]
    ann = ready.as_user("ann", role="approver")  # reads every instance, changes none
    commits, denials = lab.commits(), len(_denials(ready))
    calls = [
        ("PUT", "/values", {"values": {"replicaCount": 9}}, "values.update"),
        ("POST", "/rollback", {"revision": revision}, "instance.rollback"),
        ("POST", "/upgrade", {"version": "3.9.0"}, "instance.upgrade"),
        ("POST", "/sync", None, "instance.sync"),
    ]
    for method, route, body, _ in calls:
        answer = ready.client.request(
            method, url_of() + route, json=body, headers={**ann, "If-Match": f'"{revision}"'}
        )
        assert answer.status_code == 403, (route, answer.text)
    created = ready.client.post("/api/v1/instances", json=instance_body(PROD), headers=ann)
    assert created.status_code == 403, created.text
    assert lab.commits() == commits
    assert ready.client.get(url_of()).json()["revision"] == revision
    assert ready.client.get(url_of(PROD)).status_code == 404
    assert _denials(ready)[denials:] == [
        *(("ann", path_of(), permission) for *_, permission in calls),
        ("ann", path_of(PROD), "instance.create"),
    ]


def test_an_instance_outside_every_readable_scope_is_404_everywhere_unlisted_and_audited(
    ready: Api, lab: GitLab
) -> None:
    ready.client.post("/api/v1/instances", json=instance_body())
    prod = ready.client.post("/api/v1/instances", json=instance_body(PROD)).json()
    dora = ready.as_user("dora", role="operator", scope="*/*/dev/*")
    listed = ready.client.get("/api/v1/instances", headers=dora).json()["items"]
    assert [item["id"] for item in listed] == [path_of()]
    assert ready.client.get(
        "/api/v1/instances", params={"environment": "prod"}, headers=dora
    ).json() == {"items": []}
    commits, denials = lab.commits(), len(_denials(ready))
    calls = [
        ("GET", "", None),
        ("GET", "/history", None),
        ("PUT", "/values", {"values": {"replicaCount": 1}}),
        ("POST", "/rollback", {"revision": prod["revision"]}),
        ("POST", "/upgrade", {"version": "3.9.0"}),
        ("POST", "/sync", None),
    ]
    missing = ready.client.get(url_of({**PROD, "instance": "nope"}), headers=dora).json()
    for method, route, body in calls:
        answer = ready.client.request(
            method,
            url_of(PROD) + route,
            json=body,
            headers={**dora, "If-Match": f'"{prod["revision"]}"'},
        )
        assert answer.status_code == 404, (route, answer.text)
        # Word for word what a missing instance answers: nothing tells that it exists.
        assert answer.json()["message"] == missing["message"].replace("nope", "eu-1")
    assert lab.commits() == commits
    new = _denials(ready)[denials:]
    assert {target for _, target, _ in new} == {
        path_of(PROD),
        path_of({**PROD, "instance": "nope"}),
    }
    assert len([d for d in new if d[1] == path_of(PROD)]) == len(calls)


def _publish(api: Api, text: str, version: str) -> None:
    added = api.client.post(
        "/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert added.status_code == 201, added.text
    published = api.client.post(f"/api/v1/templates/web-service/versions/{version}/publish")
    assert published.status_code == 200, published.text


def test_an_upgrade_migrates_the_overrides_by_spec_migrations_from_rename_retype(
    ready: Api, lab: GitLab
) -> None:
    ready.client.post("/api/v1/instances", json=instance_body())
    # DESIGN §10's example, word for word: from a SemVer range, rename, retype.
    migration = (
        "  migrations:\n"
        '    - from: "<2.0.0"\n'
        "      rename: {replicaCount: replicas}\n"
        "      retype: {replicas: integer}\n"
    )
    _publish(
        ready,
        renamed_template("2.0.0").replace(
            '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + migration, 1
        ),
        "2.0.0",
    )
    commits = lab.commits()
    upgraded = ready.client.post(
        url_of() + "/upgrade", json={"template": "web-service@2.0.0", "version": "3.5.0"}
    )
    assert upgraded.status_code == 200, upgraded.text
    assert lab.commits() == commits + 1
    values = lab.show(f"clusters/eu/{path_of()}/values.yaml")
    assert values.startswith(f"# Values of {path_of()}")  # its comments stay
    assert "replicas: 2\n" in values
    assert "replicaCount" not in values
    shown = ready.client.get(url_of()).json()
    assert (shown["template"], shown["values"]) == ("web-service@2.0.0", {"replicas": 2})
    assert shown["effective_values"]["replicas"] == 2

    # A value the migration cannot carry refuses the upgrade: nothing is committed.
    retype = '  migrations:\n    - from: "<2.1.0"\n      retype: {greeting: boolean}\n'
    _publish(
        ready,
        renamed_template("2.1.0").replace(
            '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + retype, 1
        ),
        "2.1.0",
    )
    revision = ready.client.get(url_of()).json()["revision"]
    greeted = ready.client.put(
        url_of() + "/values",
        json={"values": {"replicas": 2, "greeting": "hi"}},
        headers={"If-Match": f'"{revision}"'},
    )
    assert greeted.status_code == 200, greeted.text
    commits = lab.commits()
    refused = ready.client.post(
        url_of() + "/upgrade", json={"template": "web-service@2.1.0", "version": "3.6.0"}
    )
    assert refused.status_code == 422, refused.text
    assert "greeting" in refused.json()["message"]
    assert lab.commits() == commits


def renamed_template(version: str) -> str:
    """The example template at ``version`` with replicaCount renamed replicas."""
    return (
        example_text(version=version)
        .replace("    replicaCount:\n", "    replicas:\n", 1)
        .replace("        replicaCount: 3\n", "        replicas: 3\n", 1)
        .replace("${values.replicaCount}", "${values.replicas}")
    )


def test_if_match_is_refused_only_when_that_instance_changed_not_its_neighbours(
    ready: Api, lab: GitLab
) -> None:
    mine = ready.client.post("/api/v1/instances", json=instance_body()).json()["revision"]
    other = {**PROD, "instance": "eu-2"}
    created = ready.client.post("/api/v1/instances", json=instance_body(other))
    assert created.status_code == 201, created.text
    neighbour = ready.client.put(
        url_of(other) + "/values",
        json={"values": {"replicaCount": 5}},
        headers={"If-Match": f'"{created.json()["revision"]}"'},
    )
    assert neighbour.status_code == 200, neighbour.text
    assert lab.head() != mine
    # The repository moved twice since ``mine``, this instance not at all: no conflict.
    updated = ready.client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 3}},
        headers={"If-Match": f'"{mine}"'},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["revision"] == lab.head()
    assert "replicaCount: 5" in lab.show(f"clusters/eu/{path_of(other)}/values.yaml")
