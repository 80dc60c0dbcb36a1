"""Templates over the API: create, validate, edit with revisions, publish, deprecate, diff."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.support.charts import example_text

YAML = {"Content-Type": "application/yaml"}


def _create(api: Api, *, name: str = "shop", version: str = "1.0.0") -> dict:
    response = api.client.post(
        "/api/v1/templates", content=example_text(name=name, version=version), headers=YAML
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_example_template_is_seeded_and_published(api: Api) -> None:
    listing = api.client.get("/api/v1/templates").json()
    assert listing == [
        {
            "name": "web-service",
            "versions": [{"version": "1.2.0", "status": "published"}],
            "latest_published": "1.2.0",
        }
    ]


def test_create_answers_201_with_a_draft_and_409_for_the_same_version(api: Api) -> None:
    created = _create(api)
    assert (created["name"], created["version"], created["status"], created["revision"]) == (
        "shop",
        "1.0.0",
        "draft",
        1,
    )
    again = api.client.post(
        "/api/v1/templates", content=example_text(name="shop", version="1.0.0"), headers=YAML
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]


def test_invalid_template_answers_422_with_lines_and_stores_nothing(api: Api) -> None:
    text = example_text(name="broken").replace('kubernetesVersion: "1.31"', "kubernetesVersion: 1")
    text = text.replace("apiVersion: helmforge.dev/v1", "apiVersion: helmforge.dev/v9", 1)
    response = api.client.post("/api/v1/templates", content=text, headers=YAML)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert any(p["line"] == 2 and p["path"] == "apiVersion" for p in problems), problems
    assert api.client.get("/api/v1/templates/broken/versions").status_code == 404


def test_validate_reports_problems_by_line_without_storing(api: Api) -> None:
    good = api.client.post("/api/v1/templates/validate", content=example_text(), headers=YAML)
    assert good.status_code == 200
    assert good.json()["valid"] is True
    bad = api.client.post(
        "/api/v1/templates/validate", content="apiVersion: x\nkind: Template\n", headers=YAML
    )
    body = bad.json()
    assert body["valid"] is False
    assert any(p["line"] == 1 for p in body["problems"])


def test_yaml_syntax_error_and_non_utf8_answer_422(api: Api) -> None:
    for content in (b"metadata: {name: [\n", b"\xff\xfe\x00junk", b""):
        response = api.client.post("/api/v1/templates", content=content, headers=YAML)
        assert response.status_code == 422, (content, response.text)


def test_stale_edit_answers_409_with_the_current_state(api: Api) -> None:
    _create(api)
    first = example_text(name="shop", version="1.0.0").replace(
        "description: Pods to run", "description: Pods (first edit)", 1
    )
    second = example_text(name="shop", version="1.0.0").replace(
        "description: Pods to run", "description: Pods (second edit)", 1
    )
    url = "/api/v1/templates/shop/versions/1.0.0"
    saved = api.client.put(url, json={"content": first, "revision": 1})
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == 2
    stale = api.client.put(url, json={"content": second, "revision": 1})
    assert stale.status_code == 409
    current = stale.json()["current"]
    assert current["revision"] == 2
    assert current["content"] == first
    assert api.client.get(url).json()["content"] == first


def test_edit_may_not_rename_the_version(api: Api) -> None:
    _create(api)
    response = api.client.put(
        "/api/v1/templates/shop/versions/1.0.0",
        json={"content": example_text(name="shop", version="2.0.0"), "revision": 1},
    )
    assert response.status_code == 422
    assert "must stay" in response.json()["message"]


def test_published_version_never_changes(api: Api) -> None:
    _create(api)
    url = "/api/v1/templates/shop/versions/1.0.0"
    published = api.client.post(url + "/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert api.client.post(url + "/publish").json()["revision"] == published.json()["revision"]
    changed = example_text(name="shop", version="1.0.0").replace("default: 1\n", "default: 2\n", 1)
    edit = api.client.put(url, json={"content": changed, "revision": published.json()["revision"]})
    assert edit.status_code == 409
    assert "never changes" in edit.json()["message"]
    assert api.client.get(url).json()["content"] == example_text(name="shop", version="1.0.0")


def test_publish_with_a_stale_revision_is_refused(api: Api) -> None:
    _create(api)
    response = api.client.post("/api/v1/templates/shop/versions/1.0.0/publish?revision=7")
    assert response.status_code == 409
    assert response.json()["current"]["status"] == "draft"


def test_deprecate_only_after_publish(api: Api) -> None:
    _create(api)
    url = "/api/v1/templates/shop/versions/1.0.0"
    assert api.client.post(url + "/deprecate").status_code == 409
    api.client.post(url + "/publish")
    deprecated = api.client.post(url + "/deprecate")
    assert deprecated.status_code == 200
    assert deprecated.json()["status"] == "deprecated"
    assert api.client.post(url + "/publish").status_code == 409


def test_diff_export_and_versions(api: Api) -> None:
    _create(api, version="1.0.0")
    newer = example_text(name="shop", version="1.1.0").replace(
        "default: IfNotPresent", "default: Always", 1
    )
    assert api.client.post("/api/v1/templates", content=newer, headers=YAML).status_code == 201
    diff = api.client.get("/api/v1/templates/shop/diff", params={"old": "1.0.0", "new": "1.1.0"})
    assert diff.status_code == 200
    text = diff.json()["diff"]
    assert "--- shop@1.0.0" in text
    assert "-        default: IfNotPresent" in text
    assert "+        default: Always" in text
    exported = api.client.get("/api/v1/templates/shop/versions/1.1.0/yaml")
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.text == newer
    versions = api.client.get("/api/v1/templates/shop/versions").json()
    assert [v["version"] for v in versions] == ["1.0.0", "1.1.0"]


def test_unknown_template_answers_404(api: Api) -> None:
    assert api.client.get("/api/v1/templates/nope/versions/1.0.0").status_code == 404
    missing = api.client.get("/api/v1/templates/nope/diff", params={"old": "1", "new": "2"})
    assert missing.status_code == 404


def test_drafts_can_be_deleted_published_versions_cannot(api: Api) -> None:
    _create(api, version="1.0.0")
    _create(api, version="2.0.0")
    url = "/api/v1/templates/shop/versions"
    assert api.client.delete(f"{url}/1.0.0", params={"revision": 5}).status_code == 409
    assert api.client.delete(f"{url}/1.0.0", params={"revision": 1}).status_code == 204
    assert api.client.get(f"{url}/1.0.0").status_code == 404
    api.client.post(f"{url}/2.0.0/publish")
    refused = api.client.delete(f"{url}/2.0.0", params={"revision": 2})
    assert refused.status_code == 409
    assert api.client.get(f"{url}/2.0.0").json()["status"] == "published"
    _create(api, name="scratch", version="0.1.0")
    assert (
        api.client.delete("/api/v1/templates/scratch/versions/0.1.0?revision=1").status_code == 204
    )
    assert all(t["name"] != "scratch" for t in api.client.get("/api/v1/templates").json())
    deleted = api.client.get("/api/v1/audit", params={"action": "template.delete"}).json()
    assert {e["target"] for e in deleted} == {"template:shop@1.0.0", "template:scratch@0.1.0"}
