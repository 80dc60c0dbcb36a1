"""Chart builds over the API: recorded, reproducible, downloadable, and valid for Helm."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from helmforge import __version__
from helmforge.adapters.storage.server_tables import ChartBuildRow
from helmforge.services import chart_builds
from tests.api.conftest import Api
from tests.support.charts import CONTEXT, example_text
from tests.support.helm import assert_helm_lints

BUILD = {"template": "web-service@1.2.0", "context": CONTEXT, "values": {}}


def test_build_answers_201_and_the_archive_matches_its_digest(api: Api, tmp_path: Path) -> None:
    response = api.client.post("/api/v1/charts", json=BUILD)
    assert response.status_code == 201, response.text
    build = response.json()
    assert build["name"] == "ledger-acme-prod-a1"
    assert build["version"] == "3.4.0"
    assert build["template"] == "web-service@1.2.0"
    assert build["created_by"] == "admin"
    assert build["context"] == CONTEXT
    archive = api.client.get(f"/api/v1/charts/{build['id']}/archive")
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/gzip"
    assert "ledger-acme-prod-a1-3.4.0.tgz" in archive.headers["content-disposition"]
    assert "sha256:" + hashlib.sha256(archive.content).hexdigest() == build["digest"]
    assert api.client.get(f"/api/v1/charts/{build['id']}").json() == build


def test_a_build_answers_the_generator_that_produced_its_bytes(api: Api) -> None:
    built = api.client.post("/api/v1/charts", json=BUILD).json()
    assert built["generator"] == chart_builds.generator()
    assert set(built["generator"]) == {"helmforge", "python", "zlib", "pyyaml"}
    assert built["generator"]["helmforge"] == __version__
    assert api.client.get(f"/api/v1/charts/{built['id']}").json()["generator"] == built["generator"]
    listed = api.client.get("/api/v1/charts", params={"template": "web-service"}).json()
    assert [build["generator"] for build in listed] == [built["generator"]]


def test_a_build_recorded_before_generators_were_answers_null(api: Api) -> None:
    built = api.client.post("/api/v1/charts", json=BUILD).json()
    with api.sessions.begin() as session:
        row = session.get(ChartBuildRow, built["id"])
        assert row is not None
        row.generator = None
    answered = api.client.get(f"/api/v1/charts/{built['id']}").json()
    assert answered == {**built, "generator": None}


@pytest.mark.helm
def test_the_built_archive_passes_helm_lint(api: Api, tmp_path: Path) -> None:
    build = api.client.post("/api/v1/charts", json={**BUILD, "values": {"replicaCount": 4}}).json()
    path = tmp_path / build["file_name"]
    path.write_bytes(api.client.get(f"/api/v1/charts/{build['id']}/archive").content)
    assert_helm_lints(path)


def test_same_inputs_give_the_same_digest_and_list_shows_both(api: Api) -> None:
    first = api.client.post("/api/v1/charts", json=BUILD).json()
    second = api.client.post("/api/v1/charts", json=BUILD).json()
    assert first["id"] != second["id"]
    assert first["digest"] == second["digest"]
    listed = api.client.get("/api/v1/charts", params={"template": "web-service"}).json()
    assert {b["id"] for b in listed} == {first["id"], second["id"]}


def test_files_and_preview_show_every_file(api: Api) -> None:
    build = api.client.post("/api/v1/charts", json=BUILD).json()
    files = api.client.get(f"/api/v1/charts/{build['id']}/files").json()["files"]
    assert "Chart.yaml" in files
    assert "values.yaml" in files
    assert any(path.startswith("templates/") for path in files)
    preview = api.client.post("/api/v1/charts/preview", json=BUILD)
    assert preview.status_code == 200
    assert preview.json()["files"] == files


def test_effective_values_carry_their_provenance(api: Api) -> None:
    response = api.client.post(
        "/api/v1/charts/effective-values", json={**BUILD, "values": {"replicaCount": 7}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["values"]["replicaCount"] == 7
    assert body["provenance"]


def test_bad_inputs_answer_4xx_and_record_nothing(api: Api) -> None:
    cases = [
        ({**BUILD, "context": {**CONTEXT, "customer": "Not_A_Label"}}, 422),
        ({**BUILD, "context": {"product": "x"}}, 422),
        ({**BUILD, "values": {"replicaCount": "three"}}, 422),
        ({**BUILD, "template": "missing@1.0.0"}, 404),
        ({**BUILD, "template": "web-service@9.9.9"}, 404),
        ({**BUILD, "template": "@"}, 422),
        ({"template": "web-service@1.2.0"}, 422),
        ({**BUILD, "unexpected": 1}, 422),
    ]
    for body, status in cases:
        response = api.client.post("/api/v1/charts", json=body)
        assert response.status_code == status, (body, response.text)
    assert api.client.get("/api/v1/charts").json() == []


def test_drafts_are_previewed_but_not_built(api: Api) -> None:
    created = api.client.post(
        "/api/v1/templates",
        content=example_text(name="shop", version="0.1.0"),
        headers={"Content-Type": "application/yaml"},
    )
    assert created.status_code == 201
    draft = {**BUILD, "template": "shop@0.1.0"}
    assert api.client.post("/api/v1/charts/preview", json=draft).status_code == 200
    refused = api.client.post("/api/v1/charts", json=draft)
    assert refused.status_code == 409
    assert "published versions only" in refused.json()["message"]


def test_unknown_build_answers_404(api: Api) -> None:
    for path in ("/api/v1/charts/0123", "/api/v1/charts/x" * 30 + "/archive"):
        assert api.client.get(path).status_code == 404


def _with_greeting_pattern(pattern: str, default: str) -> str:
    return example_text(name="redos", version="1.0.0").replace(
        '      default: "Hello from ${ctx.customer}"\n',
        f"      default: {default}\n      schema: {{pattern: '{pattern}'}}\n",
        1,
    )


def test_redos_pattern_value_answers_422_promptly_and_healthz_still_answers(api: Api) -> None:
    # The defect: a value of 28 a's and "!" against ^(a+)+$ took 28 s in Python's
    # backtracking re and /healthz waited with it (the GIL); now patterns run in linear time.
    yaml_body = {"Content-Type": "application/yaml"}
    created = api.client.post(
        "/api/v1/templates", content=_with_greeting_pattern("^(a+)+$", "aaaa"), headers=yaml_body
    )
    assert created.status_code == 201, created.text
    published = api.client.post("/api/v1/templates/redos/versions/1.0.0/publish")
    assert published.status_code == 200, published.text
    for count in (28, 10_000):
        body = {**BUILD, "template": "redos@1.0.0", "values": {"greeting": "a" * count + "!"}}
        response = api.client.post("/api/v1/charts", json=body)
        assert response.status_code == 422, response.text
        assert "values.greeting" in response.text
        assert "does not match '^(a+)+$'" in response.text
        assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/api/v1/charts").json() == []


def test_pattern_needing_backtracking_is_refused_naming_the_parameter(api: Api) -> None:
    text = _with_greeting_pattern(r"^(a)\1$", "aa")
    checked = api.client.post(
        "/api/v1/templates/validate", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["valid"] is False
    (problem,) = [p for p in body["problems"] if "pattern" in p["message"]]
    assert problem["path"] == "spec.values.greeting.schema.pattern"
    assert "backreference" in problem["message"]
    assert "linear-time matching does not support" in problem["message"]
