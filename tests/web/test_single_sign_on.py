"""Single sign-on through OpenID Connect, against real providers on loopback.

The normal flow runs against oidc-provider-mock; every negative case (RELIABILITY row 35:
wrong audience or issuer, ``alg: none``, a replayed nonce, an expired token, a bad PKCE
verifier) against ``StrictProvider``, which checks PKCE. A provider that accepts and never
answers fails the callback at its deadline while other routes answer (row 41).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from oidc_provider_mock import User
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import database_url_for_directory
from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts
from helmforge.services.settings import OidcSettings
from tests.support.apps import make_app
from tests.support.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    StrictProvider,
    mock_provider,
    silent_peer,
    strict_provider,
)
from tests.support.servers import serve
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD, csrf_of, sign_in

_ERROR = re.compile(r'id="login-error">([^<]*)<')


class Helmforge:
    """A live helmforge with single sign-on configured, and a browser-like client."""

    def __init__(self, url: str, sessions: sessionmaker[Session]) -> None:
        self.url = url
        self.sessions = sessions

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def start(self, client: httpx.Client, next_url: str = "/") -> str:
        """``GET /sso/login``: the provider's authorization URL it redirects to."""
        answer = client.get("/sso/login", params={"next": next_url})
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def finish(self, client: httpx.Client, callback: str) -> httpx.Response:
        parts = urlsplit(callback)
        assert f"{parts.scheme}://{parts.netloc}" == self.url
        return client.get(f"{parts.path}?{parts.query}")

    def refusals(self) -> list[str]:
        with self.sessions() as session:
            rows = session.scalars(
                sa.select(AuditEventRow)
                .where(AuditEventRow.action == "user.sign_in")
                .order_by(AuditEventRow.id)
            )
            return [
                str(row.after["reason"])
                for row in rows
                if isinstance(row.after, dict) and row.after.get("outcome") == "refused"
            ]


type MakeHelmforge = Callable[[OidcSettings], AbstractContextManager[Helmforge]]


def _builder(database_url: str, data_dir: Path) -> MakeHelmforge:
    @contextmanager
    def build(oidc: OidcSettings) -> Iterator[Helmforge]:
        app, _ = make_app(
            database_url,
            data_dir,
            with_web=True,
            seed_examples=False,
            oidc=oidc,
        )
        sessions = state_of(app).sessions
        accounts.create_user(
            sessions, ADMIN_NAME, role="admin", password=ADMIN_PASSWORD, actor=SYSTEM
        )
        try:
            with serve(app) as url:
                yield Helmforge(url, sessions)
        finally:
            sessions.kw["bind"].dispose()

    return build


@pytest.fixture
def make_helmforge(tmp_path: Path) -> MakeHelmforge:
    return _builder(database_url_for_directory(tmp_path / "data"), tmp_path / "data")


@pytest.fixture
def make_stored_helmforge(database_url: str, tmp_path: Path) -> MakeHelmforge:
    """``make_helmforge`` on SQLite and on PostgreSQL, for what SSO stores."""
    return _builder(database_url, tmp_path / "data")


def _settings(issuer: str, **overrides: object) -> OidcSettings:
    values: dict[str, object] = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    return OidcSettings(**values)  # type: ignore[arg-type]


def _error(answer: httpx.Response) -> str:
    match = _ERROR.search(answer.text)
    assert match, answer.text
    return html.unescape(match.group(1))


def _authorize_mock(authorization_url: str, subject: str) -> str:
    """Pick ``subject`` on the mock provider's page; return the callback URL."""
    answer = httpx.post(authorization_url, data={"sub": subject})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


DAVE = User(sub="dave-1", claims={"preferred_username": "dave", "groups": ["platform-sre"]})
ERIN = User(sub="erin-1", claims={"preferred_username": "erin", "groups": ["marketing"]})


# --- the normal flow (oidc-provider-mock) ---------------------------------------------------


def test_groups_claim_grants_access_through_a_group_binding(make_helmforge: MakeHelmforge) -> None:
    with mock_provider([DAVE]) as issuer, make_helmforge(_settings(issuer)) as helmforge:
        access.add_binding(
            helmforge.sessions,
            subject="group:platform-sre",
            role="admin",
            scope="*/*/*/*",
            actor=SYSTEM,
        )
        with helmforge.client() as client:
            login = client.get("/login")
            assert "Sign in with single sign-on" in login.text
            authorization = helmforge.start(client, "/templates")
            query = parse_qs(urlsplit(authorization).query)
            assert query["code_challenge_method"] == ["S256"]
            assert query["nonce"]
            assert query["state"]
            answer = helmforge.finish(client, _authorize_mock(authorization, "dave-1"))
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == "/templates"
            me = client.get("/api/v1/me").json()
            assert me["name"] == "dave@sso"
            assert me["subjects"] == ["user:dave@sso", "group:platform-sre"]
            # The binding is on the group, not the user: only the groups claim grants it.
            assert client.get("/api/v1/users").status_code == 200
            # And so it does to an API token dave makes: it acts with his groups too.
            token = _new_token(client, label="laptop")
        assert _as_token(helmforge, token, "/api/v1/users").status_code == 200
        assert _as_token(helmforge, token, "/api/v1/me").json()["subjects"] == [
            "user:dave@sso",
            "group:platform-sre",
        ]


def test_without_a_group_binding_the_sso_user_has_no_rights(make_helmforge: MakeHelmforge) -> None:
    with mock_provider([ERIN]) as issuer, make_helmforge(_settings(issuer)) as helmforge:
        access.add_binding(
            helmforge.sessions,
            subject="group:platform-sre",
            role="admin",
            scope="*/*/*/*",
            actor=SYSTEM,
        )
        with helmforge.client() as client:
            answer = helmforge.finish(client, _authorize_mock(helmforge.start(client), "erin-1"))
            assert answer.status_code == 303, answer.text
            assert client.get("/api/v1/me").json()["name"] == "erin@sso"
            assert client.get("/api/v1/users").status_code == 403


def test_login_gate_refuses_a_user_outside_the_allowed_groups(
    make_helmforge: MakeHelmforge,
) -> None:
    with mock_provider([DAVE, ERIN]) as issuer:
        settings = _settings(issuer, allowed_groups=frozenset({"platform-sre"}))
        with make_helmforge(settings) as helmforge:
            with helmforge.client() as client:
                refused = helmforge.finish(
                    client, _authorize_mock(helmforge.start(client), "erin-1")
                )
                assert refused.status_code == 401
                assert "not a member of any group allowed to sign in" in _error(refused)
                assert client.get("/api/v1/me").status_code == 401
            with helmforge.client() as client:
                admitted = helmforge.finish(
                    client, _authorize_mock(helmforge.start(client), "dave-1")
                )
                assert admitted.status_code == 303, admitted.text
            assert helmforge.refusals() == [
                "you are not a member of any group allowed to sign in (allowed: platform-sre)"
            ]


def test_local_users_keep_signing_in_beside_single_sign_on(make_helmforge: MakeHelmforge) -> None:
    with (
        mock_provider([DAVE]) as issuer,
        make_helmforge(_settings(issuer)) as helmforge,
        helmforge.client() as client,
    ):
        assert sign_in(client).status_code == 303
        assert client.get("/api/v1/me").json()["name"] == ADMIN_NAME


def test_an_sso_user_cannot_sign_in_with_a_password(make_helmforge: MakeHelmforge) -> None:
    with mock_provider([DAVE]) as issuer, make_helmforge(_settings(issuer)) as helmforge:
        with helmforge.client() as client:
            helmforge.finish(client, _authorize_mock(helmforge.start(client), "dave-1"))
        with helmforge.client() as client:
            answer = sign_in(client, "dave@sso", "!sso")
            assert answer.status_code == 401
            assert "invalid user name or password" in _error(answer)


def test_the_account_page_offers_an_sso_user_no_password_form_and_refuses_a_forged_one(
    make_helmforge: MakeHelmforge,
) -> None:
    with mock_provider([DAVE]) as issuer, make_helmforge(_settings(issuer)) as helmforge:
        with helmforge.client() as client:
            helmforge.finish(client, _authorize_mock(helmforge.start(client), "dave-1"))
            page = client.get("/account")
            assert page.status_code == 200
            assert "through single sign-on (groups: platform-sre)" in page.text
            assert 'id="sso-password"' in page.text
            assert 'action="/account/password"' not in page.text
            assert 'type="password"' not in page.text
            fields = {
                "csrf_token": csrf_of(page.text),
                "current_password": "!sso",
                "new_password": "a-new-password-1",
                "confirm_password": "a-new-password-1",
            }
            forged = client.post("/account/password", data=fields)
            assert forged.status_code == 403
            assert "dave@sso signs in through single sign-on and has no password" in forged.text
            # The API refuses the same way (one service), and the session still works.
            answer = client.post(
                "/api/v1/account/password",
                json={"current_password": "!sso", "new_password": "a-new-password-1"},
                headers={"X-CSRF-Token": fields["csrf_token"]},
            )
            assert answer.status_code == 403, answer.text
            assert "has no password in helmforge" in answer.text
            assert client.get("/api/v1/me").json()["name"] == "dave@sso"
        with helmforge.client() as client:
            local = sign_in(client)
            assert local.status_code == 303
            assert 'action="/account/password"' in client.get("/account").text


def test_a_local_user_named_like_an_sso_identity_stays_a_different_user(
    make_helmforge: MakeHelmforge,
) -> None:
    with mock_provider([DAVE]) as issuer, make_helmforge(_settings(issuer)) as helmforge:
        accounts.create_user(
            helmforge.sessions, "dave", role="admin", password="x" * 16, actor=SYSTEM
        )
        with helmforge.client() as client:
            helmforge.finish(client, _authorize_mock(helmforge.start(client), "dave-1"))
            # The local admin "dave"'s binding (user:dave) does not apply to dave@sso.
            assert client.get("/api/v1/me").json()["name"] == "dave@sso"
            assert client.get("/api/v1/users").status_code == 403


# --- API tokens of SSO users act with the groups of the latest sign-in --------------------


@contextmanager
def _signed_in_client(helmforge: Helmforge) -> Iterator[httpx.Client]:
    """A client signed in through the strict provider (whatever claims it holds now)."""
    with helmforge.client() as client:
        callback = httpx.get(helmforge.start(client)).headers["location"]
        assert helmforge.finish(client, callback).status_code == 303
        yield client


def _new_token(client: httpx.Client, **body: object) -> str:
    csrf = csrf_of(client.get("/account").text)
    answer = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def _as_token(helmforge: Helmforge, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{helmforge.url}{path}", headers={"Authorization": f"Bearer {token}"})


def test_an_sso_users_api_token_acts_with_the_groups_of_their_latest_sign_in(
    make_stored_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    # Defect: an SSO user's token acted only with user:NAME@sso bindings, so the group-mapped
    # roles, the only rights an SSO user usually has, did not apply to it.
    with make_stored_helmforge(_settings(strict.issuer)) as helmforge:
        access.add_binding(
            helmforge.sessions,
            subject="group:platform-sre",
            role="auditor",
            scope="*/*/*/*",
            actor=SYSTEM,
        )
        with _signed_in_client(helmforge) as client:
            token = _new_token(client, label="ci")
        me = _as_token(helmforge, token, "/api/v1/me").json()
        assert me["subjects"] == ["user:carol@sso", "group:platform-sre"]
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 200
        # The provider drops carol from the group; her next sign-in updates what tokens carry.
        strict.claims = {"preferred_username": "carol", "groups": ["marketing"]}
        with _signed_in_client(helmforge):
            pass
        me = _as_token(helmforge, token, "/api/v1/me").json()
        assert me["subjects"] == ["user:carol@sso", "group:marketing"]
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 403


def test_a_login_gate_refusal_also_takes_the_lost_group_from_the_users_tokens(
    make_stored_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    settings = _settings(strict.issuer, allowed_groups=frozenset({"platform-sre"}))
    with make_stored_helmforge(settings) as helmforge:
        access.add_binding(
            helmforge.sessions,
            subject="group:platform-sre",
            role="auditor",
            scope="*/*/*/*",
            actor=SYSTEM,
        )
        with _signed_in_client(helmforge) as client:
            token = _new_token(client)
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 200
        strict.claims = {"preferred_username": "carol", "groups": []}
        refused = _strict_sign_in(helmforge, strict)
        assert refused.status_code == 401
        assert "not a member of any group allowed to sign in" in _error(refused)
        assert _as_token(helmforge, token, "/api/v1/me").json()["subjects"] == ["user:carol@sso"]
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 403


def test_an_sso_users_token_may_be_narrowed_to_a_group_binding(
    make_stored_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with make_stored_helmforge(_settings(strict.issuer)) as helmforge:
        for role in ("auditor", "template-user"):
            access.add_binding(
                helmforge.sessions,
                subject="group:platform-sre",
                role=role,
                scope="*/*/*/*",
                actor=SYSTEM,
            )
        bindings = access.list_bindings(
            helmforge.sessions, actor=SYSTEM, subject="group:platform-sre"
        )
        [auditor] = [binding.id for binding in bindings if binding.role == "auditor"]
        with _signed_in_client(helmforge) as client:
            narrow = _new_token(client, bindings=[auditor])
            csrf = csrf_of(client.get("/account").text)
            other = client.post(
                "/api/v1/tokens", json={"bindings": [auditor + 100]}, headers={"X-CSRF-Token": csrf}
            )
            assert other.status_code == 422
            assert f"binding {auditor + 100} is not one of user:carol@sso's" in other.text
        me = _as_token(helmforge, narrow, "/api/v1/me").json()
        # /me lists the bindings the token acts with (it listed all of the user's before).
        assert [b["role"] for b in me["bindings"]] == ["auditor"]
        assert "chart.build" not in me["permissions"]
        assert _as_token(helmforge, narrow, "/api/v1/audit").status_code == 200


# --- the strict provider: each refused token answers 401 -----------------------------------


def _strict_sign_in(helmforge: Helmforge, provider: StrictProvider) -> httpx.Response:
    with helmforge.client() as client:
        authorization = helmforge.start(client)
        callback = httpx.get(authorization).headers["location"]
        return helmforge.finish(client, callback)


@pytest.fixture
def strict() -> Iterator[StrictProvider]:
    with strict_provider() as provider:
        yield provider


def test_strict_provider_accepts_a_correct_sign_in(
    make_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        answer = _strict_sign_in(helmforge, strict)
        assert answer.status_code == 303, answer.text


def _refused(helmforge: Helmforge, provider: StrictProvider, expected: str) -> None:
    answer = _strict_sign_in(helmforge, provider)
    assert answer.status_code == 401, answer.text
    message = _error(answer)
    assert expected in message, message
    assert any(expected in reason for reason in helmforge.refusals())
    for token in provider.issued_tokens:  # the audit record never holds the token
        assert all(token not in reason for reason in helmforge.refusals())


def test_wrong_audience_answers_401(make_helmforge: MakeHelmforge, strict: StrictProvider) -> None:
    strict.token_tweaks = {"aud": "another-client"}
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        _refused(helmforge, strict, "the ID token is meant for 'another-client', not this client")


def test_wrong_issuer_answers_401(make_helmforge: MakeHelmforge, strict: StrictProvider) -> None:
    strict.token_tweaks = {"iss": "https://evil.example"}
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        _refused(helmforge, strict, "the ID token's issuer 'https://evil.example' is not")


def test_alg_none_answers_401(make_helmforge: MakeHelmforge, strict: StrictProvider) -> None:
    strict.alg_none = True
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        _refused(helmforge, strict, "the ID token is signed with alg 'none'")


def test_expired_token_answers_401(make_helmforge: MakeHelmforge, strict: StrictProvider) -> None:
    strict.token_tweaks = {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        _refused(helmforge, strict, "the ID token has expired")


def test_replayed_nonce_answers_401(make_helmforge: MakeHelmforge, strict: StrictProvider) -> None:
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        first = _strict_sign_in(helmforge, strict)
        assert first.status_code == 303
        # The provider hands out a token carrying the first sign-in's nonce again.
        nonce = next(iter(_nonces_of(strict.issued_tokens[0])))
        strict.token_tweaks = {"nonce": nonce}
        _refused(helmforge, strict, "the ID token's nonce does not match this sign-in")


def _nonces_of(token: str) -> set[str]:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {claims["nonce"]}


def test_bad_pkce_verifier_answers_401(
    make_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        with helmforge.client() as client:
            # Two sign-ins under way in one browser; the code of the first is delivered to the
            # second's callback (code injection): its verifier does not match the challenge.
            first = httpx.get(helmforge.start(client)).headers["location"]
            second = httpx.get(helmforge.start(client)).headers["location"]
            code = parse_qs(urlsplit(first).query)["code"][0]
            state = parse_qs(urlsplit(second).query)["state"][0]
            answer = client.get("/sso/callback", params={"code": code, "state": state})
        assert answer.status_code == 401, answer.text
        assert "the provider refused the authorization code (invalid_grant)" in _error(answer)


def test_replayed_callback_answers_401(
    make_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        with helmforge.client() as client:
            authorization = helmforge.start(client)
            callback = httpx.get(authorization).headers["location"]
            state = parse_qs(urlsplit(callback).query)["state"][0]
            assert helmforge.finish(client, callback).status_code == 303
            client.cookies.set("helmforge_sso_state", state, path="/sso")
            replay = helmforge.finish(client, callback)
        assert replay.status_code == 401
        assert "unknown, expired or already used" in _error(replay)


def test_callback_from_another_browser_answers_401(
    make_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with make_helmforge(_settings(strict.issuer)) as helmforge:
        with helmforge.client() as attacker:
            callback = httpx.get(helmforge.start(attacker)).headers["location"]
        with helmforge.client() as victim:
            answer = helmforge.finish(victim, callback)
            assert answer.status_code == 401
            assert "started in another browser" in _error(answer)
            assert victim.get("/api/v1/me").status_code == 401


# --- a provider that never answers (RELIABILITY row 41) ------------------------------------


def test_silent_provider_fails_the_callback_at_its_deadline_and_healthz_answers(
    make_helmforge: MakeHelmforge, strict: StrictProvider
) -> None:
    with silent_peer() as (silent, accepted):
        strict.token_endpoint = f"{silent}/token"
        settings = _settings(strict.issuer, deadline=2.0)
        with make_helmforge(settings) as helmforge:
            with helmforge.client() as client:
                callback = httpx.get(helmforge.start(client)).headers["location"]
                answers: list[httpx.Response] = []
                waiting = threading.Thread(
                    target=lambda: answers.append(helmforge.finish(client, callback))
                )
                waiting.start()
                assert accepted.wait(timeout=60), "the callback never reached the provider"
                with helmforge.client() as other:
                    assert other.get("/healthz").status_code == 200
                    assert other.get("/login").status_code == 200
                waiting.join()
            assert answers[0].status_code == 401
            assert "did not answer the code exchange within 2 seconds" in _error(answers[0])


def test_silent_provider_fails_the_sign_in_start_at_its_deadline(
    make_helmforge: MakeHelmforge,
) -> None:
    with (
        silent_peer() as (silent, _accepted),
        make_helmforge(_settings(silent, deadline=1.0)) as helmforge,
        helmforge.client() as client,
    ):
        answer = client.get("/sso/login")
        assert answer.status_code == 401
        assert "did not answer with its discovery document within 1 seconds" in _error(answer)
        assert client.get("/healthz").status_code == 200
        assert helmforge.refusals() == [
            "the single sign-on provider did not answer with its discovery document within "
            f"1 seconds ({silent}/.well-known/openid-configuration)"
        ]
