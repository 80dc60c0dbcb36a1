"""Who acts: the principal every service call receives, and the roles it may hold.

Role-based access control arrives in a later issue; until then services only check that an
administrator manages users. Passing the principal everywhere now lets the checks plug in.
"""

from __future__ import annotations

__all__ = [
    "ADMIN",
    "ROLES",
    "SYSTEM",
    "Principal",
    "PrincipalKind",
    "check_role",
    "local_operator",
]

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from helmforge.core.access.policy import BUILT_IN_ROLES, ROLE_ALIASES
from helmforge.core.errors import InputError

type PrincipalKind = Literal["user", "token", "system", "local"]

ADMIN = "admin"
#: The built-in roles of DESIGN §9, then the names earlier releases used.
ROLES = (*BUILT_IN_ROLES, *ROLE_ALIASES)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a user signed in, an API token acting for its user, the
    server itself (seeding at startup), or whoever runs a local command. ``id`` is the
    user's id (0 for the system and local operators)."""

    name: str
    role: str
    kind: PrincipalKind
    id: int
    #: SSO groups the user belongs to (``group:NAME`` subjects); empty for local sign-ins.
    groups: tuple[str, ...] = ()
    #: An API token made for a subset of its user's bindings acts with these only.
    bindings: frozenset[int] | None = None
    #: An SSO user's API token past the groups' lifetime: when the provider last confirmed
    #: the user's groups. It acts without them (its user's own bindings only) until the user
    #: signs in again; its denials say so.
    groups_unconfirmed_since: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


SYSTEM = Principal(name="helmforge", role=ADMIN, kind="system", id=0)


def local_operator(name: str) -> Principal:
    """Whoever runs a local command (``helmforge import``, ``catalog``, ``schemas``,
    ``template init``, ``publish``) against a database or registry they reach directly:
    nothing stands between them and the store, so they hold every right, and the records name
    them (their login or ``HELMFORGE_ACTOR``)."""
    return Principal(name=name, role=ADMIN, kind="local", id=0)


def check_role(role: str) -> str:
    """Return ``role`` if helmforge knows it; raise ``InputError`` naming the valid ones."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return role
