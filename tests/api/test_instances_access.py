"""Instances under access control and four eyes (DESIGN §9) over the API: changes in prod
are change requests another person approves (committed with ``Approved-by:``), and an
operator scoped to dev neither sees nor changes prod."""

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

PROD_VALUES = f"clusters/eu/{path_of(PROD)}/values.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def gated(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    """A server whose prod changes need one approval (the default HELMFORGE_APPROVALS)."""
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        yield api


def approve(api: Api, request_id: int, headers: dict[str, str]) -> Any:
    return api.client.post(
        f"/api/v1/change-requests/{request_id}/approve", json={}, headers=headers
    )


def test_prod_creation_and_values_change_are_committed_only_once_another_person_approves(
    gated: Api, lab: GitLab
) -> None:
    bob = gated.as_user("bob", role="approver")
    olga = gated.as_user("olga", role="operator")
    commits = lab.commits()
    proposed = gated.client.post("/api/v1/instances", json=instance_body(PROD, values={}))
    assert proposed.status_code == 202, proposed.text
    assert proposed.json()["kind"] == "instance.create"
    assert lab.commits() == commits
    assert gated.client.get(url_of(PROD)).status_code == 404
    created = approve(gated, proposed.json()["change_request"], bob)
    assert created.status_code == 200, created.text
    assert created.json()["state"] == "applied"
    assert lab.commits() == commits + 1
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in lab.log()
    shown = gated.client.get(url_of(PROD), headers=olga)
    assert shown.status_code == 200, shown.text
    revision = shown.json()["revision"]

    change = gated.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 4}, "message": "more pods for the sale"},
        headers={**olga, "If-Match": f'"{revision}"'},
    )
    assert change.status_code == 202, change.text
    request_id = change.json()["change_request"]
    assert "+replicaCount: 4" in change.json()["diff"]
    assert lab.commits() == commits + 1
    own = approve(gated, request_id, olga)
    assert own.status_code == 403, own.text
    applied = approve(gated, request_id, bob)
    assert applied.status_code == 200, applied.text
    assert applied.json()["state"] == "applied"
    assert lab.commits() == commits + 2
    last = lab.log().split("\n\n")[0:3]
    assert last[0].startswith("olga <olga@users.helmforge.invalid>\nshop/acme/prod/eu-1: values")
    head_message = lab.log().split("diff --git")[0]
    assert "more pods for the sale" in head_message
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in head_message
    assert "replicaCount: 4" in lab.show(PROD_VALUES)


def test_a_prod_request_whose_instance_changed_meanwhile_is_stale(gated: Api, lab: GitLab) -> None:
    bob = gated.as_user("bob", role="approver")
    created = approve(
        gated,
        gated.client.post("/api/v1/instances", json=instance_body(PROD)).json()["change_request"],
        bob,
    )
    assert created.json()["state"] == "applied", created.text
    revision = gated.client.get(url_of(PROD)).json()["revision"]
    first, second = (
        gated.client.put(
            url_of(PROD) + "/values",
            json={"values": {"replicaCount": count}},
            headers={"If-Match": f'"{revision}"'},
        ).json()["change_request"]
        for count in (4, 5)
    )
    assert approve(gated, first, bob).json()["state"] == "applied"
    commits = lab.commits()
    stale = approve(gated, second, bob)
    assert stale.status_code == 409, stale.text
    assert gated.client.get(f"/api/v1/change-requests/{second}").json()["state"] == "stale"
    assert lab.commits() == commits


def test_an_operator_scoped_to_dev_neither_sees_nor_changes_prod(
    api: Api, lab: GitLab, basic_registry: RegistryServer
) -> None:
    add_repository(api.client, lab)
    add_registry(api.client, basic_registry)
    dev = api.client.post("/api/v1/instances", json=instance_body()).json()
    prod = api.client.post("/api/v1/instances", json=instance_body(PROD)).json()
    dora = api.as_user("dora", role="operator", scope="*/*/dev/*")
    listed = api.client.get("/api/v1/instances", headers=dora).json()["items"]
    assert [item["id"] for item in listed] == [dev["id"]]
    assert api.client.get(url_of(PROD), headers=dora).status_code == 404
    commits = lab.commits()
    edit = api.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 1}},
        headers={**dora, "If-Match": f'"{prod["revision"]}"'},
    )
    assert edit.status_code == 404, edit.text
    for action, body in (("rollback", {"revision": prod["revision"]}), ("upgrade", {})):
        assert (
            api.client.post(f"{url_of(PROD)}/{action}", json=body, headers=dora).status_code == 404
        )
    assert api.client.get(url_of(PROD) + "/history", headers=dora).status_code == 404
    assert lab.commits() == commits
    ok = api.client.put(
        url_of() + "/values",
        json={"values": {"replicaCount": 3}},
        headers={**dora, "If-Match": f'"{dev["revision"]}"'},
    )
    assert ok.status_code == 200, ok.text
    # An approver may read the instance but not change it: 403, not 404.
    ann = api.as_user("ann", role="approver")
    refused = api.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 1}},
        headers={**ann, "If-Match": f'"{prod["revision"]}"'},
    )
    assert refused.status_code == 403, refused.text
    assert (
        api.client.post("/api/v1/instances", json=instance_body(), headers=dora).status_code == 403
    )


def test_prod_rollback_and_upgrade_wait_for_approval_and_carry_the_trailer(
    gated: Api, lab: GitLab
) -> None:
    bob = gated.as_user("bob", role="approver")
    request_id = gated.client.post("/api/v1/instances", json=instance_body(PROD)).json()[
        "change_request"
    ]
    assert approve(gated, request_id, bob).json()["state"] == "applied"
    created = gated.client.get(url_of(PROD)).json()["revision"]
    change = gated.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 8}},
        headers={"If-Match": f'"{created}"'},
    ).json()
    assert approve(gated, change["change_request"], bob).json()["state"] == "applied"
    commits = lab.commits()
    rollback = gated.client.post(url_of(PROD) + "/rollback", json={"revision": created})
    assert rollback.status_code == 202, rollback.text
    assert rollback.json()["kind"] == "instance.rollback"
    upgrade = gated.client.post(url_of(PROD) + "/upgrade", json={"version": "3.5.0"})
    assert upgrade.status_code == 202, upgrade.text
    assert lab.commits() == commits
    rolled = approve(gated, rollback.json()["change_request"], bob)
    assert rolled.json()["state"] == "applied", rolled.text
    assert "replicaCount: 2" in lab.show(PROD_VALUES)
    # The rollback moved the instance: the upgrade proposed before it is stale now.
    assert approve(gated, upgrade.json()["change_request"], bob).status_code == 409
    again = gated.client.post(url_of(PROD) + "/upgrade", json={"version": "3.5.0"})
    upgraded = approve(gated, again.json()["change_request"], bob)
    assert upgraded.json()["state"] == "applied", upgraded.text
    assert upgraded.json()["result"]["chart_version"] == "3.5.0"
    assert lab.commits() == commits + 2
    head = lab.log().split("diff --git")[0]
    assert "upgrade chart shop-acme-prod-eu-1 3.4.0 -> 3.5.0" in head
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in head
    events = gated.client.get("/api/v1/audit", params={"action": "chart.publish"}).json()
    assert any(event["after"].get("approved_by") == ["bob"] for event in events)


def test_a_template_user_creates_an_instance_and_is_answered_without_its_values(
    gated: Api, lab: GitLab
) -> None:
    # Defect: the creation was committed and pushed, then answered 404, because the answer
    # was read as the creator, who (a template-user) may create instances but not read them.
    tina = gated.as_user("tina", role="template-user")
    commits = lab.commits()
    created = gated.client.post("/api/v1/instances", json=instance_body(), headers=tina)
    assert created.status_code == 201, created.text
    assert lab.commits() == commits + 1
    body = created.json()
    assert (body["id"], body["created_by"], body["values"]) == (path_of(), "tina", None)
    assert created.headers["ETag"] == f'"{body["revision"]}"'
    assert gated.client.get(url_of(), headers=tina).status_code == 404
    assert gated.client.get(url_of()).json()["values"] == {"replicaCount": 2}
