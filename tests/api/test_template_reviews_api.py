"""Template review (DESIGN §9: "the template author may publish a template unless policy asks
for review by another creator"), through the real application on SQLite and PostgreSQL: with
HELMFORGE_TEMPLATE_REVIEW on, a publish answers 202 with a change request, the author cannot
approve it, another creator's approval publishes exactly the reviewed text with the reviewer
recorded, and a save in between makes it stale. Off (the default), authors publish at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import audit_trail
from tests.api.conftest import Api, serve_app
from tests.support.apps import make_app
from tests.support.charts import example_text

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def reviewed(database_url: str, tmp_path: Path) -> Iterator[Api]:
    app, password = make_app(database_url, tmp_path / "data", template_review=True)
    yield from serve_app(app, password)


def _draft(api: Api, author: dict[str, str], version: str = "2.0.0") -> None:
    created = api.client.post(
        "/api/v1/templates", content=example_text(version=version), headers={**author, **YAML}
    )
    assert created.status_code == 201, created.text


def _publish(api: Api, who: dict[str, str], version: str = "2.0.0") -> dict[str, object]:
    answer = api.client.post(
        f"/api/v1/templates/web-service/versions/{version}/publish", headers=who
    )
    assert answer.status_code in (200, 202), answer.text
    return dict(answer.json())


def test_with_review_on_a_publish_becomes_a_change_request_and_nothing_is_published(
    reviewed: Api,
) -> None:
    carl = reviewed.as_user("carl", role="template-creator")
    _draft(reviewed, carl)
    request = _publish(reviewed, carl)
    assert (request["kind"], request["target"], request["state"]) == (
        "template.publish",
        "web-service",
        "pending",
    )
    assert "web-service@1.2.0" in str(request["diff"])  # the diff against the published one
    version = reviewed.client.get("/api/v1/templates/web-service/versions/2.0.0").json()
    assert version["status"] == "draft"


def test_the_author_cannot_approve_their_own_template_review(reviewed: Api) -> None:
    carl = reviewed.as_user("carl", role="template-creator")
    _draft(reviewed, carl)
    request = _publish(reviewed, carl)
    refused = reviewed.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=carl
    )
    assert refused.status_code == 403
    assert "carl requested change request" in refused.text


def test_another_creators_approval_publishes_with_the_reviewer_recorded(reviewed: Api) -> None:
    carl = reviewed.as_user("carl", role="template-creator")
    dana = reviewed.as_user("dana", role="template-creator")
    _draft(reviewed, carl)
    request = _publish(reviewed, carl)
    approved = reviewed.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=dana
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "applied"
    version = reviewed.client.get("/api/v1/templates/web-service/versions/2.0.0").json()
    assert version["status"] == "published"
    [event] = [
        e
        for e in audit_trail.list_events(
            state_of(reviewed.app).sessions, actor=SYSTEM, action="template.publish"
        )
        if e.target == "template:web-service@2.0.0"
    ]
    assert (event.actor, event.after["reviewed_by"]) == ("carl", ["dana"])


def test_a_template_user_cannot_review_a_template(reviewed: Api) -> None:
    carl = reviewed.as_user("carl", role="template-creator")
    ursula = reviewed.as_user("ursula", role="template-user")
    _draft(reviewed, carl)
    request = _publish(reviewed, carl)
    refused = reviewed.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=ursula
    )
    assert refused.status_code == 403
    assert "ursula may not template.publish on web-service" in refused.text


def test_a_save_in_between_makes_the_review_stale(reviewed: Api) -> None:
    carl = reviewed.as_user("carl", role="template-creator")
    dana = reviewed.as_user("dana", role="template-creator")
    _draft(reviewed, carl)
    request = _publish(reviewed, carl)
    current = reviewed.client.get("/api/v1/templates/web-service/versions/2.0.0").json()
    saved = reviewed.client.put(
        "/api/v1/templates/web-service/versions/2.0.0",
        json={
            "content": example_text(version="2.0.0").replace("Stateless", "Stateless, edited"),
            "revision": current["revision"],
        },
        headers=carl,
    )
    assert saved.status_code == 200, saved.text
    stale = reviewed.client.post(
        f"/api/v1/change-requests/{request['change_request']}/approve", json={}, headers=dana
    )
    assert stale.status_code == 409
    assert "is stale" in stale.text
    version = reviewed.client.get("/api/v1/templates/web-service/versions/2.0.0").json()
    assert version["status"] == "draft"


def test_without_review_the_author_publishes_at_once(api: Api) -> None:
    carl = api.as_user("carl", role="template-creator")
    _draft(api, carl)
    published = _publish(api, carl)
    assert published["status"] == "published"
