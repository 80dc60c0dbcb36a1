"""An SSO user's groups hold for a bounded time (``HELMFORGE_OIDC_GROUPS_LIFETIME``), then the
browser goes through the provider again: silently (``prompt=none``) while the user is signed
in there, else through an ordinary sign-in. A user the provider removed from a group loses
that group's rights at the next check; one the login gate no longer admits is signed out.
Their API tokens act with the groups as long after the last sign-in or check, then with the
user's own bindings only (a denial says why) until the next.

Against ``StrictProvider`` on loopback (it keeps a session for its user and answers
``prompt=none`` as providers do); time is the server's injected clock, never a sleep.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import AuditEventRow
from helmforge.core.access.principals import SYSTEM
from helmforge.server.app import state_of
from helmforge.services import access, accounts
from helmforge.services.settings import OidcSettings
from tests.support.apps import make_app
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, StrictProvider, strict_provider
from tests.support.servers import serve
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD, csrf_of, sign_in

SESSION = "helmforge_session"
_ERROR = re.compile(r'id="login-error">([^<]*)<')


class Clock:
    """The server's clock: real time at the start, moved only by ``advance``."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Helmforge:
    def __init__(self, url: str, sessions: sessionmaker[Session]) -> None:
        self.url = url
        self.sessions = sessions

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def follow_to_provider(self, client: httpx.Client, path: str) -> str:
        """``GET path`` on helmforge and follow its redirects to the provider's URL."""
        answer = client.get(path)
        while answer.status_code == 303 and answer.headers["location"].startswith("/"):
            answer = client.get(answer.headers["location"])
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def back_from_provider(self, client: httpx.Client, authorization: str) -> httpx.Response:
        """The provider's answer to ``authorization``, delivered to helmforge's callback."""
        callback = urlsplit(httpx.get(authorization).headers["location"])
        assert f"{callback.scheme}://{callback.netloc}" == self.url
        return client.get(f"{callback.path}?{callback.query}")

    def sign_in(self, client: httpx.Client, path: str = "/") -> None:
        authorization = self.follow_to_provider(client, f"/sso/login?next={path}")
        assert self.back_from_provider(client, authorization).status_code == 303

    def sign_in_methods(self) -> list[str]:
        with self.sessions() as session:
            rows = session.scalars(
                sa.select(AuditEventRow)
                .where(AuditEventRow.action == "user.sign_in")
                .order_by(AuditEventRow.id)
            )
            return [
                str(row.after.get("method", "")) + ":" + str(row.after.get("outcome", "ok"))
                for row in rows
                if isinstance(row.after, dict)
            ]


@pytest.fixture
def strict() -> Iterator[StrictProvider]:
    with strict_provider() as provider:
        yield provider


@pytest.fixture
def clock() -> Clock:
    return Clock()


@contextmanager
def running(
    database_url: str, data_dir: Path, provider: StrictProvider, clock: Clock, **oidc: object
) -> Iterator[Helmforge]:
    settings = OidcSettings(
        issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **oidc
    )  # type: ignore[arg-type]
    app, _ = make_app(
        database_url, data_dir, with_web=True, seed_examples=False, oidc=settings, clock=clock
    )
    sessions = state_of(app).sessions
    accounts.create_user(sessions, ADMIN_NAME, role="admin", password=ADMIN_PASSWORD, actor=SYSTEM)
    access.add_binding(
        sessions, subject="group:platform-sre", role="auditor", scope="*/*/*/*", actor=SYSTEM
    )
    try:
        with serve(app) as url:
            yield Helmforge(url, sessions)
    finally:
        sessions.kw["bind"].dispose()


def _error(answer: httpx.Response) -> str:
    match = _ERROR.search(answer.text)
    assert match, answer.text
    return html.unescape(match.group(1))


def test_a_group_removed_at_the_provider_stops_granting_at_the_next_silent_check(
    database_url: str, tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    # Defect: the session kept the sign-in's groups for its whole 8 hours.
    with running(database_url, tmp_path / "data", strict, clock) as helmforge:
        with helmforge.client() as client:
            helmforge.sign_in(client)
            cookie = client.cookies[SESSION]
            assert client.get("/api/v1/audit").status_code == 200
            strict.claims = {"preferred_username": "carol", "groups": ["marketing"]}
            clock.advance(minutes=14)
            # Within the lifetime the groups hold and the provider is not asked.
            assert client.get("/api/v1/audit").status_code == 200
            assert strict.prompts == [""]

            clock.advance(minutes=2)
            api = client.get("/api/v1/audit")
            assert api.status_code == 401, api.text
            assert "due for a check with the identity provider" in api.text
            page = client.get("/audit")
            assert page.status_code == 303
            assert page.headers["location"] == "/sso/login?next=/audit&silent=1"
            authorization = helmforge.follow_to_provider(client, "/audit")
            assert parse_qs(urlsplit(authorization).query)["prompt"] == ["none"]
            back = helmforge.back_from_provider(client, authorization)
            assert back.status_code == 303, back.text
            assert back.headers["location"] == "/audit"

            # The same session (cookie and CSRF token), with the provider's groups of now.
            assert client.cookies[SESSION] == cookie
            me = client.get("/api/v1/me").json()
            assert me["subjects"] == ["user:carol@sso", "group:marketing"]
            assert client.get("/api/v1/audit").status_code == 403
            assert strict.prompts == ["", "none"]

            # A check does not lengthen the session: it ends 8 hours after the sign-in.
            clock.advance(hours=7, minutes=44)
            assert client.get("/api/v1/me").status_code == 401
        assert helmforge.sign_in_methods() == ["sso:ok", "sso-check:ok"]


def test_a_provider_that_needs_the_user_gets_an_ordinary_sign_in(
    tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    url = f"sqlite:///{tmp_path / 'helmforge.db'}"
    with (
        running(url, tmp_path / "data", strict, clock, groups_lifetime=60.0) as helmforge,
        helmforge.client() as client,
    ):
        helmforge.sign_in(client)
        strict.signed_in = False  # the user's session at the provider ended
        clock.advance(seconds=61)
        first = helmforge.follow_to_provider(client, "/templates?q=web")
        answer = helmforge.back_from_provider(client, first)
        # login_required: on to an ordinary sign-in, back to the same page after it.
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/sso/login?next=/templates%3Fq%3Dweb"
        second = helmforge.follow_to_provider(client, answer.headers["location"])
        assert "prompt" not in parse_qs(urlsplit(second).query)
        done = helmforge.back_from_provider(client, second)
        assert done.headers["location"] == "/templates?q=web"
        assert strict.prompts == ["", "none", ""]
        assert client.get("/api/v1/me").json()["subjects"][1:] == ["group:platform-sre"]


def test_a_user_the_login_gate_no_longer_admits_is_signed_out_at_the_check(
    tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    url = f"sqlite:///{tmp_path / 'helmforge.db'}"
    gate = frozenset({"platform-sre"})
    with running(url, tmp_path / "data", strict, clock, allowed_groups=gate) as helmforge:
        with helmforge.client() as client:
            helmforge.sign_in(client)
            cookie = client.cookies[SESSION]
            strict.claims = {"preferred_username": "carol", "groups": []}
            clock.advance(minutes=16)
            refused = helmforge.back_from_provider(
                client, helmforge.follow_to_provider(client, "/")
            )
            assert refused.status_code == 401
            assert "not a member of any group allowed to sign in" in _error(refused)
            assert SESSION not in client.cookies
        with helmforge.client() as stolen:  # the old cookie is worth nothing now
            stolen.cookies.set(SESSION, cookie)
            assert stolen.get("/api/v1/me").status_code == 401


def test_local_users_are_never_sent_to_the_provider_and_signing_out_needs_no_check(
    tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    url = f"sqlite:///{tmp_path / 'helmforge.db'}"
    with running(url, tmp_path / "data", strict, clock) as helmforge:
        with helmforge.client() as client:
            assert sign_in(client).status_code == 303
            clock.advance(hours=7)
            assert client.get("/users").status_code == 200
        with helmforge.client() as client:
            helmforge.sign_in(client)
            csrf = csrf_of(client.get("/account").text)
            clock.advance(minutes=16)
            # A form posted while the groups are due is not carried out: through the provider
            # and back to the page it came from.
            posted = client.post(
                "/tokens",
                data={"csrf_token": csrf, "label": "laptop"},
                headers={"Referer": f"{helmforge.url}/tokens"},
            )
            assert posted.status_code == 303
            assert posted.headers["location"] == "/sso/login?next=/tokens&silent=1"
            out = client.post("/logout", data={"csrf_token": csrf})
            assert (out.status_code, out.headers["location"]) == (303, "/login")
            assert client.get("/api/v1/me").status_code == 401
        assert strict.prompts == [""]


def test_two_tabs_checking_at_once_keep_the_session_and_the_later_check_renews_it(
    tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    url = f"sqlite:///{tmp_path / 'helmforge.db'}"
    with (
        running(url, tmp_path / "data", strict, clock) as helmforge,
        helmforge.client() as client,
    ):
        helmforge.sign_in(client)
        cookie = client.cookies[SESSION]
        clock.advance(minutes=16)
        first = helmforge.follow_to_provider(client, "/templates")
        second = helmforge.follow_to_provider(client, "/audit")  # another tab, meanwhile
        lost = helmforge.back_from_provider(client, first)
        assert lost.status_code == 401
        assert "another sign-in was started here since" in _error(lost)
        # Not a verdict on the user: the session stays, still due for its check.
        assert client.cookies[SESSION] == cookie
        assert "due for a check" in client.get("/api/v1/me").text
        done = helmforge.back_from_provider(client, second)
        assert (done.status_code, done.headers["location"]) == (303, "/audit")
        assert client.cookies[SESSION] == cookie
        assert client.get("/api/v1/audit").status_code == 200


def _as_token(helmforge: Helmforge, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{helmforge.url}{path}", headers={"Authorization": f"Bearer {token}"})


def test_an_sso_users_token_acts_without_their_groups_once_they_are_not_confirmed(
    database_url: str, tmp_path: Path, strict: StrictProvider, clock: Clock
) -> None:
    # Defect: the token kept the groups of carol's last sign-in forever (a user removed from a
    # group at the provider who never signs in again kept its rights through their tokens).
    with running(database_url, tmp_path / "data", strict, clock) as helmforge:
        access.add_binding(
            helmforge.sessions,
            subject="user:carol@sso",
            role="approver",
            scope="*/*/*/*",
            actor=SYSTEM,
        )
        with helmforge.client() as client:
            helmforge.sign_in(client)
            signed_in = clock.now
            csrf = csrf_of(client.get("/account").text)
            made = client.post("/api/v1/tokens", json={}, headers={"X-CSRF-Token": csrf})
            assert made.status_code == 201, made.text
        token = str(made.json()["token"])
        clock.advance(minutes=14, seconds=59)
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 200

        clock.advance(seconds=1)  # 15 minutes (HELMFORGE_OIDC_GROUPS_LIFETIME) after it
        denied = _as_token(helmforge, token, "/api/v1/audit")
        assert denied.status_code == 403, denied.text
        message = denied.json()["message"]
        assert message.startswith("carol@sso may not audit.read on helmforge: "), message
        assert message.endswith(
            "(this token acts without carol@sso's single sign-on groups: they were not "
            f"confirmed since {signed_in:%Y-%m-%dT%H:%M:%SZ}; sign in again to renew them)"
        ), message
        # Her own bindings still hold.
        me = _as_token(helmforge, token, "/api/v1/me").json()
        assert me["subjects"] == ["user:carol@sso"]
        assert "change.approve" in me["permissions"]
        assert "audit.read" not in me["permissions"]
        with helmforge.sessions() as session:
            event = session.scalars(
                sa.select(AuditEventRow)
                .where(AuditEventRow.action == "access.deny")
                .order_by(AuditEventRow.id.desc())
            ).first()
            assert event is not None
            assert event.after["groups_unconfirmed_since"] == signed_in.isoformat()

        # Her next sign-in confirms the groups again: the token acts with them from then on.
        clock.advance(hours=3)
        with helmforge.client() as client:
            helmforge.sign_in(client)
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 200
        me = _as_token(helmforge, token, "/api/v1/me").json()
        assert me["subjects"] == ["user:carol@sso", "group:platform-sre"]
        clock.advance(minutes=15)
        assert _as_token(helmforge, token, "/api/v1/audit").status_code == 403
