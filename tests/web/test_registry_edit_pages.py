"""Editing a registry and testing its connection on the Registries page, against the real
docker-registry with basic auth; the robot's password (the canary) is never shown."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.web.conftest import WebClient

pytestmark = [pytest.mark.registry]


def audit_log(web: WebClient) -> str:
    with web.server.sessions() as session:
        rows = session.execute(sa.text("SELECT * FROM audit_events")).all()
    return json.dumps([list(map(str, row)) for row in rows])


def test_edit_a_registry_and_test_its_connection_on_the_page(
    web: WebClient, basic_registry: RegistryServer
) -> None:
    url = f"oci://{basic_registry.authority}/{unique_path()}"
    token = web.csrf("/registries")
    added = web.client.post(
        "/registries",
        data={
            "csrf_token": token,
            "name": "lab",
            "url": url,
            "username": ROBOT,
            "password": "not-the-password",
            "plain_http": "on",
        },
    )
    assert added.status_code == 303, added.text
    pages: list[str] = []
    listing = web.client.get("/registries")
    pages.append(listing.text)
    assert 'action="/registries/lab/edit"' in listing.text
    assert 'action="/registries/lab/test"' in listing.text

    denied = web.client.post("/registries/lab/test", data={"csrf_token": token})
    pages.append(denied.text)
    assert denied.status_code == 200
    assert "lab: access denied." in denied.text
    assert f"refused the password of user {ROBOT!r}" in denied.text.replace("&#39;", "'")

    saved = web.client.post(
        "/registries/lab/edit",
        data={
            "csrf_token": token,
            "url": url,
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": "on",
        },
    )
    assert saved.status_code == 303, saved.text
    works = web.client.post("/registries/lab/test", data={"csrf_token": token})
    pages.append(works.text)
    assert "lab: connection works." in works.text

    # An empty password field keeps the stored password.
    kept = web.client.post(
        "/registries/lab/edit",
        data={"csrf_token": token, "url": url, "username": ROBOT, "plain_http": "on"},
    )
    assert kept.status_code == 303
    still = web.client.post("/registries/lab/test", data={"csrf_token": token})
    pages.append(still.text)
    assert "lab: connection works." in still.text

    wrong = web.client.post(
        "/registries/lab/edit",
        data={"csrf_token": token, "url": "https://nope", "password": CANARY_PASSWORD},
    )
    pages.append(wrong.text)
    assert wrong.status_code == 422
    assert "lab: &#39;https://nope&#39; is not an OCI reference" in wrong.text
    assert '<details class="card" id="edit-lab" open>' in wrong.text

    assert all(CANARY_PASSWORD not in page for page in pages)
    log = audit_log(web)
    assert "registry.update" in log
    assert CANARY_PASSWORD not in log


def test_edit_and_test_need_the_csrf_token(web: WebClient) -> None:
    assert web.client.post("/registries/lab/test", data={}).status_code == 403
    assert web.client.post("/registries/lab/edit", data={"url": "oci://h/x"}).status_code == 403
