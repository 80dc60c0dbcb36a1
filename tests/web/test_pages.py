"""The web pages through HTTP: sign-in, CSRF, templates, the chart workflow, accounts."""

from __future__ import annotations

import hashlib
import html
import io
import re
import tarfile

import httpx
import pytest

from helmforge.services import chart_builds
from helmforge.web.sessions import SESSION_COOKIE
from helmforge.web.views import path_breaks
from tests.support.charts import EXAMPLE
from tests.web.conftest import (
    ADMIN_NAME,
    LiveServer,
    WebClient,
    csrf_of,
    sign_in,
)


@pytest.fixture
def server_database_url(database_url: str) -> str:
    """Every page test runs against SQLite and PostgreSQL."""
    return database_url


def test_pages_redirect_to_sign_in_when_signed_out(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        response = client.get("/templates?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/templates%3Fx%3D1"


def test_session_cookie_flags(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        response = sign_in(client)
    cookie = next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; under TLS the flag is set


def test_session_cookie_is_secure_under_tls(live_server: LiveServer) -> None:
    # TLS ends at a proxy in front of the server, which says so in X-Forwarded-Proto.
    with httpx.Client(base_url=live_server.url, headers={"X-Forwarded-Proto": "https"}) as client:
        page = client.get("/login")
        client.cookies.set("helmforge_login_csrf", page.cookies["helmforge_login_csrf"])
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": "correct horse battery staple",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert client.get("/logout").status_code == 405  # only the form may sign out
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert response.status_code == 303
    assert cookies
    assert all("Secure" in c for c in cookies)
    assert all("Secure" in v for k, v in page.headers.multi_items() if k == "set-cookie")


def test_wrong_password_and_unknown_user_read_the_same(live_server: LiveServer) -> None:
    answers = []
    with httpx.Client(base_url=live_server.url) as client:
        for name in ("alice", "nobody"):
            page = client.get("/login")
            answers.append(
                client.post(
                    "/login",
                    data={
                        "username": name,
                        "password": "wrong password!!",
                        "csrf_token": csrf_of(page.text),
                    },
                )
            )
    assert [a.status_code for a in answers] == [401, 401]
    assert "invalid user name or password" in answers[0].text
    assert answers[0].text.replace("alice", "X") == answers[1].text.replace("nobody", "X").replace(
        csrf_of(answers[1].text), csrf_of(answers[0].text)
    )


def test_form_post_without_csrf_token_is_refused(web: WebClient) -> None:
    content = EXAMPLE.read_text()
    response = web.client.post("/templates/new", data={"content": content})
    assert response.status_code == 403
    assert "CSRF" in response.text
    wrong = web.client.post("/templates/new", data={"content": content, "csrf_token": "forged"})
    assert wrong.status_code == 403
    assert "web-service" not in web.client.get("/templates").text


def test_login_without_its_csrf_token_is_refused(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        response = client.post(
            "/login", data={"username": "alice", "password": "correct horse battery staple"}
        )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


def _create_example(web: WebClient) -> None:
    response = web.client.post(
        "/templates/new",
        data={"content": EXAMPLE.read_text(), "csrf_token": web.csrf("/templates/new")},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/templates/web-service/1.2.0/edit?done=created"


def test_edit_shows_problems_at_their_line_and_refuses_stale_saves(web: WebClient) -> None:
    _create_example(web)
    page = web.client.get("/templates/web-service/1.2.0/edit")
    assert 'name="revision" value="1"' in page.text
    broken = EXAMPLE.read_text().replace(
        "replicas: ${values.replicaCount}", "replicas: ${values.replicaCont}"
    )
    response = web.client.post(
        "/templates/web-service/1.2.0/edit",
        data={
            "content": broken,
            "revision": "1",
            "action": "save",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.status_code == 422
    line = (
        broken.splitlines().index(
            next(text for text in broken.splitlines() if "replicaCont}" in text)
        )
        + 1
    )
    assert f'data-line="{line}"' in response.text
    assert "replicaCont" in response.text
    # two saves from revision 1: the second is stale and overwrites nothing
    fine = EXAMPLE.read_text().replace("Pods to run when", "Pods that run when")
    token = csrf_of(page.text)
    first = web.client.post(
        "/templates/web-service/1.2.0/edit",
        data={"content": fine, "revision": "1", "action": "save", "csrf_token": token},
    )
    assert first.status_code == 303
    stale = web.client.post(
        "/templates/web-service/1.2.0/edit",
        data={
            "content": fine.replace("Pods that", "Pods who"),
            "revision": "1",
            "action": "save",
            "csrf_token": token,
        },
    )
    assert stale.status_code == 409
    assert "revision 2" in stale.text
    assert "Pods that run when" in stale.text  # the current state is shown
    assert "Pods that run when" in web.client.get("/templates/web-service/1.2.0/export").text


def test_generate_build_preview_download(web: WebClient) -> None:
    _create_example(web)
    token = web.csrf("/templates/web-service")
    published = web.client.post(
        "/templates/web-service/1.2.0/publish",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert published.status_code == 200
    assert "published" in published.text
    context = {
        "template": "web-service@1.2.0",
        "ctx.product": "shop",
        "ctx.customer": "acme",
        "ctx.environment": "prod",
        "ctx.instance": "a1",
        "ctx.version": "3.4.0",
        "csrf_token": token,
    }
    step = web.client.post("/generate", data={**context, "action": "values"})
    assert step.status_code == 200, step.text
    assert "layer: environment = prod" in step.text  # replicaCount from the prod layer
    assert 'name="v.replicaCount" value="3"' in step.text
    bad = web.client.post(
        "/generate",
        data={
            **context,
            "action": "build",
            "v.replicaCount": "three",
            "v.service.type": "ClusterIP",
            "v.ingress.host": "a1.acme.example.com",
        },
    )
    assert bad.status_code == 422
    assert "&#39;three&#39; is not a whole number" in bad.text
    built = web.client.post(
        "/generate",
        data={
            **context,
            "action": "build",
            "v.replicaCount": "4",
            "v.service.type": "NodePort",
            "v.ingress.host": "a1.acme.example.com",
        },
    )
    assert built.status_code == 303, built.text
    page = web.client.get(built.headers["location"])
    assert "values.schema.json" in page.text
    assert "templates/deployment.yaml" in page.text
    archive = web.client.get(built.headers["location"] + "/download")
    assert archive.headers["content-type"] == "application/gzip"
    digest = "sha256:" + hashlib.sha256(archive.content).hexdigest()
    assert digest in page.text
    made = chart_builds.generator()
    generated = re.search(r'<dd id="build-generator">(.*?)</dd>', page.text, re.S)
    assert generated, "the build page says what generated the archive"
    assert html.unescape(re.sub(r"<[^>]+>", "", generated.group(1))) == (
        f"helmforge {made['helmforge']} (Python {made['python']}, zlib {made['zlib']},"
        f" PyYAML {made['pyyaml']})"
    )
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        values = tar.extractfile("shop-acme-prod-a1/values.yaml")
        assert values is not None
        text = values.read().decode()
    assert "replicaCount: 4" in text
    assert "type: NodePort" in text


def test_tokens_are_shown_once_and_revocable(web: WebClient) -> None:
    page = web.client.post("/tokens", data={"name": "ci", "csrf_token": web.csrf("/tokens")})
    assert "shown only once" in page.text
    secret = page.text.split('id="token-value" class="mono" readonly value="')[1].split('"')[0]
    assert secret.startswith("hf_")
    again = web.client.get("/tokens")
    assert secret not in again.text
    token_id = again.text.split('action="/tokens/')[1].split("/")[0]
    revoked = web.client.post(
        f"/tokens/{token_id}/revoke",
        data={"csrf_token": csrf_of(again.text)},
        follow_redirects=True,
    )
    assert "revoked" in revoked.text


def test_admin_creates_users_and_audit_lists_events(web: WebClient) -> None:
    short = web.client.post(
        "/users",
        data={"name": "bob", "role": "user", "password": "short", "csrf_token": web.csrf("/users")},
    )
    assert short.status_code == 422
    assert "at least 12 characters" in short.text
    created = web.client.post(
        "/users",
        data={
            "name": "bob",
            "role": "creator",
            "password": "a long enough password",
            "csrf_token": web.csrf("/users"),
        },
        follow_redirects=True,
    )
    assert created.status_code == 200
    assert "creator" in created.text
    audit = web.client.get("/audit")
    assert "user.create" in audit.text
    assert "user.sign_in" in audit.text


def test_api_accepts_session_cookie_but_unsafe_methods_need_the_csrf_header(web: WebClient) -> None:
    from starlette.requests import Request

    from helmforge.web.pages import resolve_api_principal

    cookie = web.client.cookies.get(SESSION_COOKIE)
    token = web.csrf()

    def request(method: str, headers: dict[str, str]) -> Request:
        raw = [(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request(
            {
                "type": "http",
                "method": method,
                "path": "/api/v1/x",
                "headers": raw,
                "app": web.server.app,
                "query_string": b"",
            }
        )

    assert resolve_api_principal(request("GET", {})) is not None
    assert resolve_api_principal(request("POST", {})) is None
    principal = resolve_api_principal(request("POST", {"X-CSRF-Token": token}))
    assert principal is not None
    assert principal.name == "alice"


def test_required_value_no_layer_sets_is_asked_for_inline(web: WebClient) -> None:
    _create_example(web)
    token = web.csrf("/templates/web-service")
    web.client.post(
        "/templates/web-service/1.2.0/publish", data={"csrf_token": token, "confirmed": "yes"}
    )
    context = {
        "template": "web-service@1.2.0",
        "ctx.product": "shop",
        "ctx.customer": "acme",
        "ctx.environment": "sit",  # no layer of the example sets ingress.host for sit
        "ctx.instance": "a1",
        "ctx.version": "3.4.0",
        "csrf_token": token,
    }
    step = web.client.post("/generate", data={**context, "action": "values"})
    assert step.status_code == 200, step.text
    assert "required: fill it in below" in step.text
    assert 'name="v.replicaCount" value="1"' in step.text  # defaults still shown
    assert 'name="v.ingress.host" value=""' in step.text
    missing = web.client.post(
        "/generate",
        data={**context, "action": "build", "v.replicaCount": "1", "v.ingress.host": ""},
    )
    assert missing.status_code == 422
    assert 'id="f-v-ingress-host-error">a value is required' in missing.text
    built = web.client.post(
        "/generate",
        data={
            **context,
            "action": "build",
            "v.replicaCount": "1",
            "v.ingress.host": "shop.example.com",
        },
    )
    assert built.status_code == 303, built.text


def test_bad_context_is_explained_beside_its_field(web: WebClient) -> None:
    response = web.client.post(
        "/generate",
        data={
            "template": "web-service@1.2.0",
            "ctx.product": "Shop!",
            "ctx.customer": "acme",
            "ctx.environment": "dev",
            "ctx.instance": "a1",
            "ctx.version": "3.4.0",
            "action": "values",
            "csrf_token": web.csrf("/generate"),
        },
    )
    assert response.status_code == 422
    assert 'id="ctx-product-error">product &#39;Shop!&#39; is not a DNS-1123 label' in response.text


def test_sign_in_never_redirects_off_site(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        page = client.get("/login?next=//evil.example/steal")
        assert 'name="next" value="/"' in page.text
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": "correct horse battery staple",
                "csrf_token": csrf_of(page.text),
                "next": "https://evil.example/",
            },
        )
    assert response.headers["location"] == "/"


def test_pages_carry_security_headers(web: WebClient) -> None:
    response = web.client.get("/templates")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_signing_in_again_replaces_the_session(web: WebClient) -> None:
    old = web.client.cookies.get(SESSION_COOKIE)
    assert old
    with httpx.Client(base_url=web.server.url) as other:
        page = other.get("/login")
        other.cookies.set(SESSION_COOKIE, old)
        response = other.post(
            "/login",
            data={
                "username": "alice",
                "password": "correct horse battery staple",
                "csrf_token": csrf_of(page.text),
            },
        )
    assert response.status_code == 303
    assert response.cookies[SESSION_COOKIE] != old
    assert web.client.get("/templates").status_code == 303  # the old id no longer signs in


def test_users_page_is_for_admins_only(web: WebClient) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    accounts.create_user(
        web.server.sessions, "carol", role="user", password="another long password", actor=SYSTEM
    )
    with httpx.Client(base_url=web.server.url) as client:
        assert sign_in(client, "carol", "another long password").status_code == 303
        page = client.get("/templates")
        assert 'href="/users"' not in page.text
        refused = client.get("/users")
        assert refused.status_code == 403
        assert "carol may not user.manage" in refused.text
        created = client.post(
            "/users",
            data={
                "name": "mallory",
                "role": "admin",
                "password": "x" * 20,
                "csrf_token": csrf_of(page.text),
            },
        )
        assert created.status_code == 403
    assert 'href="/users"' in web.client.get("/templates").text


def test_admin_resets_a_password_from_the_users_page(web: WebClient) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    accounts.create_user(
        web.server.sessions, "dave", role="user", password="daves own password", actor=SYSTEM
    )
    with httpx.Client(base_url=web.server.url) as dave:
        assert sign_in(dave, "dave", "daves own password").status_code == 303
        assert dave.get("/templates").status_code == 200
        page = web.client.get("/users")
        assert 'action="/users/dave/reset-password"' in page.text
        assert f'action="/users/{ADMIN_NAME}/reset-password"' not in page.text  # not oneself
        forged = web.client.post("/users/dave/reset-password", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        reset = web.client.post(
            "/users/dave/reset-password", data={"csrf_token": csrf_of(page.text)}
        )
        assert reset.status_code == 200
        match = re.search(r'id="reset-value" class="mono" readonly value="([^"]+)"', reset.text)
        assert match, reset.text
        one_time = match.group(1)
        assert dave.get("/templates").status_code == 303  # the old session ended
    with httpx.Client(base_url=web.server.url) as dave:
        assert sign_in(dave, "dave", "daves own password").status_code != 303
        assert sign_in(dave, "dave", one_time).status_code == 303
        held = dave.get("/templates", follow_redirects=True)
        assert held.url.path == "/account"  # must choose their own password first
    assert "user.password_set" in web.client.get("/audit").text
    own = web.client.post(
        f"/users/{ADMIN_NAME}/reset-password", data={"csrf_token": web.csrf("/users")}
    )
    assert own.status_code == 422
    missing = web.client.post(
        "/users/nobody/reset-password", data={"csrf_token": web.csrf("/users")}
    )
    assert missing.status_code == 404


def test_the_api_answers_the_ui_session(web: WebClient) -> None:
    assert web.client.get("/api/v1/templates").status_code == 200
    body = {"label": "from-the-ui"}
    assert web.client.post("/api/v1/tokens", json=body).status_code == 401  # no CSRF header
    created = web.client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": web.csrf()})
    assert created.status_code == 201, created.text
    with httpx.Client(base_url=web.server.url) as anonymous:
        assert anonymous.get("/api/v1/templates").status_code == 401


def test_upload_then_deprecate_hides_the_version_from_generate(web: WebClient) -> None:
    created = web.client.post(
        "/templates/new",
        data={"content": "", "csrf_token": web.csrf("/templates/new")},
        files={"upload": ("web-service.yaml", EXAMPLE.read_bytes(), "application/yaml")},
    )
    assert created.status_code == 303, created.text
    token = web.csrf("/templates/web-service")
    web.client.post(
        "/templates/web-service/1.2.0/publish", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert "web-service@1.2.0" in web.client.get("/generate").text
    deprecated = web.client.post(
        "/templates/web-service/1.2.0/deprecate",
        data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=True,
    )
    assert "Version 1.2.0 deprecated." in deprecated.text
    assert "status-deprecated" in deprecated.text
    assert "web-service@1.2.0" not in web.client.get("/generate").text
    exported = web.client.get("/templates/web-service/1.2.0/export")
    assert exported.content == EXAMPLE.read_bytes()
    assert 'filename="web-service-1.2.0.yaml"' in exported.headers["content-disposition"]


def test_an_upload_that_is_not_utf8_is_explained(web: WebClient) -> None:
    response = web.client.post(
        "/templates/new",
        data={"csrf_token": web.csrf("/templates/new")},
        files={"upload": ("t.yaml", b"\xff\xfe\x00bad", "application/yaml")},
    )
    assert response.status_code == 422
    assert "t.yaml is not UTF-8 text" in response.text


def test_repeated_failed_sign_ins_are_throttled(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        for _ in range(5):
            assert sign_in(client, "alice", "not the password!").status_code == 401
        refused = sign_in(client)  # the right password, but the account is locked for now
    assert refused.status_code == 401
    assert "too many failed sign-ins" in refused.text


def _publish_example(web: WebClient) -> str:
    _create_example(web)
    token = web.csrf("/templates/web-service")
    published = web.client.post(
        "/templates/web-service/1.2.0/publish", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert published.status_code == 303, published.text
    return token


def _build(web: WebClient, instance: str) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import chart_builds

    chart_builds.build_chart(
        web.server.sessions,
        template="web-service@1.2.0",
        context={
            "product": "shop",
            "customer": "acme",
            "environment": "dev",
            "instance": instance,
            "version": "3.4.0",
        },
        values={"ingress": {"host": "x.example.com"}},
        actor=SYSTEM,
    )


def test_builds_list_pages_and_searches_so_the_101st_older_build_stays_reachable(
    web: WebClient,
) -> None:
    _publish_example(web)
    _build(web, "first")
    for number in range(101):
        _build(web, f"b{number}")
    first_page = web.client.get("/charts")
    assert first_page.text.count('<th scope="row"><a href="/charts/') == 50
    assert "shop-acme-dev-first" not in first_page.text
    assert "1\u201350 of 102 \u00b7 page 1 of 3" in first_page.text
    assert 'href="/charts?page=2" rel="next"' in first_page.text
    last_page = web.client.get("/charts?page=3")
    assert "shop-acme-dev-first" in last_page.text
    assert 'href="/charts?page=2" rel="prev"' in last_page.text
    assert 'rel="next"' not in last_page.text
    found = web.client.get("/charts", params={"q": "FIRST"})
    assert found.text.count('<th scope="row"><a href="/charts/') == 1
    assert "shop-acme-dev-first" in found.text
    nothing = web.client.get("/charts", params={"q": "100%_"})
    assert "Nothing matches" in nothing.text
    assert web.client.get("/charts?page=999").text.count("shop-acme-dev-") == 2  # the last page


def test_templates_audit_and_users_lists_page_and_search(web: WebClient) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts, audit

    _publish_example(web)
    with web.server.sessions.begin() as session:
        for number in range(60):
            audit.record(session, SYSTEM, "test.event", f"thing-{number}")
    accounts.create_user(
        web.server.sessions, "zoe", role="user", password="a long enough password", actor=SYSTEM
    )
    templates = web.client.get("/templates", params={"q": "web"})
    assert 'href="/templates/web-service"' in templates.text
    assert 'role="search"' in templates.text
    assert "Nothing matches" in web.client.get("/templates", params={"q": "nope"}).text
    log = web.client.get("/audit")
    assert 'href="/audit?page=2" rel="next"' in log.text
    assert "thing-59" in log.text
    assert "thing-0<" not in log.text
    older = web.client.get("/audit", params={"q": "thing-1", "page": "2"})
    assert "1\u201311 of 11 \u00b7 page 1 of 1" in older.text  # thing-1, -10..-19: one page
    assert "thing-1<" in older.text
    users = web.client.get("/users", params={"q": "zo"})
    assert '<th scope="row">zoe</th>' in users.text
    assert f'<th scope="row">{ADMIN_NAME}</th>' not in users.text


def test_new_draft_from_the_newest_version_copies_it_and_moves_its_version(
    web: WebClient,
) -> None:
    _publish_example(web)  # 1.2.0 published
    newer = EXAMPLE.read_text().replace("version: 1.2.0", "version: 1.3.0", 1)
    newer = newer.replace("default: 1\n", "default: 7\n", 1)
    created = web.client.post(
        "/templates/new", data={"content": newer, "csrf_token": web.csrf("/templates/new")}
    )
    assert created.status_code == 303, created.text
    detail = web.client.get("/templates/web-service")
    assert 'href="/templates/new?from=web-service@1.3.0">New draft from 1.3.0' in detail.text
    page = web.client.get("/templates/new", params={"from": "web-service@1.3.0"})
    assert page.status_code == 200
    assert "version: 1.3.1\n" in page.text
    assert "default: 7\n" in page.text  # 1.3.0's text, not the published 1.2.0's
    assert "Copied from web-service 1.3.0 as version 1.3.1" in page.text
    content = re.search(r"<textarea[^>]*>\n?(.*?)</textarea>", page.text, re.S)
    assert content is not None
    saved = web.client.post(
        "/templates/new",
        data={"content": html.unescape(content.group(1)), "csrf_token": web.csrf("/templates/new")},
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/templates/web-service/1.3.1/edit?done=created"
    again = web.client.get("/templates/new", params={"from": "web-service@1.3.0"})
    assert "version: 1.3.2\n" in again.text  # 1.3.1 is taken now
    missing = web.client.get("/templates/new", params={"from": "web-service@9.9.9"})
    assert missing.status_code == 404


def test_users_an_administrator_creates_must_choose_their_own_password(web: WebClient) -> None:
    typed = "the admin typed this"
    created = web.client.post(
        "/users",
        data={"name": "erin", "role": "user", "password": typed, "csrf_token": web.csrf("/users")},
    )
    assert created.status_code == 303, created.text
    token = web.client.post(
        "/api/v1/users",
        json={"name": "frank", "role": "user", "password": typed},
        headers={"X-CSRF-Token": web.csrf("/users")},
    )
    assert token.status_code == 201, token.text
    for name in ("erin", "frank"):
        with httpx.Client(base_url=web.server.url) as client:
            assert sign_in(client, name, typed).status_code == 303
            held = client.get("/templates", follow_redirects=True)
            assert held.url.path == "/account", name  # must choose their own password first
            page = held.text
            changed = client.post(
                "/account/password",
                data={
                    "current_password": typed,
                    "new_password": f"{name}'s own password",
                    "confirm_password": f"{name}'s own password",
                    "csrf_token": csrf_of(page),
                },
            )
            assert changed.status_code in (200, 303), changed.text
            assert client.get("/templates").status_code == 200


def test_failed_sign_ins_are_in_the_audit_log(web: WebClient) -> None:
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import audit_trail
    from helmforge.services.paging import PageRequest

    with httpx.Client(base_url=web.server.url) as client:
        assert sign_in(client, ADMIN_NAME, "not the password!").status_code == 401
        assert sign_in(client, "nobody", "whatever it is").status_code == 401
        assert sign_in(client, "My Secret Pass!", "x").status_code == 401
    events = audit_trail.page_events(
        web.server.sessions, actor=SYSTEM, page=PageRequest(query="sign_in_failed")
    ).items
    assert [(e.actor_kind, e.target) for e in events] == [
        ("system", "user:(not a user name)"),
        ("system", "user:nobody"),
        ("system", f"user:{ADMIN_NAME}"),
    ]
    assert all(e.after["reason"] == "bad credentials" for e in events)
    assert all(e.after["source"] == "127.0.0.1" for e in events)
    assert "My Secret Pass" not in web.client.get("/audit").text
    assert "user.sign_in_failed" in web.client.get("/audit").text


def test_an_empty_required_context_field_says_it_is_required_not_a_bad_label(
    web: WebClient,
) -> None:
    response = web.client.post(
        "/generate",
        data={
            "template": "web-service@1.2.0",
            "ctx.product": "",
            "ctx.customer": "acme",
            "ctx.environment": "dev",
            "ctx.instance": "a1",
            "ctx.version": "",
            "action": "values",
            "csrf_token": web.csrf("/generate"),
        },
    )
    assert response.status_code == 422
    assert 'id="ctx-product-error">product is required<' in response.text
    assert 'id="ctx-version-error">version is required<' in response.text
    assert "&#39;&#39;" not in response.text


def test_value_sources_name_the_layer_condition_not_layer_0(web: WebClient) -> None:
    token = _publish_example(web)
    step = web.client.post(
        "/generate",
        data={
            "template": "web-service@1.2.0",
            "ctx.product": "shop",
            "ctx.customer": "acme",
            "ctx.environment": "prod",
            "ctx.instance": "a1",
            "ctx.version": "3.4.0",
            "action": "values",
            "csrf_token": token,
        },
    )
    assert step.status_code == 200, step.text
    assert ">layer: environment = prod<" in step.text
    assert ">layer: environment in uat, prod<" in step.text
    assert "layer 0" not in step.text


def test_unknown_urls_answer_browsers_with_a_page_and_the_api_with_json(
    live_server: LiveServer,
) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        page = client.get("/no/such/page", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="en">' in page.text
        assert "<title>Not found · helmforge</title>" in page.text
        assert '<main id="main"' in page.text
        assert "There is no page at /no/such/page." in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
        assert api.status_code == 404
        assert api.json() == {"detail": "Not Found"}
        script = client.get("/no/such/page", headers={"Accept": "application/json"})
        assert script.json() == {"detail": "Not Found"}
        method = client.put("/login", headers={"Accept": "text/html"})
        assert method.status_code == 405
        assert "does not take PUT requests" in method.text


def test_favicon_is_served_not_404(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as client:
        icon = client.get("/favicon.ico", follow_redirects=True)
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.startswith("<svg")
        login = client.get("/login")
        assert re.search(r'rel="icon" href="[^"]*/static/favicon\.svg"', login.text)


def test_a_template_named_new_is_refused_because_new_is_the_create_page(web: WebClient) -> None:
    content = EXAMPLE.read_text().replace("name: web-service", "name: new", 1)
    response = web.client.post(
        "/templates/new", data={"content": content, "csrf_token": web.csrf("/templates/new")}
    )
    assert response.status_code == 422
    assert "metadata.name &#39;new&#39; is reserved" in response.text


def test_audit_shows_objects_by_name_and_changes_as_rows_not_raw_ids_and_json(
    web: WebClient,
) -> None:
    _publish_example(web)
    _build(web, "named")
    page = web.client.get("/audit").text
    build = re.search(
        r'<a href="/charts/([0-9a-f]{32})">chart build shop-acme-dev-named 3\.4\.0</a>', page
    )
    assert build, page
    assert ">template web-service 1.2.0</a>" in page
    assert "built a chart" in page
    assert "<dt>context.product</dt><dd>shop</dd>" in page
    assert "<dt>ingress.host</dt>" not in page  # values are under values.
    assert "<dt>values.ingress.host</dt><dd>x.example.com</dd>" in page
    assert '"after"' not in page
    assert f">{build.group(1)}<" not in page.replace(f"chart:{build.group(1)}", "")


def test_publish_deprecate_and_delete_draft_ask_for_confirmation_first(web: WebClient) -> None:
    _create_example(web)
    token = web.csrf("/templates/web-service")
    detail = web.client.get("/templates/web-service").text
    assert 'data-confirm="Publish web-service 1.2.0?' in detail
    assert 'action="/templates/web-service/1.2.0/delete"' in detail
    asked = web.client.post("/templates/web-service/1.2.0/publish", data={"csrf_token": token})
    assert asked.status_code == 200
    assert "<h1>Publish web-service 1.2.0?</h1>" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert "status-draft" in web.client.get("/templates/web-service").text  # not yet published
    second = EXAMPLE.read_text().replace("version: 1.2.0", "version: 1.3.0", 1)
    web.client.post("/templates/new", data={"content": second, "csrf_token": token})
    asked = web.client.post(
        "/templates/web-service/1.3.0/delete", data={"csrf_token": token, "revision": "1"}
    )
    assert "<h1>Delete the draft web-service 1.3.0?</h1>" in asked.text
    assert 'name="revision" value="1"' in asked.text
    stale = web.client.post(
        "/templates/web-service/1.3.0/delete",
        data={"csrf_token": token, "revision": "7", "confirmed": "yes"},
    )
    assert stale.status_code == 409
    deleted = web.client.post(
        "/templates/web-service/1.3.0/delete",
        data={"csrf_token": token, "revision": "1", "confirmed": "yes"},
        follow_redirects=True,
    )
    assert deleted.url.path == "/templates/web-service"
    assert "Draft 1.3.0 deleted." in deleted.text
    assert ">1.3.0<" not in deleted.text
    published = web.client.post(
        "/templates/web-service/1.2.0/publish", data={"csrf_token": token, "confirmed": "yes"}
    )
    assert published.status_code == 303
    refused = web.client.post(
        "/templates/web-service/1.2.0/delete",
        data={"csrf_token": token, "revision": "1", "confirmed": "yes"},
    )
    assert refused.status_code == 409  # published versions stay
    asked = web.client.post("/templates/web-service/1.2.0/deprecate", data={"csrf_token": token})
    assert "<h1>Deprecate web-service 1.2.0?</h1>" in asked.text
    assert "status-published" in web.client.get("/templates/web-service").text


def test_a_value_path_may_wrap_after_its_dots_and_before_its_indexes_only() -> None:
    assert str(path_breaks("spec.resources[2].name")) == ("spec.<wbr>resources<wbr>[2].<wbr>name")
    assert str(path_breaks("replicaCount")) == "replicaCount"
    assert str(path_breaks("<b>.x")) == "&lt;b&gt;.<wbr>x"  # the path itself stays text
