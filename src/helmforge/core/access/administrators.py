"""Who could still administer under a new policy (DESIGN §9), so that saving one never locks
every administrator out.

An administrator is a subject bound to the built-in ``admin`` role (the role removing the last
binding of is refused too). A policy keeps one when at least one of its admin bindings names a
user who exists and is not disabled, or a group that such a user's latest single sign-on named:
someone able to sign in and hold the role. Which subjects those are is the caller's to read
from the store; this module finds the admin lines of a policy text and words the refusal.
"""

from __future__ import annotations

__all__ = ["ADMIN_ROLE", "AdminGrant", "SubjectState", "admin_grants", "lockout_refusal"]

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from helmforge.core.errors import InputError, Location

ADMIN_ROLE = "admin"

#: What the store says of a subject: a user who may sign in, one who is disabled, a group some
#: active user belongs to, or nothing known (no such user; a group nobody active was seen in).
type SubjectState = Literal["active", "disabled", "unknown"]

_VALID = (
    "at least one admin binding must name an existing, active user or a group with an "
    "active member (one whose latest single sign-on named the group)"
)


@dataclass(frozen=True, slots=True)
class AdminGrant:
    """A ``g`` line of a policy text binding ``role:admin``: its 1-based line and subject."""

    line: int
    subject: str


def admin_grants(text: str) -> list[AdminGrant]:
    """The admin bindings of policy ``text`` in order, each with its line. ``text`` is one
    ``parse_policy_csv`` accepted, so every ``g`` line has its subject and role in place."""
    found: list[AdminGrant] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = [part.strip() for part in raw.split("#", 1)[0].split(",")]
        if len(fields) >= 3 and fields[0] == "g" and fields[2] == f"role:{ADMIN_ROLE}":
            found.append(AdminGrant(line=number, subject=fields[1]))
    return found


def _why(subject: str, state: SubjectState) -> str:
    if state == "disabled":
        return f"{subject} is disabled"
    if subject.startswith("group:"):
        return f"{subject} has no active member"
    return f"{subject} is no user here"


def lockout_refusal(
    grants: Collection[AdminGrant],
    states: Mapping[str, SubjectState],
    *,
    source: str = "policy.csv",
) -> InputError | None:
    """``None`` when one of ``grants`` names an ``active`` subject (``states``, read from the
    store; a subject missing from it is ``unknown``), else the ``InputError`` to raise: one
    problem per admin line (``source:LINE``, path ``subject``) saying why it cannot sign in,
    and what would be valid."""
    if any(states.get(grant.subject) == "active" for grant in grants):
        return None
    problems = tuple(
        InputError(
            f"{source}:{grant.line}: {_why(grant.subject, states.get(grant.subject, 'unknown'))}",
            location=Location(source=source, line=grant.line, path="subject"),
        )
        for grant in grants
    )
    named = "; ".join(problem.message for problem in problems)
    return InputError(
        f"the policy would lock every administrator out ({named}): {_VALID}, "
        "e.g. 'g, user:admin, role:admin'",
        location=problems[0].location if problems else None,
        problems=problems,
    )
