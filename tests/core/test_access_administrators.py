"""Who could still administer under a new policy: the admin lines of a policy text, and the
refusal that names each of them when none names someone able to sign in."""

from __future__ import annotations

from helmforge.core.access.administrators import AdminGrant, admin_grants, lockout_refusal
from helmforge.core.access.policy import parse_policy_csv
from helmforge.core.errors import Location

TEXT = (
    "# administrators\n"
    "g, user:root, role:admin\n"
    "  g ,group:ops,role:admin , shop/*/*/*  # narrowed\n"
    "g, user:olga, role:operator, */*/dev/*\n"
    "p, role:admin, values, update, */*/prod/*, deny\n"
    "# g, user:commented, role:admin\n"
)


def test_admin_grants_are_the_g_lines_of_the_admin_role_with_their_lines() -> None:
    parse_policy_csv(TEXT)  # the text is a valid policy, as admin_grants expects
    assert admin_grants(TEXT) == [AdminGrant(2, "user:root"), AdminGrant(3, "group:ops")]


def test_one_active_admin_subject_is_enough() -> None:
    grants = admin_grants(TEXT)
    assert lockout_refusal(grants, {"group:ops": "active"}) is None
    assert lockout_refusal(grants, {"user:root": "active", "group:ops": "unknown"}) is None


def test_a_refusal_names_every_admin_line_and_why_it_cannot_sign_in() -> None:
    refusal = lockout_refusal(admin_grants(TEXT), {"user:root": "disabled"}, source="new.csv")
    assert refusal is not None
    assert [(p.message, p.location) for p in refusal.problems] == [
        ("new.csv:2: user:root is disabled", Location("new.csv", 2, "subject")),
        ("new.csv:3: group:ops has no active member", Location("new.csv", 3, "subject")),
    ]
    assert refusal.location == Location("new.csv", 2, "subject")
    assert (
        "at least one admin binding must name an existing, active user or a group with an "
        "active member" in refusal.message
    )
    missing = lockout_refusal([AdminGrant(1, "user:ghost")], {})
    assert missing is not None
    assert [p.message for p in missing.problems] == ["policy.csv:1: user:ghost is no user here"]
