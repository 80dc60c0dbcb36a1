"""PUT /api/v1/policy when the new policy changes who administers (found by trying the product
from outside): the import is done, so the answer is the stored policy, never a 403 from reading
it back with rights the caller has just given away."""

from __future__ import annotations

from tests.api.conftest import Api

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


def test_a_group_may_hold_the_admin_role(api: Api) -> None:
    text = "g, group:platform-admins, role:admin, */*/*/*\ng, user:admin, role:auditor, */*/*/*\n"
    put = api.client.put("/api/v1/policy", content=text, headers=CSV)
    assert put.status_code == 200, put.text
    assert put.text == text
