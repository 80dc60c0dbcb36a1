"""Browser sessions of the web UI, stored in the database.

The cookie carries a random session id; the database keeps only its SHA-256 with the user's
id, a per-session CSRF token and an expiry. ``open_session`` stores one (purging expired
ones), ``resolve_session`` finds the live session behind a cookie value, ``close_session``
forgets one (logout). An SSO user's session carries the groups of the last check at the
provider and until when they hold (``groups_valid_until``); past it the session acts with
no groups until ``renew_groups`` stores a new check's (the pages send the browser through
the provider for it). The pages (``web/``) read and write the cookie; only this service
touches the table.
"""

from __future__ import annotations

__all__ = [
    "MAX_SESSIONS_PER_USER",
    "SessionState",
    "close_session",
    "open_session",
    "renew_groups",
    "resolve_session",
]

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage.web_tables import WebSession

#: Live sessions one user may hold; signing in once more ends the oldest. Bounds the table
#: (a script signing in in a loop) and what a stolen-but-forgotten cookie is worth.
MAX_SESSIONS_PER_USER = 10


@dataclass(frozen=True, slots=True)
class SessionState:
    """A live session: whose it is and the CSRF token its forms must echo."""

    user_id: int
    csrf_token: str
    expires_at: datetime
    #: The SSO groups the provider named at the last check (``group:`` subjects); empty for
    #: local users.
    groups: tuple[str, ...] = ()
    #: Until when ``groups`` hold without asking the provider again; ``None`` for a local
    #: sign-in (nothing to ask).
    groups_valid_until: datetime | None = None

    def groups_due(self, now: datetime) -> bool:
        """Whether the provider must be asked again before the session acts with groups."""
        return self.groups_valid_until is not None and self.groups_valid_until <= now


def _new_token() -> str:
    # 256 random bits, URL-safe: the session id of the cookie, or a session's CSRF token.
    return secrets.token_urlsafe(32)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def open_session(
    sessions: sessionmaker[Session],
    *,
    user_id: int,
    lifetime: timedelta,
    now: datetime | None = None,
    groups: tuple[str, ...] = (),
    groups_valid_until: datetime | None = None,
) -> tuple[str, SessionState]:
    """Store a new session for user ``user_id`` (with the SSO ``groups`` they signed in
    with, which hold until ``groups_valid_until``: ``None`` for a local sign-in); return the
    cookie value and its state.

    Expired sessions are purged on the way, and the user's oldest ones beyond
    ``MAX_SESSIONS_PER_USER`` (this one counted) end, so the table does not grow without bound.
    """
    moment = now or datetime.now(UTC)
    session_id = _new_token()
    state = SessionState(
        user_id=user_id,
        csrf_token=_new_token(),
        expires_at=moment + lifetime,
        groups=groups,
        groups_valid_until=groups_valid_until,
    )
    with sessions.begin() as db:
        db.execute(sa.delete(WebSession).where(WebSession.expires_at < moment))
        newest = db.scalars(
            sa.select(WebSession.id_hash)
            .where(WebSession.user_id == user_id)
            .order_by(WebSession.created_at.desc(), WebSession.id_hash)
            .limit(MAX_SESSIONS_PER_USER - 1)
        ).all()
        db.execute(
            sa.delete(WebSession).where(
                WebSession.user_id == user_id, WebSession.id_hash.not_in(newest)
            )
        )
        db.add(
            WebSession(
                id_hash=_digest(session_id),
                user_id=user_id,
                csrf_token=state.csrf_token,
                created_at=moment,
                expires_at=state.expires_at,
                groups="\n".join(groups),
                groups_valid_until=groups_valid_until,
            )
        )
    return session_id, state


def resolve_session(
    sessions: sessionmaker[Session], session_id: str | None, *, now: datetime | None = None
) -> SessionState | None:
    """The live session behind a cookie value, or ``None`` if unknown or expired."""
    if not session_id or len(session_id) > 200:
        return None
    with sessions() as db:
        row = db.get(WebSession, _digest(session_id))
        if row is None:
            return None
        state = SessionState(
            user_id=row.user_id,
            csrf_token=row.csrf_token,
            expires_at=_aware(row.expires_at),
            groups=tuple(row.groups.split("\n")) if row.groups else (),
            groups_valid_until=(
                _aware(row.groups_valid_until) if row.groups_valid_until is not None else None
            ),
        )
    if state.expires_at <= (now or datetime.now(UTC)):
        close_session(sessions, session_id)
        return None
    return state


def renew_groups(
    sessions: sessionmaker[Session],
    session_id: str | None,
    *,
    user_id: int,
    groups: tuple[str, ...],
    valid_until: datetime,
    now: datetime | None = None,
) -> bool:
    """Store a new check's ``groups`` (holding until ``valid_until``) in the live session
    behind ``session_id`` when it is user ``user_id``'s; its id, CSRF token and expiry stay,
    so the check neither lengthens the session nor breaks forms open in other tabs. Returns
    whether such a session was there (else the caller opens a new one)."""
    if not session_id or len(session_id) > 200:
        return False
    with sessions.begin() as db:
        result = db.execute(
            sa.update(WebSession)
            .where(
                WebSession.id_hash == _digest(session_id),
                WebSession.user_id == user_id,
                WebSession.expires_at > (now or datetime.now(UTC)),
            )
            .values(groups="\n".join(groups), groups_valid_until=valid_until)
        )
    return bool(getattr(result, "rowcount", 0))


def close_session(sessions: sessionmaker[Session], session_id: str | None) -> None:
    """Forget a session (logout); unknown ids are ignored."""
    if session_id:
        with sessions.begin() as db:
            db.execute(sa.delete(WebSession).where(WebSession.id_hash == _digest(session_id)))
