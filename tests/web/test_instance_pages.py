"""The instance pages over a live server, a real Git remote over smart HTTP and Debian's
docker-registry, on SQLite and PostgreSQL: the list and its filters, one instance's page,
rollback and upgrade from it, Deploy after Generate, and what each visitor may see."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.yaml_codec import load_single
from helmforge.services import template_store
from helmforge.web import instance_pages
from tests.support.argocd import ArgoCdStandIn
from tests.support.charts import example_text
from tests.support.instances import DEV, GIT_CANARY, PROD, GitLab, git_lab, path_of
from tests.support.registry import CANARY_PASSWORD, RegistryServer
from tests.web.conftest import csrf_of
from tests.web.instance_sites import USER_PASSWORD, InstanceSite, instance_site

pytestmark = [pytest.mark.registry]

PAGE = f"/instances/{path_of()}"
VALUES = f"clusters/eu/{path_of()}/values.yaml"
STAGE = {**DEV, "instance": "eu-2"}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[GitLab]:
    with git_lab(tmp_path) as running:
        yield running


@pytest.fixture
def site(
    tmp_path: Path, database_url: str, lab: GitLab, basic_registry: RegistryServer
) -> Iterator[InstanceSite]:
    with instance_site(tmp_path, database_url, lab, basic_registry) as running:
        yield running


def rows_of(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/instances/[^"]+">([^<]+)</a></th>', html)


def test_the_list_searches_and_filters_and_links_each_instance(site: InstanceSite) -> None:
    site.create()
    site.create(PROD)
    site.create(STAGE)
    with site.signed_in() as client:
        every = client.get("/instances")
        assert every.status_code == 200, every.text
        assert rows_of(every.text) == [path_of(), path_of(STAGE), path_of(PROD)]
        assert f'href="{PAGE}"' in every.text
        assert rows_of(client.get("/instances?environment=prod").text) == [path_of(PROD)]
        assert rows_of(client.get("/instances?q=EU-2").text) == [path_of(STAGE)]
        assert rows_of(client.get("/instances?product=shop&customer=acme").text) == [
            path_of(),
            path_of(STAGE),
            path_of(PROD),
        ]
        assert rows_of(client.get("/instances?template=web-service&outdated=no").text) == [
            path_of(),
            path_of(STAGE),
            path_of(PROD),
        ]
        outdated = client.get("/instances?outdated=yes")
        assert rows_of(outdated.text) == []
        assert "No instance matches these filters." in outdated.text
        nothing = client.get("/instances?customer=nobody")
        assert "No instance matches" in nothing.text
        # A newer version of the template makes every instance of it out of date.
        newer = example_text(version="1.3.0")
        template_store.create_version(site.sessions, newer, actor=SYSTEM)
        template_store.publish_version(site.sessions, "web-service", "1.3.0", actor=SYSTEM)
        stale = client.get("/instances?outdated=yes")
        assert rows_of(stale.text) == [path_of(), path_of(STAGE), path_of(PROD)]
        assert "out of date: 1.3.0 available" in stale.text
        assert rows_of(client.get("/instances?outdated=no").text) == []
        page = client.get(PAGE).text
        assert "out of date: 1.3.0 is published" in page
        assert '<option value="web-service@1.3.0" >web-service@1.3.0</option>' in page


def test_the_list_is_paged_and_the_pages_keep_the_filters(
    site: InstanceSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.create()
    site.create(PROD)
    site.create(STAGE)
    monkeypatch.setattr(instance_pages, "_LIST_PAGE", 2)
    with site.signed_in() as client:
        first = client.get("/instances?customer=acme")
        assert rows_of(first.text) == [path_of(), path_of(STAGE)]
        link = re.search(r'<a href="([^"]+)" rel="next">', first.text)
        assert link
        assert html.unescape(link.group(1)) == "/instances?customer=acme&page=2"
        assert 'rel="prev"' not in first.text
        second = client.get(html.unescape(link.group(1)))
        assert rows_of(second.text) == [path_of(PROD)]
        assert 'rel="next"' not in second.text
        assert 'href="/instances?customer=acme&amp;page=1" rel="prev"' in second.text
        assert "Instances 3–3 matching the filters." in second.text
        assert rows_of(client.get("/instances?page=junk").text) == [path_of(), path_of(STAGE)]


def test_the_instance_page_shows_chart_revision_values_sources_and_history(
    site: InstanceSite, lab: GitLab
) -> None:
    site.create()
    first = lab.head()
    site.put_values({"replicaCount": 5, "logLevel": "debug"})
    with site.signed_in() as client:
        page = client.get(PAGE)
        assert page.status_code == 200, page.text
        html = page.text
        assert '<span id="chart-version">3.4.0</span>' in html
        assert '<code id="instance-template">web-service@1.2.0</code>' in html
        assert f'<code class="wrap" id="revision">{lab.head()}</code>' in html
        assert "replicaCount: 5" in html
        table = html.split('id="effective-values"')[1].split("</table>")[0]
        replicas = table.split("<code>replicaCount</code>")[1].split("</tr>")[0]
        assert '<code class="wrap">5</code>' in replicas
        assert "src-override" in replicas
        port = table.split("<code>service.<wbr>port</code>")[1].split("</tr>")[0]
        assert "src-default" in port
        host = table.split("<code>ingress.<wbr>host</code>")[1].split("</tr>")[0]
        assert "layer: environment in dev, test" in host
        history = html.split('id="history"')[1]
        assert history.count('class="card history-entry"') == 2
        assert history.index(lab.head()) < history.index(first)
        assert "admin" in history
        assert '<span class="dl dl-add">+replicaCount: 5\n</span>' in history
        # One rollback button, on the older revision: the newest is what runs now.
        assert history.count('name="revision"') == 1
        assert f'name="revision" value="{first}"' in history
        assert 'href="' + PAGE + '/edit"' in html


def test_rollback_from_the_page_is_a_new_commit_restoring_that_revision(
    site: InstanceSite, lab: GitLab
) -> None:
    site.create()
    first = lab.head()
    site.put_values({"replicaCount": 7})
    commits = lab.commits()
    with site.signed_in() as client:
        csrf = csrf_of(client.get(PAGE).text)
        done = client.post(PAGE + "/rollback", data={"csrf_token": csrf, "revision": first})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == PAGE + "?done=rolled-back"
        assert lab.commits() == commits + 1
        assert load_single(lab.show(VALUES), source="values").data == {"replicaCount": 2}
        page = client.get(done.headers["location"])
        assert "Rolled back: a new commit restores the values" in page.text
        assert page.text.count('class="card history-entry"') == 3
        unknown = client.post(PAGE + "/rollback", data={"csrf_token": csrf, "revision": "0" * 40})
        assert unknown.status_code in (404, 409, 422), unknown.text
        assert 'id="problem"' in unknown.text or "Not found" in unknown.text
        assert lab.commits() == commits + 1
        refused = client.post(PAGE + "/rollback", data={"revision": first})
        assert refused.status_code == 403
        assert lab.commits() == commits + 1


def test_upgrade_from_the_page_bumps_the_chart_version_in_one_commit(
    site: InstanceSite, lab: GitLab
) -> None:
    site.create()
    commits = lab.commits()
    with site.signed_in() as client:
        csrf = csrf_of(client.get(PAGE).text)
        done = client.post(
            PAGE + "/upgrade",
            data={"csrf_token": csrf, "template": "web-service@1.2.0", "version": "3.5.0"},
        )
        assert done.status_code == 303, done.text
        assert lab.commits() == commits + 1
        application = load_single(
            lab.show(f"clusters/eu/{path_of()}/application.yaml"), source="application.yaml"
        ).data
        assert application["spec"]["sources"][0]["targetRevision"] == "3.5.0"
        page = client.get(done.headers["location"])
        assert '<span id="chart-version">3.5.0</span>' in page.text
        assert "Upgraded: the new chart version is published" in page.text


def test_visitors_see_only_what_they_may_and_never_an_instance_they_may_not_read(
    site: InstanceSite,
) -> None:
    site.create()
    site.create(PROD)
    site.add_user("dora", "operator", scope="shop/acme/dev/*")
    site.add_user("ann", "approver")
    with site.signed_in("dora", USER_PASSWORD) as client:
        assert rows_of(client.get("/instances").text) == [path_of()]
        hidden = client.get(f"/instances/{path_of(PROD)}")
        assert hidden.status_code == 404
        assert f"instance {path_of(PROD)} does not exist" in hidden.text
        missing = client.get("/instances/shop/acme/prod/nothing")
        assert missing.status_code == 404
        mine = client.get(PAGE).text
        assert 'id="edit-values"' in mine
        assert 'id="upgrade-button"' in mine
        assert 'id="promote-button"' not in mine  # dora may not change sit
    with site.signed_in("ann", USER_PASSWORD) as client:
        seen = client.get(PAGE)
        assert seen.status_code == 200
        assert "replicaCount: 2" in seen.text
        assert 'id="edit-values"' not in seen.text
        assert 'id="upgrade-button"' not in seen.text
        assert "Roll back to this" not in seen.text
        assert 'id="promote-button"' not in seen.text


def build(site: InstanceSite, segments: dict[str, str], values: dict[str, object]) -> str:
    """A chart generated through the API; its build id."""
    response = site.api.post(
        "/api/v1/charts",
        json={
            "template": "web-service@1.2.0",
            "context": {**segments, "version": "3.4.0"},
            "values": values,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_deploy_after_generate_creates_the_instance_in_one_commit(
    site: InstanceSite, lab: GitLab
) -> None:
    build_id = build(site, DEV, {"replicaCount": 4})
    commits = lab.commits()
    with site.signed_in() as client:
        chart = client.get(f"/charts/{build_id}")
        assert f'href="/charts/{build_id}/deploy"' in chart.text
        form = client.get(f"/charts/{build_id}/deploy")
        assert form.status_code == 200, form.text
        assert 'id="deploy-instance" name="instance" value="eu-1"' in form.text
        assert "replicaCount: 4" in form.text
        assert re.search(r"<option[^>]*>gitops</option>", form.text)
        assert re.search(r"<option[^>]*>lab</option>", form.text)
        fields = {
            "csrf_token": csrf_of(form.text),
            **DEV,
            "version": "3.4.0",
            "registry": "lab",
            "repository": "gitops",
            "message": "first deploy",
        }
        bad = client.post(
            f"/charts/{build_id}/deploy",
            data={**fields, "values": "replicaCount: many\nservice: {port: 0}\n"},
        )
        assert bad.status_code == 422, bad.text
        assert "<code>replicaCount</code>" in bad.text
        assert "<code>service.<wbr>port</code>" in bad.text
        assert "service: {port: 0}" in bad.text  # what was typed stays
        assert lab.commits() == commits
        done = client.post(
            f"/charts/{build_id}/deploy", data={**fields, "values": "replicaCount: 4\n"}
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == PAGE + "?done=created"
        page = client.get(done.headers["location"])
        assert "Instance created" in page.text
        assert "replicaCount: 4" in page.text
        again = client.post(
            f"/charts/{build_id}/deploy", data={**fields, "values": "replicaCount: 4\n"}
        )
        assert again.status_code == 409
        assert "already exists" in again.text
    assert lab.commits() == commits + 1
    assert load_single(lab.show(VALUES), source="values").data == {"replicaCount": 4}
    assert "first deploy" in lab.log()


def test_deploy_is_offered_disabled_to_whoever_may_not_create_there(
    site: InstanceSite,
) -> None:
    build_id = build(site, PROD, {})
    site.add_user("dora", "operator", scope="shop/acme/dev/*")
    site.add_user("uma", "template-user", scope="shop/acme/prod/*")
    site.add_user("aud", "auditor")
    with site.signed_in("dora", USER_PASSWORD) as client:
        assert client.get(f"/charts/{build_id}/deploy").status_code == 404  # nor the build
    with site.signed_in("aud", USER_PASSWORD) as client:
        form = client.get(f"/charts/{build_id}/deploy")
        assert form.status_code == 200, form.text
        assert 'id="deploy-button" disabled' in form.text
        assert 'id="not-allowed"' in form.text
    with site.signed_in("uma", USER_PASSWORD) as client:
        form = client.get(f"/charts/{build_id}/deploy")
        assert form.status_code == 200, form.text
        assert 'id="deploy-button" disabled' not in form.text


def test_a_template_user_deploys_and_is_told_so_instead_of_sent_to_a_page_they_cannot_open(
    site: InstanceSite, lab: GitLab
) -> None:
    # Defect: the instance was committed, then the form sent its template-user (who creates
    # instances but does not read them) to the instance's page, which answered 404.
    build_id = build(site, DEV, {"replicaCount": 3})
    site.add_user("uma", "template-user")
    commits = lab.commits()
    with site.signed_in("uma", USER_PASSWORD) as client:
        form = client.get(f"/charts/{build_id}/deploy")
        fields = {
            "csrf_token": csrf_of(form.text),
            **DEV,
            "version": "3.4.0",
            "registry": "lab",
            "repository": "gitops",
            "values": "replicaCount: 3\n",
        }
        done = client.post(f"/charts/{build_id}/deploy", data=fields)
        assert done.status_code == 200, done.text
        assert f"Instance {path_of()} was created (commit" in done.text
        assert client.get(PAGE).status_code == 404
    assert lab.commits() == commits + 1
    assert load_single(lab.show(VALUES), source="values").data == {"replicaCount": 3}


ARGOCD_TOKEN = "canary-argocd-web-token-beef-DO-NOT-LEAK"


@pytest.fixture
def argocd(shared_data: Path) -> Iterator[ArgoCdStandIn]:
    stand_in = ArgoCdStandIn(
        shared_data / "argocd" / "swagger.json", tokens={ARGOCD_TOKEN: {"*"}}, auto_tick=True
    )
    with stand_in.running():
        yield stand_in
    assert stand_in.violations == []


def test_the_page_shows_sync_and_health_and_syncs_the_pushed_revision(
    tmp_path: Path,
    database_url: str,
    lab: GitLab,
    basic_registry: RegistryServer,
    argocd: ArgoCdStandIn,
) -> None:
    with instance_site(
        tmp_path, database_url, lab, basic_registry, argocd_poll_interval=0.0
    ) as site:
        added = site.api.post(
            "/api/v1/argocd/servers",
            json={"name": "cluster", "url": argocd.url, "token": ARGOCD_TOKEN},
        )
        assert added.status_code == 201, added.text
        build_id = build(site, PROD, {})
        site.add_user("ann", "approver")
        with site.signed_in() as client:
            form = client.get(f"/charts/{build_id}/deploy")
            assert re.search(r"<option[^>]*>cluster</option>", form.text)
            done = client.post(
                f"/charts/{build_id}/deploy",
                data={
                    "csrf_token": csrf_of(form.text),
                    **PROD,
                    "version": "3.4.0",
                    "registry": "lab",
                    "repository": "gitops",
                    "argocd": "cluster",
                    "values": "",
                },
            )
            assert done.status_code == 303, done.text
            prod_page = f"/instances/{path_of(PROD)}"
            application = load_single(
                lab.show(f"clusters/eu/{path_of(PROD)}/application.yaml"), source="app"
            ).data
            argocd.add_application(application)
            before = client.get(prod_page).text
            state = html.unescape(re.sub(r"<[^>]+>", " ", before.split('id="sync-state"')[1]))
            assert "OutOfSync" in state.split("</dd>")[0]
            assert 'id="sync-button"' in before
            synced = client.post(prod_page + "/sync", data={"csrf_token": csrf_of(before)})
            assert synced.status_code == 303, synced.text
            after = client.get(synced.headers["location"]).text
            assert "Synced: Argo CD runs the pushed chart version" in after
            state = after.split('id="sync-state"')[1].split("</dd>")[0]
            assert "Synced" in state
            assert "Healthy" in state
            assert lab.head()[:10] in state
            assert ARGOCD_TOKEN not in after
        with site.signed_in("ann", USER_PASSWORD) as client:
            seen = client.get(prod_page).text
            assert 'id="sync-state"' in seen
            assert 'id="sync-button"' not in seen


def test_the_list_shows_sync_and_health_and_filters_on_them(
    tmp_path: Path,
    database_url: str,
    lab: GitLab,
    basic_registry: RegistryServer,
    argocd: ArgoCdStandIn,
) -> None:
    with instance_site(tmp_path, database_url, lab, basic_registry) as site:
        for name, url in (("cluster", argocd.url), ("gone", "http://127.0.0.1:9")):
            added = site.api.post(
                "/api/v1/argocd/servers",
                json={"name": name, "url": url, "token": ARGOCD_TOKEN},
            )
            assert added.status_code == 201, added.text
        synced = site.create(argocd="cluster")
        eu2 = {**DEV, "instance": "eu-2"}
        site.create(eu2, argocd="gone")
        site.create({**DEV, "instance": "eu-3"})
        application = load_single(lab.show(synced["application_path"]), source="app").data
        argocd.add_application(application)
        argocd.applications[synced["app_name"]]["status"] = {
            "sync": {"status": "Synced", "revisions": ["1.0.0", synced["revision"]]},
            "health": {"status": "Healthy"},
        }
        argocd.requests.clear()
        with site.signed_in() as client:
            page = client.get("/instances")
            assert page.status_code == 200, page.text
            rows = {
                re.sub(r"<[^>]+>", "", row.split("</th>")[0]).strip(): html.unescape(
                    re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
                )
                for row in page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
            }
            assert "Synced Healthy" in rows[synced["id"]]
            assert (
                "unknown (Argo CD server 'gone': Argo CD could not be reached" in rows[path_of(eu2)]
            )
            assert "unknown" not in rows[path_of({**DEV, "instance": "eu-3"})]
            assert [p for _, p, _ in argocd.requests] == ["/api/v1/applications"]
            healthy = client.get("/instances?health=Healthy")
            assert healthy.status_code == 200, healthy.text
            assert synced["id"] in healthy.text
            assert path_of(eu2) not in healthy.text
            assert "<option selected>Healthy</option>" in healthy.text
            unknown = client.get("/instances?sync=Unknown").text
            assert path_of(eu2) in unknown
            assert synced["id"] not in unknown.split("<tbody>")[1]
            assert ARGOCD_TOKEN not in page.text + unknown


def test_promote_from_the_page_copies_the_chosen_overrides_to_the_next_environment(
    site: InstanceSite, lab: GitLab
) -> None:
    sit = {**DEV, "environment": "sit"}
    site.create(values={"replicaCount": 2, "logLevel": "warn"})
    site.create(sit, values={"ingress": {"host": "eu-1.sit.example.com"}})
    commits = lab.commits()
    with site.signed_in() as client:
        page = client.get(PAGE).text
        assert "<option>sit</option>" in page
        assert 'name="values" value="replicaCount"' in page
        assert 'name="values" value="logLevel"' in page
        done = client.post(
            PAGE + "/promote",
            data={"csrf_token": csrf_of(page), "to": "sit", "values": ["replicaCount"]},
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/instances/{path_of(sit)}?done=promoted"
        assert "Promoted" in client.get(done.headers["location"]).text
        again = client.post(
            PAGE + "/promote",
            data={"csrf_token": csrf_of(page), "to": "sit", "values": ["replicaCount"]},
        )
        assert again.status_code == 422, again.text
        assert 'id="problem"' in again.text
    assert lab.commits() == commits + 1
    promoted = load_single(lab.show(f"clusters/eu/{path_of(sit)}/values.yaml"), source="v").data
    assert promoted == {"ingress": {"host": "eu-1.sit.example.com"}, "replicaCount": 2}


def test_no_page_of_an_instance_shows_a_credential(site: InstanceSite) -> None:
    site.create()
    site.put_values({"replicaCount": 3})
    build_id = build(site, DEV, {})
    with site.signed_in() as client:
        for path in ("/instances", PAGE, PAGE + "/edit", f"/charts/{build_id}/deploy"):
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert GIT_CANARY not in page.text, path
            assert CANARY_PASSWORD not in page.text, path
        preview = client.post(
            PAGE + "/edit",
            data={
                "csrf_token": csrf_of(client.get(PAGE).text),
                "action": "preview-yaml",
                "values_yaml": "replicaCount: 4\n",
            },
        )
        assert preview.status_code == 200, preview.text
        assert GIT_CANARY not in preview.text
        assert CANARY_PASSWORD not in preview.text
