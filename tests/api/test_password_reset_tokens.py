"""An administrator's password reset can revoke the user's API tokens too (after a
compromise the tokens are as good as the password); without it they keep working. An SSO
user has no password here: the reset says so, and signing them out is what applies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from helmforge.services.web_sessions import open_session, resolve_session
from tests.api.conftest import Api
from tests.support.oidc import sso_user, strict_provider

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


def test_an_sso_user_has_no_password_to_reset_and_signing_them_out_applies(api: Api) -> None:
    # Defect: resetting an SSO user's password answered 404 "user 'carol@sso' does not exist".
    with strict_provider() as provider:
        carol = sso_user(api.sessions, provider)
    token = accounts.create_token(api.sessions, user=carol.name, actor=SYSTEM).token
    cookie, _ = open_session(api.sessions, user_id=carol.id, lifetime=timedelta(hours=1))
    reset = api.client.post(f"/api/v1/users/{carol.name}/password", json={"password": NEW})
    assert reset.status_code == 422, reset.text
    answer = reset.json()
    assert [problem["path"] for problem in answer["problems"]] == ["password"]
    assert (
        "carol@sso signs in through single sign-on and has no password in helmforge"
        in answer["message"]
    )
    assert "POST /api/v1/users/carol@sso/sign-out" in answer["message"]
    assert NEW not in reset.text
    assert accounts.principal_for_token(api.sessions, token).name == carol.name  # untouched

    viewer = api.as_user("vera", role="auditor")
    denied = api.client.post(f"/api/v1/users/{carol.name}/sign-out", headers=viewer)
    assert denied.status_code == 403
    assert api.client.post("/api/v1/users/nobody/sign-out").status_code == 404
    done = api.client.post(f"/api/v1/users/{carol.name}/sign-out", json={"revoke_tokens": True})
    assert done.status_code == 200, done.text
    assert done.json() == {"user": carol.name, "sessions_closed": 1, "tokens_revoked": 1}
    assert resolve_session(api.sessions, cookie) is None
    with pytest.raises(AuthenticationError, match=r"^invalid or revoked API token$"):
        accounts.principal_for_token(api.sessions, token)
    events = api.client.get("/api/v1/audit", params={"action": "user.sign_out"}).json()
    assert [e["after"] for e in events] == [{"sessions_closed": 1, "tokens_revoked": 1}]
