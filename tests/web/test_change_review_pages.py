"""A change request's page shows a pending instance change as approving it would apply it
now (issue 12): the diffs of values.yaml, of the effective values and of Helm's rendered
objects against the instance as Git has it, a notice when the instance moved since the
request was made, and Helm's message at its file and line when the new values do not render
(the page answers 200, never 500). On SQLite and PostgreSQL, against a real Git remote over
smart HTTP and Debian's docker-registry."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fleets import edit_in_git
from tests.support.instances import PROD, GitLab, git_lab, path_of, url_of
from tests.support.registry import RegistryServer
from tests.web.conftest import csrf_of
from tests.web.instance_sites import USER_PASSWORD, InstanceSite, instance_site

pytestmark = [pytest.mark.registry]

PROD_VALUES = f"clusters/eu/{path_of(PROD)}/values.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    """Prod needs one approval; the prod instance exists (approved by ``bob``)."""
    with instance_site(
        tmp_path, database_url, lab, basic_registry, approvals={"prod": 1}
    ) as running:
        running.add_user("bob", "approver")
        created = running.create(PROD)
        with running.signed_in("bob", USER_PASSWORD) as bob:
            page = approve(bob, created["change_request"])
            # A creation is reviewed against nothing: every rendered object is new.
            assert "The instance does not exist yet" in section(page, "review-hint", "</p>")
            manifests = section(page, "review-manifests-diff")
            assert "+++ b/Deployment/shop-acme-prod-eu-1.yaml" in manifests
            assert "+  replicas: 2\n" in manifests
            assert "+replicaCount: 2" in section(page, "review-effective-diff")
            assert "+replicaCount: 2" in section(page, "review-values-diff")
            assert 'id="review-moved"' not in page
        yield running


def approve(bob: httpx.Client, request_id: int) -> str:
    """Approve on the request's page as ``bob``; the page before the approval."""
    page = bob.get(f"/changes/{request_id}")
    assert page.status_code == 200, page.text
    done = bob.post(
        f"/changes/{request_id}/approve",
        data={"csrf_token": csrf_of(page.text), "comment": ""},
        follow_redirects=True,
    )
    assert done.status_code == 200, done.text
    assert 'id="change-state">applied<' in done.text
    return page.text


def section(page: str, element_id: str, closing: str = "</pre>") -> str:
    """The text of the element with ``element_id`` up to ``closing``, without tags."""
    start = page.index(f'id="{element_id}"')
    return html.unescape(re.sub(r"<[^>]+>", "", page[start : page.index(closing, start)]))


def test_the_approver_sees_the_manifest_diff_and_when_the_instance_moved(
    site: InstanceSite,
) -> None:
    first = site.put_values({"replicaCount": 4}, PROD)["change_request"]
    second = site.put_values({"replicaCount": 5}, PROD)["change_request"]
    with site.signed_in("bob", USER_PASSWORD) as bob:
        page = bob.get(f"/changes/{first}")
        assert page.status_code == 200, page.text
        assert "+replicaCount: 4" in section(page.text, "review-values-diff")
        assert "+replicaCount: 4" in section(page.text, "review-effective-diff")
        manifests = section(page.text, "review-manifests-diff")
        assert "+++ b/Deployment/shop-acme-prod-eu-1.yaml" in manifests
        assert "-  replicas: 2\n+  replicas: 4\n" in manifests
        assert 'id="review-moved"' not in page.text
        assert f'href="{url_of(PROD).removeprefix("/api/v1")}"' in page.text

        approve(bob, first)
        moved = bob.get(f"/changes/{second}")
        assert "the request is stale" in section(moved.text, "review-moved", "</div>")
        assert "+replicaCount: 5" in section(moved.text, "review-values-diff")
        assert "-replicaCount: 4" in section(moved.text, "review-values-diff")


def test_a_rollback_to_values_helm_cannot_render_shows_helms_message_not_a_500(
    site: InstanceSite, lab: GitLab, tmp_path: Path
) -> None:
    broken = edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "image: x\n"}, "by hand")
    edit_in_git(lab, tmp_path / "outside", {PROD_VALUES: "replicaCount: 3\n"}, "fixed by hand")
    proposed = site.api.post(url_of(PROD) + "/rollback", json={"revision": broken})
    assert proposed.status_code == 202, proposed.text
    with site.signed_in("bob", USER_PASSWORD) as bob:
        page = bob.get(f"/changes/{proposed.json()['change_request']}")
    assert page.status_code == 200, page.text
    error = section(page.text, "review-manifests-error", "</div>")
    assert "shop-acme-prod-eu-1/templates/deployment.yaml:21: " in error
    assert "can't evaluate field repository" in error
    assert "+image: x" in section(page.text, "review-values-diff")
    assert "image" in section(page.text, "review-errors", "</div>")
    assert 'id="review-manifests-diff"' not in page.text
