"""Who acts: the principal every service call receives, and the roles it may hold.

Role-based access control arrives in a later issue; until then services only check that an
administrator manages users. Passing the principal everywhere now lets the checks plug in.
"""

from __future__ import annotations

__all__ = ["ADMIN", "ROLES", "SYSTEM", "Principal", "PrincipalKind", "check_role"]

from dataclasses import dataclass
from typing import Literal

from helmforge.core.errors import InputError

type PrincipalKind = Literal["user", "token", "system"]

ADMIN = "admin"
ROLES = ("admin", "creator", "user", "operator", "developer")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user signed in, an API token acting for its user, or the
    server itself (seeding at startup). ``id`` is the user's id (0 for the system)."""

    name: str
    role: str
    kind: PrincipalKind
    id: int
    #: SSO groups the user belongs to (``group:NAME`` subjects); empty for local sign-ins.
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


SYSTEM = Principal(name="helmforge", role=ADMIN, kind="system", id=0)


def check_role(role: str) -> str:
    """Return ``role`` if helmforge knows it; raise ``InputError`` naming the valid ones."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return role
