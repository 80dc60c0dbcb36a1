"""Ending a user's access here at once: their web sessions and, when asked, their API tokens.

``sign_out_user`` is an administrator's for any user, local or SSO. For an SSO user it is what
applies where a local user's password would be reset: they have no password in helmforge
(their identity provider holds it), so cutting their access here means ending their sessions
and revoking their tokens, and removing them at the provider keeps them from signing in
again. ``close_web_sessions`` and ``revoke_api_tokens`` are its two steps, which the password
changes and resets of ``services.accounts`` take in their own transactions.
"""

from __future__ import annotations

__all__ = ["SignOut", "close_web_sessions", "revoke_api_tokens", "sign_out_user"]

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.server_tables import ApiTokenRow, UserRow
from helmforge.adapters.storage.web_tables import WebSession
from helmforge.core.access.principals import Principal
from helmforge.core.errors import Location, NotFoundError
from helmforge.services import access, audit


@dataclass(frozen=True, slots=True)
class SignOut:
    """What signing ``user`` out ended: how many web sessions, how many API tokens."""

    user: str
    sessions_closed: int
    tokens_revoked: int


def close_web_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """End every web session of user ``user_id`` but the one whose cookie value is ``keep``;
    how many ended. (The digest is ``services.web_sessions``': the cookie value's SHA-256.)"""
    query = sa.delete(WebSession).where(WebSession.user_id == user_id)
    if keep:
        digest = hashlib.sha256(keep.encode("utf-8")).hexdigest()
        query = query.where(WebSession.id_hash != digest)
    result = session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_api_tokens(session: Session, user_id: int, *, now: datetime) -> int:
    """Revoke every live API token of user ``user_id`` as of ``now``; how many."""
    tokens = session.scalars(
        sa.select(ApiTokenRow).where(
            ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None)
        )
    ).all()
    for token in tokens:
        token.revoked_at = now
    return len(tokens)


def sign_out_user(
    sessions: sessionmaker[Session],
    name: str,
    *,
    actor: Principal,
    revoke_tokens: bool = False,
    now: datetime | None = None,
) -> SignOut:
    """An administrator ends every web session of user ``name`` and, with ``revoke_tokens``,
    revokes every API token of theirs, in one transaction and one audit event
    (``user.sign_out``). Raises ``PermissionDeniedError`` (not an admin), ``NotFoundError``
    (no such user)."""
    access.require(sessions, actor, "user.manage")
    moment = now or datetime.now(UTC)
    with sessions.begin() as session:
        row = (
            session.scalar(sa.select(UserRow).where(UserRow.name == name).with_for_update())
            if len(name) <= 64
            else None
        )
        if row is None:
            raise NotFoundError(
                f"user {name[:80]!r} does not exist", location=Location(path="name")
            )
        closed = close_web_sessions(session, row.id)
        revoked = revoke_api_tokens(session, row.id, now=moment) if revoke_tokens else 0
        audit.record(
            session,
            actor,
            "user.sign_out",
            f"user:{row.name}",
            after={"sessions_closed": closed, "tokens_revoked": revoked},
        )
    return SignOut(user=row.name, sessions_closed=closed, tokens_revoked=revoked)
