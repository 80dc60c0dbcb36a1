"""``POST /api/v1/account/password``: the caller changes their own password; no error answer
ever echoes a password."""

from __future__ import annotations

import pytest

from helmforge.core.errors import AuthenticationError
from helmforge.services import accounts
from tests.api.conftest import Api

PATH = "/api/v1/account/password"
NEW = "a brand new password"


def test_change_password_with_a_token(api: Api) -> None:
    wrong = api.client.post(PATH, json={"current_password": "not it at all", "new_password": NEW})
    assert wrong.status_code == 401
    assert "current password is wrong" in wrong.json()["message"]
    assert NEW not in wrong.text
    assert "not it at all" not in wrong.text
    short = api.client.post(
        PATH, json={"current_password": api.admin_password, "new_password": "tiny-secret"}
    )
    assert short.status_code == 422
    assert "at least 12" in short.json()["message"]
    assert "tiny-secret" not in short.text
    assert api.admin_password not in short.text
    changed = api.client.post(
        PATH, json={"current_password": api.admin_password, "new_password": NEW}
    )
    assert changed.status_code == 204, changed.text
    assert changed.content == b""
    admin = accounts.authenticate_password(api.sessions, "admin", NEW, source="api-test")
    state = accounts.signed_in_user(api.sessions, admin.id)
    assert state is not None
    assert not state.must_change_password
    with pytest.raises(AuthenticationError, match=r"^invalid user name or password$"):
        accounts.authenticate_password(api.sessions, "admin", api.admin_password, source="t")


@pytest.mark.parametrize(
    "body",
    [
        b'{"current_password": "hunter2-current-secret", "new_password": 12345678901234}',
        b'{"current_password": "hunter2-current-secret"}',
        b'{"current_password": "hunter2-current-secret", "new_password": "x", "extra": "x"}',
        b'{"current_password": "hunter2-current-secret", "new_password": "',
        b"[]",
    ],
)
def test_malformed_bodies_never_echo_passwords(api: Api, body: bytes) -> None:
    response = api.client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "InputError"
    assert "hunter2" not in response.text
    assert "12345678901234" not in response.text


def test_change_password_needs_authentication(api: Api) -> None:
    response = api.client.post(
        PATH,
        json={"current_password": api.admin_password, "new_password": NEW},
        headers={"Authorization": ""},
    )
    assert response.status_code == 401


def test_openapi_documents_the_body(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"][PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"current_password", "new_password"}
    assert "204" in operation["responses"]
