"""Probes, metrics, the OpenAPI document, structured logs and the body size limit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from helmforge.server.app import state_of
from helmforge.server.log_formats import JsonFormatter
from tests.api.conftest import Api, TestClient
from tests.support.apps import make_app
from tests.support.charts import example_text


def test_probes_and_metrics_need_no_credentials(api: Api) -> None:
    anonymous = TestClient(api.app)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    api.client.get("/api/v1/templates")
    metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert (
        'helmforge_http_requests_total{method="GET",route="/api/v1/templates",status="200"}'
        in metrics.text
    )
    assert "helmforge_http_request_duration_seconds_bucket" in metrics.text


def test_readyz_answers_503_when_the_database_is_gone(tmp_path: Path) -> None:
    app, _ = make_app(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "data")
    state_of(app).engine.dispose()
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # a folder where the file was: SQLite cannot open it
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_openapi_document_describes_the_contract(api: Api) -> None:
    document = TestClient(api.app).get("/openapi.json").json()
    paths = document["paths"]
    assert "application/yaml" in paths["/api/v1/templates"]["post"]["requestBody"]["content"]
    assert "post" in paths["/api/v1/templates/{name}/versions/{version}/publish"]
    assert "post" in paths["/api/v1/charts"]
    assert "get" in paths["/api/v1/charts/{build_id}/archive"]


def test_bodies_over_the_limit_answer_413_before_parsing(database_url: str, tmp_path: Path) -> None:
    app, _ = make_app(database_url, tmp_path / "data", max_body_bytes=64 * 1024)
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    token = accounts.create_token(state_of(app).sessions, user="admin", actor=SYSTEM).token
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    huge = example_text(name="huge") + "#" * (64 * 1024)
    response = client.post(
        "/api/v1/templates", content=huge, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "TooLargeError"

    def chunks():  # no Content-Length: the limit counts streamed bytes
        for _ in range(100):
            yield b"x" * 1024

    streamed = client.post("/api/v1/templates", content=chunks())
    assert streamed.status_code == 413
    assert client.get("/api/v1/templates/huge/versions").status_code == 404
    state_of(app).engine.dispose()


def test_json_log_lines(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="helmforge.http"):
        api.client.get("/api/v1/templates/nope/versions")
    record = next(r for r in caplog.records if r.name == "helmforge.http")
    line = json.loads(JsonFormatter().format(record))
    assert line["http"]["status"] == 404
    assert line["http"]["route"] == "/api/v1/templates/{name}/versions"
    assert line["level"] == "info"
    assert api.token not in json.dumps(line)


def test_the_server_composes_the_web_ui_without_changing_the_api(full_api: Api) -> None:
    browser = TestClient(full_api.app, follow_redirects=False)
    assert browser.get("/").status_code in (302, 303, 307)
    assert state_of(full_api.app).session_resolver is not None
    paths = TestClient(full_api.app).get("/openapi.json").json()["paths"]
    assert all(path.startswith("/api/v1/") or path in PROBES for path in paths)
    # Without a session cookie the API still wants a token.
    assert browser.get("/api/v1/templates").status_code == 401
    assert full_api.client.get("/api/v1/templates").status_code == 200


PROBES = ("/healthz", "/readyz", "/metrics")
