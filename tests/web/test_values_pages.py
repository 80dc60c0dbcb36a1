"""Editing an instance's values in the pages, over a live server, a real Git remote over
smart HTTP and Debian's docker-registry, on SQLite and PostgreSQL: the schema form and the
YAML editor, the preview's three diffs, Save on the revision the edit began from (a stale
edit is 409 with the diff and writes nothing), schema problems with their paths, and a prod
edit that becomes a change request another person approves in the inbox."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from helmforge.core.yaml_codec import load_single
from tests.support.instances import PROD, GitLab, git_lab, path_of
from tests.support.registry import RegistryServer
from tests.web.conftest import csrf_of
from tests.web.instance_sites import USER_PASSWORD, InstanceSite, instance_site

pytestmark = [pytest.mark.registry]

EDIT = f"/instances/{path_of()}/edit"
VALUES = f"clusters/eu/{path_of()}/values.yaml"


class _FormFields(HTMLParser):
    """The name and value of every input of the page's values form (the one whose button
    is ``preview-form``), as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append({})
        elif not self.forms:
            return
        elif tag == "input" and "name" in found:
            self.forms[-1][found["name"]] = found.get("value", "")
        elif tag == "select":
            self._select = found.get("name")
            self.forms[-1].setdefault(self._select or "", "")
        elif tag == "option" and self._select and "selected" in found:
            self.forms[-1][self._select] = found.get("value", "\0")
        elif tag == "textarea":
            self._textarea = found.get("name")
            self.forms[-1][self._textarea or ""] = ""
        elif tag == "button" and found.get("value"):
            self.forms[-1].setdefault("action", found["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            self.forms[-1][self._textarea] += data
        if self._select and self.forms and self.forms[-1].get(self._select) == "\0":
            self.forms[-1][self._select] = data.strip()


def values_form(page: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page)
    return next(form for form in parser.forms if form.get("action") == "preview-form")


def save_form(page: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(page)
    return next(form for form in parser.forms if form.get("action") == "save")


def section(page: str, dom_id: str) -> str:
    """The text of the element with ``dom_id`` (tags removed, entities decoded)."""
    marker = page.index(f'id="{dom_id}"')
    start = page.rindex("<", 0, marker)
    tag = re.match(r"<(\w+)", page[start:])
    assert tag, dom_id
    name, depth, at = tag.group(1), 0, start
    for found in re.finditer(rf"<(/?){name}\b[^>]*>", page[start:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            at = start + found.end()
            break
    return html.unescape(re.sub(r"<[^>]+>", "", page[start:at]))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(tmp_path, database_url, lab, basic_registry) as running:
        running.create()
        yield running


def preview_yaml(client: httpx.Client, text: str, *, path: str = EDIT) -> httpx.Response:
    page = client.get(path)
    assert page.status_code == 200, page.text
    form = values_form(page.text)
    return client.post(
        path,
        data={
            "csrf_token": form["csrf_token"],
            "revision": form["revision"],
            "action": "preview-yaml",
            "values_yaml": text,
        },
    )


def test_the_form_previews_the_three_diffs_and_save_commits_only_the_overrides(
    site: InstanceSite, lab: GitLab
) -> None:
    commits = lab.commits()
    with site.signed_in() as client:
        page = client.get(EDIT)
        assert page.status_code == 200, page.text
        form = values_form(page.text)
        assert form["v.replicaCount"] == "2"  # the override
        assert form["v.service.port"] == "80"  # the chart's default
        assert form["v.ingress.host"] == "eu-1.acme.dev.example.com"  # a layer's
        form["v.replicaCount"] = "6"
        form["v.service.type"] = "NodePort"
        previewed = client.post(EDIT, data=form)
        assert previewed.status_code == 200, previewed.text
        values_diff = section(previewed.text, "values-diff")
        assert "-replicaCount: 2" in values_diff
        assert "+replicaCount: 6" in values_diff
        assert "+  type: NodePort" in values_diff
        assert "port" not in values_diff  # defaults stay out of values.yaml
        assert "+replicaCount: 6" in section(previewed.text, "effective-diff")
        manifests = section(previewed.text, "manifests-diff")
        assert "+  replicas: 6" in manifests
        assert '+  type: "NodePort"' in manifests  # Helm's rendering: the chart quotes it
        assert lab.commits() == commits  # a preview commits nothing
        save = save_form(previewed.text)
        save["message"] = "more pods behind a node port"
        saved = client.post(EDIT, data=save)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/instances/{path_of()}?done=saved"
    assert lab.commits() == commits + 1
    assert load_single(lab.show(VALUES), source="values").data == {
        "replicaCount": 6,
        "service": {"type": "NodePort"},
    }
    assert "more pods behind a node port" in lab.log()


def test_the_yaml_editor_commits_the_text_as_typed_and_a_bad_file_names_its_line(
    site: InstanceSite, lab: GitLab
) -> None:
    with site.signed_in() as client:
        header = lab.show(VALUES).split("replicaCount")[0]
        assert header.startswith("# Values of shop/acme/dev/eu-1")
        # The pane holds the file as it is; the editor keeps its header, adds a comment of
        # their own and writes the keys in their own order.
        typed = header + "logLevel: warn  # quieter\nreplicaCount: 3\n"
        previewed = preview_yaml(client, typed)
        assert previewed.status_code == 200, previewed.text
        values_diff = section(previewed.text, "values-diff")
        assert "+replicaCount: 3" in values_diff
        assert "+logLevel: warn" in values_diff
        saved = client.post(EDIT, data=save_form(previewed.text))
        assert saved.status_code == 303, saved.text
        # Committed as typed: the header, the new comment and the key order.
        assert lab.show(VALUES) == typed
        broken = preview_yaml(client, "replicaCount: 3\nimage: [unclosed\n")
        assert broken.status_code == 422
        assert "values.yaml:" in section(broken.text, "values-yaml-error")
        listed = preview_yaml(client, "- a list\n")
        assert listed.status_code == 422
        assert "must hold a mapping of values at its top level" in listed.text


def test_schema_problems_are_shown_with_their_paths_and_nothing_is_committed(
    site: InstanceSite, lab: GitLab
) -> None:
    commits = lab.commits()
    with site.signed_in() as client:
        previewed = preview_yaml(client, "replicaCount: three\nservice:\n  port: 70000\n")
        assert previewed.status_code == 422
        errors = section(previewed.text, "preview-errors")
        assert "replicaCount" in errors
        assert "service.port" in errors
        assert 'id="save-button" disabled' in previewed.text
        # The fields of the form carry the problems too.
        assert 'id="f-v-service-port-error"' in previewed.text
        # A save sent anyway (say, from an old page) is refused the same way.
        forced = client.post(EDIT, data={**save_form(previewed.text), "action": "save"})
        assert forced.status_code == 422
        problems = section(forced.text, "problems")
        assert "replicaCount" in problems
        assert "service.port" in problems
        form = values_form(client.get(EDIT).text)
        form["v.replicaCount"] = "lots"
        unreadable = client.post(EDIT, data=form)
        assert unreadable.status_code == 422
        assert "not a whole number" in section(unreadable.text, "f-v-replicaCount-error")
        assert values_form(unreadable.text)["v.replicaCount"] == "lots"
    assert lab.commits() == commits


def test_a_stale_edit_is_refused_with_the_diff_and_never_overwrites(
    site: InstanceSite, lab: GitLab
) -> None:
    with site.signed_in() as client:
        previewed = preview_yaml(client, "replicaCount: 4\n")
        site.put_values({"replicaCount": 2, "logLevel": "error"})  # someone else, meanwhile
        theirs = lab.head()
        late = client.post(
            EDIT,
            data={
                **values_form(previewed.text),
                "action": "preview-yaml",
                "values_yaml": "replicaCount: 4\n",
            },
        )
        assert "these diffs are against what is there now" in section(late.text, "moved")
        stale = client.post(EDIT, data=save_form(previewed.text))
        assert stale.status_code == 409, stale.text
        assert "+logLevel: error" in section(stale.text, "conflict-diff")
        assert lab.head() == theirs
        assert load_single(lab.show(VALUES), source="values").data == {
            "replicaCount": 2,
            "logLevel": "error",
        }
        # The editor keeps the visitor's values and now starts from the revision shown.
        assert "replicaCount: 4" in stale.text
        assert values_form(stale.text)["revision"] == theirs
        again = client.post(
            EDIT,
            data={
                **values_form(stale.text),
                "action": "preview-yaml",
                "values_yaml": "replicaCount: 4\n",
            },
        )
        assert "-logLevel: error" in section(again.text, "values-diff")
        assert client.post(EDIT, data=save_form(again.text)).status_code == 303
    assert load_single(lab.show(VALUES), source="values").data == {"replicaCount": 4}


def test_a_visitor_without_values_update_gets_no_editor(site: InstanceSite) -> None:
    site.add_user("ann", "approver")
    site.add_user("otto", "operator", scope="shop/acme/uat/*")
    with site.signed_in("ann", USER_PASSWORD) as client:
        assert client.get(EDIT).status_code == 403
    with site.signed_in("otto", USER_PASSWORD) as client:
        assert client.get(EDIT).status_code == 404


@pytest.fixture
def gated(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(
        tmp_path, database_url, lab, basic_registry, approvals={"prod": 1}
    ) as running:
        running.add_user("bob", "approver")
        proposed = running.create(PROD)
        with running.signed_in("bob", USER_PASSWORD) as bob:
            approve(bob, proposed["change_request"])
        yield running


def approve(client: httpx.Client, request_id: int) -> httpx.Response:
    page = client.get(f"/changes/{request_id}")
    assert page.status_code == 200, page.text
    done = client.post(
        f"/changes/{request_id}/approve", data={"csrf_token": csrf_of(page.text), "comment": ""}
    )
    assert done.status_code == 303, done.text
    return client.get(done.headers["location"])


def test_a_prod_edit_becomes_a_change_request_another_person_approves(
    gated: InstanceSite, lab: GitLab
) -> None:
    prod_edit = f"/instances/{path_of(PROD)}/edit"
    prod_values = f"clusters/eu/{path_of(PROD)}/values.yaml"
    commits = lab.commits()
    with gated.signed_in() as client:
        page = client.get(prod_edit)
        assert "need 1 approval by someone else" in section(page.text, "approval-note")
        previewed = preview_yaml(client, "replicaCount: 9\n", path=prod_edit)
        assert ">Propose change</button>" in previewed.text
        proposed = client.post(prod_edit, data=save_form(previewed.text))
        assert proposed.status_code == 200, proposed.text
        notice = section(proposed.text, "change-request")
        assert "nothing was committed yet" in notice
        link = re.search(r'href="(/changes/\d+)"', proposed.text.split('id="change-request"')[1])
        assert link
        assert lab.commits() == commits
        own = client.get(link.group(1))
        assert 'id="approve-button"' not in own.text  # never the requester's own approval
    with gated.signed_in("bob", USER_PASSWORD) as bob:
        inbox = bob.get("/changes")
        assert link.group(1) in inbox.text
        decided = approve(bob, int(link.group(1).rsplit("/", 1)[1]))
        assert "applied" in section(decided.text, "change-state")
    assert lab.commits() == commits + 1
    assert load_single(lab.show(prod_values), source="values").data == {"replicaCount": 9}
    assert "Approved-by: bob <bob@users.helmforge.invalid>" in lab.log()


def test_a_prod_rollback_and_upgrade_from_the_page_are_change_requests(
    gated: InstanceSite, lab: GitLab
) -> None:
    prod_page = f"/instances/{path_of(PROD)}"
    created = lab.head()
    proposed = gated.put_values({"replicaCount": 4}, PROD)
    with gated.signed_in("bob", USER_PASSWORD) as bob:
        approve(bob, proposed["change_request"])
    commits = lab.commits()
    with gated.signed_in() as client:
        page = client.get(prod_page).text
        assert "It becomes a change request." in page  # the confirmations say so
        rollback = client.post(
            prod_page + "/rollback", data={"csrf_token": csrf_of(page), "revision": created}
        )
        assert rollback.status_code == 200, rollback.text
        assert "nothing was committed yet" in section(rollback.text, "change-request")
        assert "(instance.rollback)" in section(rollback.text, "change-request")
        upgrade = client.post(
            prod_page + "/upgrade",
            data={"csrf_token": csrf_of(page), "template": "web-service@1.2.0", "version": "3.5.0"},
        )
        assert upgrade.status_code == 200, upgrade.text
        assert "(instance.upgrade)" in section(upgrade.text, "change-request")
    assert lab.commits() == commits
