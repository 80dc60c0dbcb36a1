"""The Users page's password reset offers "and revoke their API tokens"; for an SSO user,
who has no password here, it offers Sign out (and revoke their API tokens) instead."""

from __future__ import annotations

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from tests.support.oidc import sso_user, strict_provider
from tests.web.conftest import WebClient


def test_the_users_page_reset_can_revoke_the_users_api_tokens(web: WebClient) -> None:
    sessions = web.server.sessions
    accounts.create_user(
        sessions, "bob", role="developer", password="bob's long password", actor=SYSTEM
    )
    token = accounts.create_token(sessions, user="bob", actor=SYSTEM).token
    page = web.client.get("/users")
    assert 'name="revoke_tokens"' in page.text
    reset = web.client.post(
        "/users/bob/reset-password", data={"csrf_token": web.csrf("/users"), "revoke_tokens": "on"}
    )
    assert reset.status_code == 200, reset.text
    assert "1 API token(s) of theirs revoked" in reset.text
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(sessions, token)
    again = accounts.create_token(sessions, user="bob", actor=SYSTEM).token
    plain = web.client.post("/users/bob/reset-password", data={"csrf_token": web.csrf("/users")})
    assert plain.status_code == 200
    assert "revoked" not in plain.text
    assert accounts.principal_for_token(sessions, again).name == "bob"


def test_the_users_page_offers_an_sso_user_sign_out_not_a_password_reset(web: WebClient) -> None:
    sessions = web.server.sessions
    with strict_provider() as provider:
        carol = sso_user(sessions, provider)
    token = accounts.create_token(sessions, user=carol.name, actor=SYSTEM).token
    page = web.client.get("/users").text
    assert 'action="/users/carol@sso/sign-out"' in page
    assert 'action="/users/carol@sso/reset-password"' not in page
    forged = web.client.post(
        "/users/carol@sso/reset-password", data={"csrf_token": web.csrf("/users")}
    )
    assert forged.status_code == 422
    assert "signs in through single sign-on and has no password in helmforge" in forged.text
    assert accounts.principal_for_token(sessions, token).name == carol.name
    done = web.client.post(
        "/users/carol@sso/sign-out", data={"csrf_token": web.csrf("/users"), "revoke_tokens": "on"}
    )
    assert done.status_code == 200, done.text
    assert "0 web session(s) ended; 1 API token(s) revoked." in done.text
    assert "remove them at the identity provider" in done.text
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(sessions, token)
