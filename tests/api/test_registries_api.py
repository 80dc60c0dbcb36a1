"""Registries and Publish over the API, against Debian's docker-registry with basic auth.

Every test runs on SQLite and on PostgreSQL. The robot account's password is the canary: it
must never appear in a response, a log line, an audit event or a database row in clear.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helmforge.adapters.oci import RegistryClient
from helmforge.core.chart_annotations import CONTENT_DIGEST_ANNOTATION
from helmforge.core.errors import InputError
from helmforge.core.oci.artifacts import layer_digest_of
from helmforge.core.oci.references import Registry
from helmforge.core.secrets import Secret
from helmforge.core.yaml_codec import load_single
from helmforge.server.app import state_of
from tests.api.conftest import Api
from tests.support.apps import make_app
from tests.support.charts import CONTEXT, example_text
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path

pytestmark = [pytest.mark.registry]

BUILD = {"template": "web-service@1.2.0", "context": CONTEXT, "values": {}}
YAML = {"Content-Type": "application/yaml"}


def add_registry(api: Api, server: RegistryServer, *, name: str = "lab") -> dict[str, Any]:
    body = {
        "name": name,
        "url": f"oci://{server.authority}/{unique_path()}",
        "username": ROBOT,
        "password": CANARY_PASSWORD,
        "plain_http": True,
    }
    response = api.client.post("/api/v1/registries", json=body)
    assert response.status_code == 201, response.text
    assert CANARY_PASSWORD not in response.text
    return dict(response.json())


def build(api: Api, **changes: Any) -> dict[str, Any]:
    response = api.client.post("/api/v1/charts", json={**BUILD, **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def publish(api: Api, build_id: str, registry: str = "lab") -> Any:
    return api.client.post(f"/api/v1/charts/{build_id}/publish", json={"registry": registry})


def read_back(server: RegistryServer, url: str, repository_tag: str) -> dict[str, Any]:
    registry = Registry(url, plain_http=True, username=ROBOT, password=Secret(CANARY_PASSWORD))
    repository, _, tag = repository_tag.rpartition(":")
    with_client = RegistryClient(registry)
    try:
        manifest = with_client.get_manifest(repository, tag)
    finally:
        with_client.close()
    assert manifest is not None
    return dict(manifest.data)


def all_rows(api: Api) -> str:
    with state_of(api.app).engine.connect() as connection:
        tables = ("registries", "chart_pushes", "audit_events")
        return json.dumps(
            {
                t: [list(map(str, r)) for r in connection.execute(sa.text(f"SELECT * FROM {t}"))]
                for t in tables
            }
        )


def test_publish_reads_back_as_the_build_and_republish_is_unchanged(
    api: Api, basic_registry: RegistryServer
) -> None:
    registry = add_registry(api, basic_registry)
    assert registry["has_password"] is True
    assert registry["username"] == ROBOT
    chart = build(api)
    first = publish(api, chart["id"])
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["status"] == "pushed"
    assert result["build_id"] == chart["id"]
    assert result["policy"] == "app"
    assert result["version"] == chart["version"] == "3.4.0"
    assert result["layer_digest"] == chart["digest"]
    manifest = read_back(basic_registry, registry["url"], f"{result['repository']}:{result['tag']}")
    assert layer_digest_of(manifest) == chart["digest"]
    assert manifest["annotations"][CONTENT_DIGEST_ANNOTATION].startswith("sha256:")

    again = publish(api, build(api)["id"])  # same inputs: same archive bytes
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "unchanged"
    assert again.json()["manifest_digest"] == result["manifest_digest"]

    versions = api.client.get(f"/api/v1/registries/lab/charts/{chart['name']}/versions")
    assert versions.status_code == 200, versions.text
    assert versions.json()["versions"] == ["3.4.0"]
    assert versions.json()["repository"] == result["repository"]
    pushes = api.client.get(f"/api/v1/charts/{chart['id']}/pushes").json()
    assert [(p["status"], p["registry"], p["actor"]) for p in pushes] == [
        ("pushed", "lab", "admin")
    ]
    assert pushes[0]["layer_digest"] == chart["digest"]
    events = api.client.get("/api/v1/audit", params={"action": "chart.publish"}).json()
    assert {e["after"]["status"] for e in events} == {"pushed", "unchanged"}
    assert all(e["after"]["registry"] == "lab" for e in events)


def test_other_content_under_a_published_version_is_409_with_both_digests(
    api: Api, basic_registry: RegistryServer
) -> None:
    add_registry(api, basic_registry)
    first = build(api)
    assert publish(api, first["id"]).status_code == 200
    other = build(api, values={"replicaCount": 5})
    assert other["version"] == first["version"]
    assert other["digest"] != first["digest"]
    refused = publish(api, other["id"])
    assert refused.status_code == 409, refused.text
    assert first["digest"] in refused.json()["message"]
    assert other["digest"] in refused.json()["message"]
    (failed,) = api.client.get(f"/api/v1/charts/{other['id']}/pushes").json()
    assert failed["status"] == "failed"
    assert first["digest"] in failed["error"]


def test_credentials_are_encrypted_at_rest_and_never_shown(
    api: Api, basic_registry: RegistryServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    add_registry(api, basic_registry)
    seen = [api.client.get("/api/v1/registries").text]
    chart = build(api)
    seen.append(publish(api, chart["id"]).text)
    seen.append(api.client.get(f"/api/v1/registries/lab/charts/{chart['name']}/versions").text)
    seen.append(api.client.get("/api/v1/audit").text)
    # A bad body must not echo what was sent (FastAPI's own validation errors would).
    bad = api.client.post(
        "/api/v1/registries", json={"name": "x", "password": CANARY_PASSWORD, "extra": 1}
    )
    assert bad.status_code == 422
    seen.append(bad.text)
    # A wrong password: the registry refuses; the answer names the registry, not the secret.
    api.client.post(
        "/api/v1/registries",
        json={
            "name": "wrong",
            "url": f"oci://{basic_registry.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD + "-nope",
            "plain_http": True,
        },
    )
    refused = publish(api, chart["id"], "wrong")
    assert refused.status_code == 502, refused.text
    assert "wrong" in refused.json()["message"]
    seen.append(refused.text)
    for text in seen:
        assert CANARY_PASSWORD not in text
    assert CANARY_PASSWORD not in caplog.text
    rows = all_rows(api)
    assert CANARY_PASSWORD not in rows
    assert "lab" in rows
    with state_of(api.app).engine.connect() as connection:
        sealed = connection.execute(
            sa.text("SELECT password_encrypted FROM registries WHERE name = 'lab'")
        ).scalar_one()
    assert isinstance(sealed, str)
    assert sealed.startswith("gAAAA")  # a Fernet token
    database = str(state_of(api.app).engine.url.database or "")
    if state_of(api.app).engine.dialect.name == "sqlite":
        for path in Path(database).parent.glob(Path(database).name + "*"):
            assert CANARY_PASSWORD.encode() not in path.read_bytes()
    key_file = state_of(api.app).settings.data_dir / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_auto_policy_picks_the_next_patch_only_for_changed_content(
    api: Api, basic_registry: RegistryServer
) -> None:
    text = example_text(name="auto-svc", version="1.0.0").replace(
        '  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n  chartVersionPolicy: auto\n'
    )
    assert api.client.post("/api/v1/templates", content=text, headers=YAML).status_code == 201
    assert api.client.post("/api/v1/templates/auto-svc/versions/1.0.0/publish").status_code == 200
    add_registry(api, basic_registry)
    original = build(api, template="auto-svc@1.0.0")
    assert original["version"] == "3.4.0"

    first = publish(api, original["id"]).json()
    assert (first["policy"], first["version"], first["status"]) == ("auto", "0.1.0", "pushed")
    assert first["requested_build_id"] == original["id"]
    assert first["build_id"] != original["id"]  # a build of the same inputs under 0.1.0

    same = publish(api, original["id"]).json()
    assert (same["version"], same["status"]) == ("0.1.0", "unchanged")
    assert same["build_id"] == first["build_id"]  # reused, not rebuilt

    changed = build(api, template="auto-svc@1.0.0", values={"replicaCount": 7})
    bumped = publish(api, changed["id"]).json()
    assert (bumped["version"], bumped["status"]) == ("0.1.1", "pushed")
    assert bumped["layer_digest"] != first["layer_digest"]

    versions = api.client.get(f"/api/v1/registries/lab/charts/{original['name']}/versions")
    assert versions.json()["versions"] == ["0.1.0", "0.1.1"]
    files = api.client.get(f"/api/v1/charts/{bumped['build_id']}/files").json()["files"]
    assert load_single(files["Chart.yaml"], source="Chart.yaml").data["version"] == "0.1.1"


def test_registry_admin_rules_and_errors(api: Api, basic_registry: RegistryServer) -> None:
    add_registry(api, basic_registry)
    again = api.client.post(
        "/api/v1/registries", json={"name": "lab", "url": "oci://example.com/x"}
    )
    assert again.status_code == 409
    bad_url = api.client.post("/api/v1/registries", json={"name": "b", "url": "https://x"})
    assert bad_url.status_code == 422
    assert "oci://" in bad_url.json()["message"]
    user = api.as_user("dev", role="developer")
    denied = api.client.post(
        "/api/v1/registries", json={"name": "mine", "url": "oci://example.com/x"}, headers=user
    )
    assert denied.status_code == 403
    assert api.client.delete("/api/v1/registries/lab", headers=user).status_code == 403
    assert publish(api, build(api)["id"], "nowhere").status_code == 404
    assert publish(api, "0" * 32).status_code == 404
    assert api.client.delete("/api/v1/registries/lab").status_code == 204
    assert api.client.get("/api/v1/registries").json() == []
    assert api.client.delete("/api/v1/registries/lab").status_code == 404


def test_publish_through_token_auth(api: Api, token_registry: RegistryServer) -> None:
    add_registry(api, token_registry, name="tokens")
    chart = build(api)
    first = publish(api, chart["id"], "tokens")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pushed"
    assert first.json()["layer_digest"] == chart["digest"]
    assert publish(api, chart["id"], "tokens").json()["status"] == "unchanged"
    versions = api.client.get(f"/api/v1/registries/tokens/charts/{chart['name']}/versions")
    assert versions.json()["versions"] == ["3.4.0"]
    assert CANARY_PASSWORD not in all_rows(api)


def test_the_key_is_settled_when_the_server_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with pytest.raises(InputError, match="HELMFORGE_SECRET_KEY"):
        make_app(url, data, secret_key="not-a-fernet-key")
    app, _ = make_app(url, data)
    state_of(app).engine.dispose()
    assert stat.S_IMODE(os.stat(data / "secret.key").st_mode) == 0o600
