"""A pending instance change request as approving it would apply it now (issue 12, DESIGN §6
and §9), over the API on SQLite and PostgreSQL against a real ``git http-backend`` and
Debian's docker-registry: ``GET /api/v1/change-requests/{id}`` answers the diffs of
values.yaml, of the effective values and of Helm's rendered objects for values updates,
upgrades, rollbacks and promotions, from the instance as Git has it at view time, and for
creations from nothing; no chart
build is recorded for it; a request whose instance moved says so; a new side Helm cannot
render shows Helm's message at its file and line instead of failing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.core.access.changes import ApprovalRules
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.charts import example_text
from tests.support.fleets import edit_in_git
from tests.support.instances import (
    DEV,
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
DEPLOYMENT = "--- a/Deployment/shop-acme-prod-eu-1.yaml\n"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def gated(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[Api]:
    """A server whose prod changes need one approval, with the prod instance created (by
    ``bob``'s approval) at replicaCount 2."""
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        bob = api.as_user("bob", role="approver")
        proposed = api.client.post("/api/v1/instances", json=instance_body(PROD))
        assert proposed.status_code == 202, proposed.text
        created = approve(api, proposed.json()["change_request"], bob)
        assert created.json()["state"] == "applied", created.text
        yield api


def test_a_creation_request_shows_the_whole_new_instance_rendered_by_helm(
    database_url: str, tmp_path: Path, lab: GitLab, basic_registry: RegistryServer
) -> None:
    # Defect: a creation's review was null: the approver saw only the proposal's summary, no
    # manifests and no effective values.
    app, password = make_app(
        database_url, tmp_path / "data", approvals=ApprovalRules(by_environment={"prod": 1})
    )
    for api in serve_app(app, password):
        add_repository(api.client, lab)
        add_registry(api.client, basic_registry)
        body = instance_body(PROD, values={"replicaCount": 4, "greeting": "Hi from prod"})
        proposed = api.client.post("/api/v1/instances", json=body)
        assert proposed.status_code == 202, proposed.text
        request_id = proposed.json()["change_request"]
        commits, built = lab.commits(), builds(api.sessions)

        review = review_of(api, request_id)
        assert (review["creates"], review["moved"], review["revision"]) == (True, False, None)
        assert (review["note"], review["manifests_error"], review["errors"]) == (None, None, [])
        values = review["values_diff"]
        assert values.startswith(f"--- a/{PROD_VALUES}\n+++ b/{PROD_VALUES}\n@@ -0,0 +1,")
        assert "+replicaCount: 4\n+greeting: Hi from prod\n" in values
        effective = review["effective_diff"]
        assert "+replicaCount: 4\n" in effective
        assert '+  tag: "3.4.0"\n' in effective  # a chart default, not an override
        # Every object Helm renders, as Argo CD will apply it, all of it new.
        manifests = review["manifests_diff"]
        assert "+++ b/Deployment/shop-acme-prod-eu-1.yaml\n@@ -0,0 +1," in manifests
        assert "+  replicas: 4\n" in manifests
        assert '+          image: "acme.example.com/web:3.4.0"\n' in manifests
        assert '+  GREETING: "Hi from prod"\n' in manifests
        assert '+    helm.sh/chart: "shop-acme-prod-eu-1-' in manifests
        removed = [line for line in manifests.splitlines() if line.startswith("-")]
        assert all(line.startswith("--- a/") for line in removed), removed
        # Nothing committed, no chart build recorded for a review.
        assert (lab.commits(), builds(api.sessions)) == (commits, built)

        bob = api.as_user("bob", role="approver")
        assert approve(api, request_id, bob).json()["state"] == "applied"
        shown = api.client.get(f"/api/v1/change-requests/{request_id}").json()
        assert shown["review"] is None  # applied: nothing left to review


def approve(api: Api, request_id: int, headers: dict[str, str]) -> Any:
    return api.client.post(
        f"/api/v1/change-requests/{request_id}/approve", json={}, headers=headers
    )


def builds(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(ChartBuildRow)) or 0)


def propose_values(api: Api, values: dict[str, Any]) -> int:
    revision = api.client.get(url_of(PROD)).json()["revision"]
    proposed = api.client.put(
        url_of(PROD) + "/values", json={"values": values}, headers={"If-Match": f'"{revision}"'}
    )
    assert proposed.status_code == 202, proposed.text
    return int(proposed.json()["change_request"])


def review_of(api: Api, request_id: int, headers: dict[str, str] | None = None) -> Any:
    shown = api.client.get(f"/api/v1/change-requests/{request_id}", headers=headers or {})
    assert shown.status_code == 200, shown.text
    return shown.json()["review"]


def test_a_values_request_shows_the_three_diffs_against_the_instance_now_and_when_it_moved(
    gated: Api, lab: GitLab
) -> None:
    first = propose_values(gated, {"replicaCount": 4, "greeting": "Hi from prod"})
    second = propose_values(gated, {"replicaCount": 5})
    commits, built = lab.commits(), builds(gated.sessions)

    review = review_of(gated, first)
    assert review["moved"] is False
    assert review["revision"] == lab.head()
    assert "-replicaCount: 2\n+replicaCount: 4\n" in review["values_diff"]
    assert "+greeting: Hi from prod\n" in review["effective_diff"]
    # Helm's objects, as Argo CD renders them: its quoting and its labels.
    manifests = review["manifests_diff"]
    assert DEPLOYMENT in manifests
    assert "-  replicas: 2\n+  replicas: 4\n" in manifests
    assert '-  GREETING: "Hello from acme"\n+  GREETING: "Hi from prod"\n' in manifests
    assert review["manifests_error"] is None
    assert review["errors"] == []
    # Nothing committed, no chart build recorded for a review.
    assert (lab.commits(), builds(gated.sessions)) == (commits, built)

    # Once the first is applied the second is against another instance: it says so, and
    # its diffs start from what is there now.
    bob = gated.as_user("bob2", role="approver")
    assert approve(gated, first, bob).json()["state"] == "applied"
    moved = review_of(gated, second, bob)
    assert moved["moved"] is True
    assert moved["revision"] == lab.head()
    assert "-replicaCount: 4\n-greeting: Hi from prod\n+replicaCount: 5\n" in moved["values_diff"]
    assert "-  replicas: 4\n+  replicas: 5\n" in moved["manifests_diff"]
    refused = approve(gated, second, bob)
    assert refused.status_code == 409, refused.text
    shown = gated.client.get(f"/api/v1/change-requests/{second}").json()
    assert (shown["state"], shown["review"]) == ("stale", None)


def test_an_upgrade_request_shows_the_new_charts_objects(gated: Api, lab: GitLab) -> None:
    proposed = gated.client.post(url_of(PROD) + "/upgrade", json={"version": "3.5.0"})
    assert proposed.status_code == 202, proposed.text
    built = builds(gated.sessions)
    review = review_of(gated, proposed.json()["change_request"])
    assert review["moved"] is False
    assert review["values_diff"] == ""  # nothing to migrate: values.yaml stays
    assert '-  tag: "3.4.0"\n+  tag: "3.5.0"\n' in review["effective_diff"]
    manifests = review["manifests_diff"]
    assert '-          image: "acme.example.com/web:3.4.0"\n' in manifests
    assert '+          image: "acme.example.com/web:3.5.0"\n' in manifests
    assert '+    helm.sh/chart: "shop-acme-prod-eu-1-3.5.0"\n' in manifests
    assert builds(gated.sessions) == built


def test_a_rollback_to_values_helm_cannot_render_shows_helms_message_at_its_line(
    gated: Api, lab: GitLab, tmp_path: Path
) -> None:
    created = lab.head()
    broken = edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "image: x\n"}, "by hand")
    edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "replicaCount: 3\n"}, "fixed by hand")
    proposed = gated.client.post(url_of(PROD) + "/rollback", json={"revision": broken})
    assert proposed.status_code == 202, proposed.text
    review = review_of(gated, proposed.json()["change_request"])
    assert "-replicaCount: 3\n+image: x\n" in review["values_diff"]
    assert review["manifests_diff"] == ""
    error = review["manifests_error"]
    assert error.startswith("shop-acme-prod-eu-1/templates/deployment.yaml:21: ")
    assert "can't evaluate field repository" in error
    assert [problem["path"] for problem in review["errors"]] == ["image"]

    # A rollback to values that render shows them restored, object by object.
    again = gated.client.post(url_of(PROD) + "/rollback", json={"revision": created})
    assert again.status_code == 202, again.text
    restored = review_of(gated, again.json()["change_request"])
    assert "-replicaCount: 3\n" in restored["values_diff"]
    assert "+replicaCount: 2\n" in restored["values_diff"]
    assert "-  replicas: 3\n+  replicas: 2\n" in restored["manifests_diff"]
    assert (restored["manifests_error"], restored["errors"]) == (None, [])


def test_a_promotion_request_shows_the_targets_new_chart_and_promoted_values(
    gated: Api, lab: GitLab
) -> None:
    created = gated.client.post(
        "/api/v1/instances", json=instance_body(DEV, values={"replicaCount": 2, "logLevel": "warn"})
    )
    assert created.status_code == 201, created.text
    assert gated.client.post(url_of() + "/upgrade", json={"version": "3.5.0"}).status_code == 200
    proposed = gated.client.post(url_of() + "/promote", json={"to": "prod", "values": ["logLevel"]})
    assert proposed.status_code == 202, proposed.text
    built = builds(gated.sessions)
    review = review_of(gated, proposed.json()["change_request"])
    assert "+logLevel: warn\n" in review["values_diff"]
    manifests = review["manifests_diff"]
    assert '+          image: "acme.example.com/web:3.5.0"\n' in manifests
    assert "-  LOG_LEVEL:" not in manifests  # prod's layer already says warn
    assert builds(gated.sessions) == built


def publish(api: Api, text: str, version: str) -> None:
    added = api.client.post(
        "/api/v1/templates", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert added.status_code == 201, added.text
    published = api.client.post(f"/api/v1/templates/web-service/versions/{version}/publish")
    assert published.status_code == 200, published.text


def test_an_upgrade_request_shows_values_yaml_as_its_migration_leaves_it(gated: Api) -> None:
    migration = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'
    renamed = (
        example_text(version="2.0.0")
        .replace("    replicaCount:\n", "    replicas:\n", 1)
        .replace("        replicaCount: 3\n", "        replicas: 3\n", 1)
        .replace("${values.replicaCount}", "${values.replicas}")
        .replace('  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + migration, 1)
    )
    publish(gated, renamed, "2.0.0")
    proposed = gated.client.post(url_of(PROD) + "/upgrade", json={"template": "web-service@2.0.0"})
    assert proposed.status_code == 202, proposed.text
    review = review_of(gated, proposed.json()["change_request"])
    assert review["note"] is None, review
    values = review["values_diff"]
    assert "-replicaCount: 2\n+replicas: 2\n" in values
    assert "-# Values of" not in values  # the file's comments stay
    assert "-replicaCount: 2\n" in review["effective_diff"]
    assert "+replicas: 2\n" in review["effective_diff"]
    assert "replicas: 2" not in review["manifests_diff"]  # the Deployment keeps its 2 pods

    # What cannot be migrated is said instead of diffs (approving would refuse it too).
    retype = '  migrations:\n    - from: "<2.1.0"\n      retype: {greeting: boolean}\n'
    publish(
        gated,
        example_text(version="2.1.0").replace(
            '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + retype, 1
        ),
        "2.1.0",
    )
    revision = gated.client.get(url_of(PROD)).json()["revision"]
    greeted = gated.client.put(
        url_of(PROD) + "/values",
        json={"values": {"replicaCount": 2, "greeting": "hi"}},
        headers={"If-Match": f'"{revision}"'},
    )
    bob = gated.as_user("bob2", role="approver")
    assert approve(gated, greeted.json()["change_request"], bob).json()["state"] == "applied"
    blocked = gated.client.post(url_of(PROD) + "/upgrade", json={"template": "web-service@2.1.0"})
    assert blocked.status_code == 202, blocked.text
    said = review_of(gated, blocked.json()["change_request"])
    assert "greeting: 'hi' has no reading as boolean" in said["note"]
    assert (said["values_diff"], said["manifests_diff"]) == ("", "")
