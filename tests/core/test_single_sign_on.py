"""The pure part of single sign-on: groups from claims, the login gate, SSO user names."""

from __future__ import annotations

import re

from helmforge.core.access.single_sign_on import (
    groups_from_claims,
    login_gate_refusal,
    sso_user_name,
)


def test_groups_claim_as_list_or_string_drops_what_cannot_be_a_subject() -> None:
    claims = {"groups": ["sre", "sre", "has space", "", 7, "x" * 200, "devs"], "one": "ops"}
    assert groups_from_claims(claims, "groups") == ("devs", "sre")
    assert groups_from_claims(claims, "one") == ("ops",)
    assert groups_from_claims(claims, "missing") == ()
    assert groups_from_claims({"groups": {"a": 1}}, "groups") == ()


def test_login_gate() -> None:
    assert login_gate_refusal((), frozenset()) is None
    assert login_gate_refusal(("sre",), frozenset({"sre", "ops"})) is None
    refusal = login_gate_refusal(("marketing",), frozenset({"sre", "ops"}))
    assert refusal is not None
    assert "allowed: ops, sre" in refusal


def test_sso_user_names_never_look_like_local_names() -> None:
    local = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")  # accounts' rule for local users
    names = [
        sso_user_name({"sub": "1", "preferred_username": "Alice Smith"}),
        sso_user_name({"sub": "2", "email": "bob@example.com"}),
        sso_user_name({"sub": "3"}),
        sso_user_name({"sub": "???"}),
        sso_user_name({"sub": "4", "preferred_username": "z" * 300}),
        sso_user_name({"sub": "5", "preferred_username": "alice"}, disambiguate=True),
    ]
    assert names[:4] == ["alice-smith@sso", "bob@sso", "3@sso", names[3]]
    assert re.fullmatch(r"sso-[0-9a-f]{8}@sso", names[3])
    assert re.fullmatch(r"alice-[0-9a-f]{8}@sso", names[5])
    for name in names:
        assert len(name) <= 64
        assert not local.match(name)
