"""A publish conflict on the Publish page shows the diff with the build already published
under that version, when helmforge recorded that push; else it says the build is not known."""

from __future__ import annotations

import html

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import chart_builds, registries, template_store
from helmforge.services.publishing import ChartArchive, publish_archives
from tests.support.charts import CONTEXT, EXAMPLE
from tests.support.registry import CANARY_PASSWORD, ROBOT, RegistryServer, unique_path
from tests.web.conftest import WebClient

pytestmark = [pytest.mark.registry]


def builds(web: WebClient) -> tuple[chart_builds.ChartBuildView, chart_builds.ChartBuildView]:
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
    assert (first.version, first.name) == (other.version, other.name)
    assert first.digest != other.digest
    return first, other


def add_lab(web: WebClient, server: RegistryServer, token: str) -> None:
    added = web.client.post(
        "/registries",
        data={
            "csrf_token": token,
            "name": "lab",
            "url": f"oci://{server.authority}/{unique_path()}",
            "username": ROBOT,
            "password": CANARY_PASSWORD,
            "plain_http": "on",
        },
    )
    assert added.status_code == 303, added.text


def test_a_conflict_shows_the_diff_with_the_published_build(
    web: WebClient, basic_registry: RegistryServer
) -> None:
    first, other = builds(web)
    token = web.csrf("/registries")
    add_lab(web, basic_registry, token)
    published = web.client.post(
        f"/charts/{first.id}/publish", data={"csrf_token": token, "registry": "lab"}
    )
    assert published.status_code == 200, published.text
    conflict = web.client.post(
        f"/charts/{other.id}/publish", data={"csrf_token": token, "registry": "lab"}
    )
    assert conflict.status_code == 409
    page = html.unescape(conflict.text)
    assert 'id="published-diff"' in page
    assert f'href="/charts/{first.id}"' in page
    assert "--- a/values.yaml\n+++ b/values.yaml\n" in page
    assert "\n-replicaCount: 3\n+replicaCount: 5\n" in page  # the prod layer's 3, then 5
    assert "not known here" not in page
    assert CANARY_PASSWORD not in conflict.text


def test_a_conflict_with_content_pushed_from_outside_says_it_is_not_known(
    web: WebClient, basic_registry: RegistryServer
) -> None:
    first, other = builds(web)
    token = web.csrf("/registries")
    add_lab(web, basic_registry, token)
    sessions = web.server.sessions
    key = state_of(web.server.app).registry_secret_key
    config = registries.open_config(sessions, "lab", key=key)
    _, archive = chart_builds.get_archive(sessions, first.id, actor=SYSTEM)
    (outside,) = publish_archives([ChartArchive("first.tgz", archive)], config, actor=SYSTEM)
    assert outside.status == "pushed"
    conflict = web.client.post(
        f"/charts/{other.id}/publish", data={"csrf_token": token, "registry": "lab"}
    )
    assert conflict.status_code == 409
    assert 'id="published-diff-unknown"' in conflict.text
    assert "is not known here" in conflict.text
    assert 'id="published-diff"' not in conflict.text
