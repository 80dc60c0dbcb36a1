"""Registry pages and Publish in the web UI, against the real registry with basic auth."""

from __future__ import annotations

import re

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.services import chart_builds, template_store
from tests.support.charts import CONTEXT, EXAMPLE
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.web.conftest import WebClient

pytestmark = [pytest.mark.registry]


def test_add_a_registry_publish_a_build_and_list_its_versions(
    web: WebClient, basic_registry: RegistryServer
) -> None:
    sessions = web.server.sessions
    template_store.seed_template(sessions, EXAMPLE, actor=SYSTEM)
    build = chart_builds.build_chart(
        sessions, template="web-service@1.2.0", context=CONTEXT, actor=SYSTEM
    )
    pages: list[str] = []
    empty = web.client.get(f"/charts/{build.id}/publish")
    assert "No registry is configured" in empty.text
    added = web.client.post(
        "/registries",
        data={
            "csrf_token": web.csrf("/registries"),
            "name": "lab",
            "url": f"oci://{basic_registry.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": "on",
        },
    )
    assert added.status_code == 303, added.text
    listing = web.client.get("/registries")
    assert "lab" in listing.text
    assert ROBOT in listing.text
    pages.append(listing.text)

    chart_page = web.client.get(f"/charts/{build.id}")
    assert f'href="/charts/{build.id}/publish"' in chart_page.text
    form = web.client.get(f"/charts/{build.id}/publish")
    assert '<option value="lab">' in form.text
    published = web.client.post(
        f"/charts/{build.id}/publish",
        data={"csrf_token": web.csrf("/registries"), "registry": "lab"},
    )
    assert published.status_code == 200, published.text
    assert "Published" in published.text
    assert build.digest in published.text
    again = web.client.post(
        f"/charts/{build.id}/publish",
        data={"csrf_token": web.csrf("/registries"), "registry": "lab"},
    )
    assert "unchanged" in again.text
    assert len(re.findall(r"<td data-label=\"Status\">", again.text)) == 2
    versions = web.client.get(f"/registries/lab/charts/{build.name}")
    assert versions.status_code == 200
    assert "<code>3.4.0</code>" in versions.text
    pages += [published.text, again.text, versions.text]

    bad = web.client.post(
        "/registries",
        data={
            "csrf_token": web.csrf("/registries"),
            "name": "bad",
            "url": "https://not-oci",
            "password": CANARY_PASSWORD,
        },
    )
    assert bad.status_code == 422
    assert "oci://" in bad.text
    pages.append(bad.text)
    for text in pages:
        assert CANARY_PASSWORD not in text

    deleted = web.client.post(
        "/registries/lab/delete", data={"csrf_token": web.csrf("/registries")}
    )
    assert deleted.status_code == 303
    assert "No registry configured yet" in web.client.get("/registries").text


def test_forms_need_the_csrf_token(web: WebClient) -> None:
    refused = web.client.post("/registries", data={"name": "x", "url": "oci://example.com/x"})
    assert refused.status_code == 403


def test_a_publish_conflict_offers_the_way_on_instead_of_a_dead_end(
    web: WebClient, basic_registry: RegistryServer
) -> None:
    sessions = web.server.sessions
    template_store.seed_template(sessions, EXAMPLE, actor=SYSTEM)
    first = chart_builds.build_chart(
        sessions, template="web-service@1.2.0", context=CONTEXT, actor=SYSTEM
    )
    other = chart_builds.build_chart(
        sessions,
        template="web-service@1.2.0",
        context=CONTEXT,
        values={"replicaCount": 5},
        actor=SYSTEM,
    )
    token = web.csrf("/registries")
    web.client.post(
        "/registries",
        data={
            "csrf_token": token,
            "name": "lab",
            "url": f"oci://{basic_registry.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": "on",
        },
    )
    published = web.client.post(
        f"/charts/{first.id}/publish", data={"csrf_token": token, "registry": "lab"}
    )
    assert published.status_code == 200, published.text
    conflict = web.client.post(
        f"/charts/{other.id}/publish", data={"csrf_token": token, "registry": "lab"}
    )
    assert conflict.status_code == 409
    assert "Ways on" in conflict.text
    assert f'href="/registries/lab/charts/{other.name}"' in conflict.text
    assert 'href="/generate?template=web-service&amp;version=1.2.0"' in conflict.text
    assert '<table class="responsive pushes">' in conflict.text
