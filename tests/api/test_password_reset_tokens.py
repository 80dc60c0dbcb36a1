"""An administrator's password reset can revoke the user's API tokens too (after a
compromise the tokens are as good as the password); without it they keep working."""

from __future__ import annotations

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from tests.api.conftest import Api

NEW = "a one-time password for dev"


def test_api_tokens_survive_a_password_reset_unless_revoke_tokens_is_asked(api: Api) -> None:
    headers = api.as_user("dev", role="developer")
    second = accounts.create_token(api.sessions, user="dev", actor=SYSTEM).token
    kept = api.client.post("/api/v1/users/dev/password", json={"password": NEW})
    assert kept.status_code == 200, kept.text
    assert kept.json() == {"user": "dev", "must_change_password": True, "tokens_revoked": 0}
    assert api.client.get("/api/v1/templates", headers=headers).status_code == 200
    revoked = api.client.post(
        "/api/v1/users/dev/password", json={"password": NEW + "!", "revoke_tokens": True}
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["tokens_revoked"] == 2
    assert api.client.get("/api/v1/templates", headers=headers).status_code == 401
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(api.sessions, second)
    events = api.client.get("/api/v1/audit", params={"action": "user.password_set"}).json()
    assert [e["after"]["tokens_revoked"] for e in events] == [2, 0]


def test_password_reset_errors_never_echo_the_password_and_need_an_admin(api: Api) -> None:
    api.as_user("dev", role="developer")
    short = api.client.post("/api/v1/users/dev/password", json={"password": "tiny-secret"})
    assert short.status_code == 422
    assert "tiny-secret" not in short.text
    extra = api.client.post(
        "/api/v1/users/dev/password", json={"password": NEW, "revoke_tokens": "maybe", "x": 1}
    )
    assert extra.status_code == 422
    assert NEW not in extra.text
    assert "revoke_tokens" in extra.json()["message"]
    missing = api.client.post("/api/v1/users/nobody/password", json={"password": NEW})
    assert missing.status_code == 404
    viewer = api.as_user("vera", role="auditor")
    denied = api.client.post("/api/v1/users/dev/password", json={"password": NEW}, headers=viewer)
    assert denied.status_code == 403
