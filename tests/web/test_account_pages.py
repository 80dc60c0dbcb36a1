"""The Account page: changing one's password, and the must-change-password detour that a
generated or admin-set password imposes (on SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.services import accounts
from tests.web.conftest import ADMIN_NAME, ADMIN_PASSWORD, LiveServer, WebClient, csrf_of, sign_in

SET_BY_ADMIN = "set by an admin 123"
MINE = "my very own password"


@pytest.fixture
def server_database_url(database_url: str) -> str:
    return database_url


def _change(
    client: httpx.Client, *, current: str, new: str, confirm: str | None = None
) -> httpx.Response:
    return client.post(
        "/account/password",
        data={
            "csrf_token": csrf_of(client.get("/account").text),
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
        },
    )


def test_a_must_change_user_is_held_on_the_account_page(live_server: LiveServer) -> None:
    accounts.set_password(live_server.sessions, ADMIN_NAME, password=SET_BY_ADMIN, actor=SYSTEM)
    token = accounts.create_token(live_server.sessions, user=ADMIN_NAME, actor=SYSTEM).token
    with httpx.Client(base_url=live_server.url) as client:
        assert sign_in(client, password=SET_BY_ADMIN).status_code == 303
        for path in ("/", "/templates", "/tokens", "/users"):
            response = client.get(path, follow_redirects=True)
            assert response.url.path == "/account", path
        page = client.get("/account")
        assert page.status_code == 200
        assert "Choose your own password" in page.text
        api = client.get("/api/v1/templates")
        assert api.status_code == 403
        assert "change your password" in api.json()["message"]
        by_token = httpx.get(
            f"{live_server.url}/api/v1/templates", headers={"Authorization": f"Bearer {token}"}
        )
        assert by_token.status_code == 200  # API tokens are not held back
        assert _change(client, current=SET_BY_ADMIN, new=MINE).status_code == 303
        assert client.get("/templates").status_code == 200
        assert client.get("/api/v1/templates").status_code == 200
        done = client.get("/account?changed=true")
        assert "Your password was changed" in done.text
        assert "Choose your own password" not in done.text
    with httpx.Client(base_url=live_server.url) as client:
        assert sign_in(client, password=MINE).status_code == 303
        assert client.get("/templates").status_code == 200


def test_change_password_errors_are_inline(web: WebClient) -> None:
    wrong = _change(web.client, current="not my password", new=MINE)
    assert wrong.status_code == 401
    assert "The current password is wrong." in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    assert MINE not in wrong.text
    differ = _change(web.client, current=ADMIN_PASSWORD, new=MINE, confirm=MINE + "!")
    assert differ.status_code == 422
    assert "The two new passwords differ" in differ.text
    short = _change(web.client, current=ADMIN_PASSWORD, new="short one")
    assert short.status_code == 422
    assert "at least 12 characters" in short.text
    assert "short one" not in short.text
    assert ADMIN_PASSWORD not in short.text
    assert _change(web.client, current=ADMIN_PASSWORD, new=MINE).status_code == 303


def test_change_password_needs_the_csrf_token(web: WebClient) -> None:
    fields = {"current_password": ADMIN_PASSWORD, "new_password": MINE, "confirm_password": MINE}
    missing = web.client.post("/account/password", data=fields)
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    forged = web.client.post("/account/password", data={**fields, "csrf_token": "forged"})
    assert forged.status_code == 403
    accounts.authenticate_password(web.server.sessions, ADMIN_NAME, ADMIN_PASSWORD, source="t")


def test_changing_the_password_signs_out_other_browsers(web: WebClient) -> None:
    with httpx.Client(base_url=web.server.url) as other:
        assert sign_in(other).status_code == 303
        assert other.get("/templates").status_code == 200
        assert _change(web.client, current=ADMIN_PASSWORD, new=MINE).status_code == 303
        assert other.get("/templates").status_code == 303  # back to the sign-in page
    assert web.client.get("/templates").status_code == 200  # this browser stays signed in


def test_the_nav_links_to_the_account_page(web: WebClient) -> None:
    page = web.client.get("/templates").text
    assert '<a href="/account"' in page
