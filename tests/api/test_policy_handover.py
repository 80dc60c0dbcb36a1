"""PUT /api/v1/policy when the new policy changes who administers (found by trying the product
from outside): the import is done, so the answer is the stored policy, never a 403 from reading
it back with rights the caller has just given away; and a policy whose admin bindings name
nobody able to sign in is refused (422, each admin line named) before it locks everyone out."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa

from helmforge.adapters.storage.server_tables import UserRow
from helmforge.services.settings import OidcSettings
from helmforge.services.single_sign_on import SingleSignOn
from tests.api.conftest import Api
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, strict_provider

CSV = {"Content-Type": "text/csv"}


def test_handing_administration_to_another_user_answers_the_stored_policy(api: Api) -> None:
    api.as_user("bea", role="auditor")
    text = "g, user:bea, role:admin, */*/*/*\n"
    put = api.client.put("/api/v1/policy", content=text, headers=CSV)
    # The caller gave up their own admin binding: the import is done, and the answer says so
    # rather than refusing to show what was stored (it used to answer 403 after committing).
    assert put.status_code == 200, put.text
    assert put.text == text
    assert api.client.get("/api/v1/me").json()["bindings"] == []


def test_a_group_with_an_active_member_may_hold_the_admin_role(api: Api) -> None:
    text = "g, group:platform-admins, role:admin, */*/*/*\ng, user:admin, role:auditor, */*/*/*\n"
    before = api.client.get("/api/v1/policy").text
    # Nobody active belongs to the group yet: the policy would leave no administrator.
    refused = api.client.put("/api/v1/policy", content=text, headers=CSV)
    assert refused.status_code == 422, refused.text
    assert refused.json()["problems"] == [
        {
            "message": "policy.csv:1: group:platform-admins has no active member",
            "line": 1,
            "path": "subject",
        }
    ]
    assert api.client.get("/api/v1/policy").text == before
    _sign_in_with_sso(api, name="pat", groups=["platform-admins"])
    put = api.client.put("/api/v1/policy", content=text, headers=CSV)
    assert put.status_code == 200, put.text
    assert put.text == text


def test_a_policy_whose_only_admin_is_no_user_is_refused_and_changes_nothing(api: Api) -> None:
    before = api.client.get("/api/v1/policy").text
    text = "g, user:admin, role:auditor\n# the new administrator\ng, user:ghost, role:admin\n"
    put = api.client.put("/api/v1/policy", content=text, headers=CSV)
    assert put.status_code == 422, put.text
    body = put.json()
    assert body["problems"] == [
        {"message": "policy.csv:3: user:ghost is no user here", "line": 3, "path": "subject"}
    ]
    assert (
        "at least one admin binding must name an existing, active user or a group with an "
        "active member" in body["message"]
    )
    assert api.client.get("/api/v1/policy").text == before
    assert api.client.get("/api/v1/me").json()["bindings"] != []


def test_a_policy_whose_only_admin_is_disabled_is_refused(api: Api) -> None:
    api.as_user("dora", role="auditor")
    with api.sessions.begin() as session:
        session.execute(sa.update(UserRow).where(UserRow.name == "dora").values(disabled=True))
    put = api.client.put("/api/v1/policy", content="g, user:dora, role:admin\n", headers=CSV)
    assert put.status_code == 422, put.text
    assert [p["message"] for p in put.json()["problems"]] == ["policy.csv:1: user:dora is disabled"]


def test_admin_bindings_of_users_yet_to_exist_stay_allowed_beside_an_active_admin(
    api: Api,
) -> None:
    text = (
        "g, user:later, role:admin, */*/*/*\n"
        "g, group:nobody-yet, role:admin, */*/*/*\n"
        "g, user:admin, role:admin, */*/*/*\n"
        "g, user:someone-later, role:operator, */*/dev/*\n"
    )
    put = api.client.put("/api/v1/policy", content=text, headers=CSV)
    assert put.status_code == 200, put.text
    assert put.text == text


def _sign_in_with_sso(api: Api, *, name: str, groups: list[str]) -> None:
    """A real single sign-on of ``name`` (against the strict provider on loopback), so the store
    knows them as an active user whose latest sign-in named ``groups``."""
    redirect = "http://127.0.0.1:1/sso/callback"
    with strict_provider() as provider:
        provider.claims = {"preferred_username": name, "groups": groups}
        sso = SingleSignOn(
            OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        )
        url = sso.begin(api.sessions, next_url="/", redirect_uri=redirect, source="test")
        location = httpx.get(url).headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        sso.finish(
            api.sessions,
            state=query["state"],
            code=query["code"],
            error="",
            redirect_uri=redirect,
            source="test",
        )
