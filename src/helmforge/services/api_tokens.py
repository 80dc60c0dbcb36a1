"""API tokens: shown once, stored as SHA-256 digests, found by a non-secret prefix, revoked at
once; each acts as its user with all of their bindings or a chosen few. An SSO user's token acts
with the groups of their latest sign-in for the groups' lifetime after it (a sign-in, or a web
session's check at the provider, renews them), then with the user's own bindings only until the
next. Callers import these names from ``services.accounts``.
"""

from __future__ import annotations

__all__ = [
    "CreatedToken",
    "TokenView",
    "create_token",
    "list_tokens",
    "principal_for_token",
    "revoke_token",
    "sso_groups",
]

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.database import engine_of
from helmforge.adapters.storage.oidc_tables import OidcIdentityRow
from helmforge.adapters.storage.server_tables import ApiTokenRow, UserRow
from helmforge.core.access.principals import Principal
from helmforge.core.errors import AuthenticationError, InputError, NotFoundError
from helmforge.services import access, audit
from helmforge.services.account_rules import ANY_USER_NAME, USER_NAME, manages_users
from helmforge.services.settings import DEFAULT_GROUPS_LIFETIME

_TOKEN = re.compile(r"hf_([0-9a-f]{12})_[A-Za-z0-9_-]{43}\Z")
_BAD_TOKEN = "invalid or revoked API token"  # noqa: S105 (a message, not a secret)


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token: ``token`` is the plaintext, available only here, once."""

    token: str
    view: TokenView


def _token_view(row: ApiTokenRow) -> TokenView:
    return TokenView(row.id, row.user.name, row.label, row.prefix, row.created_at, row.revoked_at)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    sessions: sessionmaker[Session],
    *,
    user: str,
    label: str = "",
    actor: Principal,
    bindings: Sequence[int] | None = None,
) -> CreatedToken:
    """Create an API token acting as ``user`` (the user themselves or an admin may), with all
    of the user's bindings or only ``bindings`` (ids of the user's own bindings, or of the
    groups their latest single sign-on named). An SSO user's token acts with the groups of
    their latest sign-in while they hold (``principal_for_token``).

    Returns the plaintext once; only its SHA-256 digest is stored. Raises ``NotFoundError``,
    ``PermissionDeniedError``, ``InputError`` (label over 128 characters, a binding that is
    not the user's).
    """
    if actor.name != user:
        access.require(sessions, actor, "user.manage")
    if len(label) > 128 or any(ord(character) < 32 for character in label):
        raise InputError("token label must be at most 128 characters without control characters")
    if not (USER_NAME.match(user) or ANY_USER_NAME.match(user)):
        raise NotFoundError(f"user {user[:80]!r} does not exist")
    prefix = secrets.token_hex(6)
    token = f"hf_{prefix}_{secrets.token_urlsafe(32)}"
    with sessions.begin() as session:
        owner = session.scalar(sa.select(UserRow).where(UserRow.name == user))
        if owner is None:
            raise NotFoundError(f"user {user!r} does not exist")
        chosen = None
        if bindings is not None:
            subjects = [f"user:{user}", *(f"group:{g}" for g in sso_groups(session, owner.id))]
            chosen = access.check_own_bindings(session, subjects, bindings)
        row = ApiTokenRow(
            user_id=owner.id,
            label=label,
            prefix=prefix,
            token_hash=_digest(token),
            created_at=datetime.now(UTC),
            binding_ids=chosen,
        )
        row.user = owner
        session.add(row)
        session.flush()
        view = _token_view(row)
        audit.record(
            session,
            actor,
            "token.create",
            f"token:{row.id}",
            after={"user": user, "label": label, "prefix": prefix, "bindings": chosen},
        )
    return CreatedToken(token=token, view=view)


def list_tokens(
    sessions: sessionmaker[Session], *, actor: Principal, user: str | None = None
) -> list[TokenView]:
    """Tokens (never their secret): an admin sees every user's, others their own."""
    query = sa.select(ApiTokenRow).join(ApiTokenRow.user).order_by(ApiTokenRow.id)
    if not manages_users(sessions, actor):
        query = query.where(UserRow.name == actor.name)
    if user is not None:
        query = query.where(UserRow.name == user)
    with sessions() as session:
        return [_token_view(row) for row in session.scalars(query).unique()]


def revoke_token(sessions: sessionmaker[Session], token_id: int, *, actor: Principal) -> TokenView:
    """Revoke a token at once (its owner or an admin may); revoking twice is a no-op.

    Raises ``NotFoundError`` (also for another user's token, to a non-admin).
    """
    if not 0 < token_id < 2**62:
        raise NotFoundError(f"token {token_id} does not exist")
    manager = manages_users(sessions, actor)
    with sessions.begin() as session:
        row = session.get(ApiTokenRow, token_id, with_for_update=True)
        if row is None or (not manager and row.user.name != actor.name):
            raise NotFoundError(f"token {token_id} does not exist")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            audit.record(
                session,
                actor,
                "token.revoke",
                f"token:{row.id}",
                before={"revoked_at": None},
                after={"revoked_at": row.revoked_at.isoformat()},
            )
        return _token_view(row)


_TOKENS = ApiTokenRow.__table__
_USERS = UserRow.__table__
_IDENTITIES = OidcIdentityRow.__table__
# Built once: every authenticated API request runs it (only the columns the check needs). An
# SSO user's token acts with the groups of their latest sign-in (their identity's row) while
# they hold.
_TOKEN_LOOKUP = (
    sa.select(
        _TOKENS.c.token_hash,
        _TOKENS.c.revoked_at,
        _USERS.c.disabled,
        _USERS.c.name,
        _USERS.c.role,
        _USERS.c.id,
        _TOKENS.c.binding_ids,
        _IDENTITIES.c.groups,
        _IDENTITIES.c.last_sign_in_at,
    )
    .join_from(_TOKENS, _USERS, _TOKENS.c.user_id == _USERS.c.id)
    .outerjoin(_IDENTITIES, _IDENTITIES.c.user_id == _USERS.c.id)
    .where(_TOKENS.c.prefix == sa.bindparam("prefix"))
)


def _groups_of(listed: str | None) -> tuple[str, ...]:
    return tuple(listed.split("\n")) if listed else ()


def sso_groups(session: Session, user_id: int) -> tuple[str, ...]:
    """The groups user ``user_id``'s latest single sign-on named (none for a local user)."""
    return _groups_of(
        session.scalar(sa.select(OidcIdentityRow.groups).where(OidcIdentityRow.user_id == user_id))
    )


def principal_for_token(
    sessions: sessionmaker[Session],
    token: str,
    *,
    now: datetime | None = None,
    groups_lifetime: float = DEFAULT_GROUPS_LIFETIME,
) -> Principal:
    """The principal an API token acts as at ``now`` (default: the clock's); raises
    ``AuthenticationError`` for a malformed, unknown or revoked token, or one whose user is
    disabled.

    An SSO user's token acts with the groups of the user's latest sign-in (or web session
    check) for ``groups_lifetime`` seconds after it. Past that the provider has not confirmed
    them: it acts with the user's own bindings only, and ``groups_unconfirmed_since`` names
    that sign-in's time (denials say it), until the user signs in again."""
    match = _TOKEN.match(token)
    if match is None:
        raise AuthenticationError(_BAD_TOKEN)
    # One read in autocommit: no BEGIN and ROLLBACK round trips around it.
    with (
        engine_of(sessions).connect().execution_options(isolation_level="AUTOCOMMIT") as connection
    ):
        row = connection.execute(_TOKEN_LOOKUP, {"prefix": match.group(1)}).first()
    if (
        row is None
        or not hmac.compare_digest(row.token_hash, _digest(token))
        or row.revoked_at is not None
        or row.disabled
    ):
        raise AuthenticationError(_BAD_TOKEN)
    subset = None if row.binding_ids is None else frozenset(int(i) for i in row.binding_ids)
    groups, unconfirmed = _groups_of(row.groups), None
    moment = now or datetime.now(UTC)
    if groups and row.last_sign_in_at + timedelta(seconds=groups_lifetime) <= moment:
        groups, unconfirmed = (), row.last_sign_in_at
    return Principal(
        name=row.name,
        role=row.role,
        kind="token",
        id=row.id,
        groups=groups,
        bindings=subset,
        groups_unconfirmed_since=unconfirmed,
    )
