"""The template format reference page, and the editor pages linking to it."""

from __future__ import annotations

import html
import re

import httpx

from helmforge.core.contexts import CONTEXT_KEYS
from helmforge.core.templates.models import PARAMETER_KEYS, PARAMETER_TYPES
from helmforge.core.templates.parsing import CHART_VERSION_POLICIES
from tests.web.conftest import LiveServer, WebClient

LINK = 'href="/help/template-format"'


def test_the_format_reference_names_every_key_the_parser_knows(web: WebClient) -> None:
    page = web.client.get("/help/template-format")
    assert page.status_code == 200
    assert "<h1>Template format</h1>" in page.text
    text = html.unescape(re.sub(r"<[^>]+>", "", page.text))
    spec_keys = (
        "kubernetesVersion",
        "chartVersionPolicy",
        "values",
        "layers",
        "resources",
        "migrations",
    )
    for key in (*spec_keys, *PARAMETER_KEYS, *PARAMETER_TYPES, *CHART_VERSION_POLICIES):
        assert re.search(rf"\b{key}\b", text), key
    for key in (*CONTEXT_KEYS, "name"):
        assert f"${{ctx.{key}}}" in text or f"<code>{key}</code>" in page.text, key
    assert "${values.PATH}" in text
    # The Go-template delimiters are shown as text, not swallowed by the page's own rendering.
    assert "{{ and }} in a" in text
    # Every link inside the page leads to one of its sections or to the starter.
    anchors = set(re.findall(r'id="([a-z-]+)"', page.text))
    for target in re.findall(r'href="#([a-z-]+)"', page.text):
        assert target in anchors, target


def test_the_editor_pages_link_to_the_reference(web: WebClient) -> None:
    new = web.client.get("/templates/new")
    assert new.text.count(LINK) == 2  # the page's introduction and the editor's hint
    starter = web.client.get("/templates/new?starter=1")
    assert LINK in starter.text


def test_the_reference_needs_a_sign_in(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as anonymous:
        answer = anonymous.get("/help/template-format")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
