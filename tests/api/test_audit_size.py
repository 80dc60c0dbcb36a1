"""The audit trail does not grow with the size of what it describes, and pages."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.api.conftest import Api, example_text

YAML = {"Content-Type": "application/yaml"}
PATH = "/api/v1/templates/big/versions/1.0.0"


def _big_text(edit: int) -> str:
    # About 1.9 MB: the example template followed by comment lines; one line changes per edit.
    filler = "".join(f"# filler line {n:06d} {'x' * 60}\n" for n in range(25_000))
    return example_text(name="big", version="1.0.0") + f"# edit {edit}\n" + filler


def test_a_big_draft_saved_many_times_keeps_the_audit_page_small(api: Api) -> None:
    text = _big_text(0)
    assert len(text) > 1_900_000
    created = api.client.post("/api/v1/templates", content=text, headers=YAML)
    assert created.status_code == 201, created.text
    revision = created.json()["revision"]
    for edit in range(1, 6):
        text = _big_text(edit)
        saved = api.client.put(PATH, json={"content": text, "revision": revision})
        assert saved.status_code == 200, saved.text
        revision = saved.json()["revision"]
    page = api.client.get("/api/v1/audit", params={"limit": 1000})
    assert page.status_code == 200
    assert len(page.content) < 64 * 1024, len(page.content)  # was 6 x 2 x 1.9 MB
    events: dict[str, dict[str, Any]] = {}
    for event in page.json():  # newest first: keep each action's newest event
        if event["target"] == "template:big@1.0.0":
            events.setdefault(event["action"], event)
    update = events["template.update"]
    assert update["after"]["content"] == {
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "bytes": len(text.encode()),
        "lines": text.count("\n"),
    }
    assert update["before"]["content"]["sha256"] != update["after"]["content"]["sha256"]
    assert "-# edit 4\n+# edit 5\n" in update["after"]["content_diff"]
    assert len(update["after"]["content_diff"]) < 4096
    assert events["template.create"]["after"]["content"]["bytes"] == len(_big_text(0))


def test_the_audit_log_pages_with_a_next_link(api: Api) -> None:
    for label in ("a", "b", "c"):
        assert api.client.post("/api/v1/tokens", json={"label": label}).status_code == 201
    first = api.client.get("/api/v1/audit", params={"limit": 2, "action": "token.create"})
    assert [e["action"] for e in first.json()] == ["token.create"] * 2
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    following = api.client.get(link[1 : link.index(">")])
    assert following.status_code == 200
    ids = [e["id"] for e in first.json()] + [e["id"] for e in following.json()]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids) >= 3
    last = api.client.get("/api/v1/audit", params={"limit": 1000, "action": "token.create"})
    assert "link" not in last.headers
