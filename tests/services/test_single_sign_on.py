"""The single sign-on service on SQLite and PostgreSQL, against the strict provider on loopback:
one use per sign-in, SSO users and their identities, groups on the web session, audits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.oidc_tables import OidcIdentityRow, OidcLoginRow
from helmforge.adapters.storage.server_tables import AuditEventRow, UserRow
from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from helmforge.services.settings import OidcSettings
from helmforge.services.single_sign_on import SingleSignOn, SsoSignIn
from helmforge.services.web_sessions import open_session, resolve_session
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, StrictProvider, strict_provider

REDIRECT = "http://127.0.0.1:1/sso/callback"


@pytest.fixture
def provider() -> Iterator[StrictProvider]:
    with strict_provider() as started:
        yield started


def _sso(provider: StrictProvider) -> SingleSignOn:
    return SingleSignOn(
        OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )


def _callback(sso: SingleSignOn, sessions: sessionmaker[Session]) -> dict[str, str]:
    """Start a sign-in and let the provider answer: the callback's query."""
    url = sso.begin(sessions, next_url="/templates", redirect_uri=REDIRECT, source="test")
    location = httpx.get(url).headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_first_sign_in_creates_the_user_and_later_ones_find_it(
    sessions: sessionmaker[Session], provider: StrictProvider
) -> None:
    sso = _sso(provider)
    first = _finish(sso, sessions, _callback(sso, sessions))
    assert first.principal.name == "carol@sso"
    assert first.principal.groups == ("platform-sre",)
    assert first.next_url == "/templates"
    provider.claims = {"preferred_username": "carol.renamed", "groups": []}
    again = _finish(sso, sessions, _callback(sso, sessions))
    # The same (issuer, subject): the same user, though the provider renamed them.
    assert (again.principal.id, again.principal.name) == (first.principal.id, "carol@sso")
    assert again.principal.groups == ()
    with sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OidcIdentityRow)) == 1
        row = session.get(UserRow, first.principal.id)
        assert row is not None
        assert row.role == "sso"
        assert session.scalar(sa.select(sa.func.count()).select_from(OidcLoginRow)) == 0


def _finish(
    sso: SingleSignOn,
    sessions: sessionmaker[Session],
    query: dict[str, str],
    *,
    error: str = "",
    now: datetime | None = None,
) -> SsoSignIn:
    return sso.finish(
        sessions,
        state=query["state"],
        code=query["code"],
        error=error,
        redirect_uri=REDIRECT,
        source="test",
        now=now,
    )


def test_a_second_identity_with_a_taken_name_gets_a_distinct_one(
    sessions: sessionmaker[Session], provider: StrictProvider
) -> None:
    sso = _sso(provider)
    first = _finish(sso, sessions, _callback(sso, sessions))
    provider.subject = "another-carol"
    second = _finish(sso, sessions, _callback(sso, sessions))
    assert first.principal.name == "carol@sso"
    assert second.principal.name.startswith("carol-")
    assert second.principal.name.endswith("@sso")
    assert second.principal.id != first.principal.id


def test_a_sign_in_is_used_once(sessions: sessionmaker[Session], provider: StrictProvider) -> None:
    sso = _sso(provider)
    query = _callback(sso, sessions)
    _finish(sso, sessions, query)
    with pytest.raises(AuthenticationError, match="unknown, expired or already used"):
        _finish(sso, sessions, query)


def test_an_expired_sign_in_is_refused(
    sessions: sessionmaker[Session], provider: StrictProvider
) -> None:
    sso = _sso(provider)
    query = _callback(sso, sessions)
    later = datetime.now(UTC) + timedelta(minutes=11)
    with pytest.raises(AuthenticationError, match="unknown, expired or already used"):
        _finish(sso, sessions, query, now=later)


def test_the_providers_refusal_is_audited_without_the_code(
    sessions: sessionmaker[Session], provider: StrictProvider
) -> None:
    sso = _sso(provider)
    query = _callback(sso, sessions)
    with pytest.raises(
        AuthenticationError, match=r"the provider refused the sign-in \(access_denied\)"
    ):
        _finish(sso, sessions, query, error="access_denied")
    with sessions() as session:
        events = session.scalars(
            sa.select(AuditEventRow).where(AuditEventRow.action == "user.sign_in")
        ).all()
    assert [e.after["outcome"] for e in events] == ["refused"]
    assert query["code"] not in str(events[0].after)


def test_a_disabled_sso_user_is_refused(
    sessions: sessionmaker[Session], provider: StrictProvider
) -> None:
    sso = _sso(provider)
    first = _finish(sso, sessions, _callback(sso, sessions))
    with sessions.begin() as session:
        row = session.get(UserRow, first.principal.id)
        assert row is not None
        row.disabled = True
    with pytest.raises(AuthenticationError, match="this user is disabled"):
        _finish(sso, sessions, _callback(sso, sessions))


def test_web_sessions_keep_the_groups_they_were_opened_with(
    sessions: sessionmaker[Session],
) -> None:
    admin = accounts.create_user(
        sessions, "admin", role="admin", password="correct horse battery", actor=SYSTEM
    )
    cookie, _ = open_session(
        sessions, user_id=admin.id, lifetime=timedelta(hours=1), groups=("ops", "sre")
    )
    local, _ = open_session(sessions, user_id=admin.id, lifetime=timedelta(hours=1))
    found = resolve_session(sessions, cookie)
    assert found is not None
    assert found.groups == ("ops", "sre")
    plain = resolve_session(sessions, local)
    assert plain is not None
    assert plain.groups == ()
