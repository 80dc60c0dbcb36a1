"""The Users page's password reset offers "and revoke their API tokens"."""

from __future__ import annotations

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
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
