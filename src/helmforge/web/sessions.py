"""Browser sessions and CSRF tokens.

The cookie carries a random session id; the database keeps only its SHA-256 with the user's
name, a per-session CSRF token and an expiry. Every state-changing form posts the CSRF token
back and ``check_csrf`` compares it in constant time. The login form, which has no session
yet, uses a double-submit token: a random cookie echoed in a hidden field.
"""

from __future__ import annotations

__all__ = [
    "CSRF_FIELD",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SessionState",
    "check_csrf",
    "close_session",
    "new_token",
    "open_session",
    "resolve_session",
]

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from helmforge.adapters.storage.web_tables import WebSession

SESSION_COOKIE = "helmforge_session"
LOGIN_CSRF_COOKIE = "helmforge_login_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class SessionState:
    """A live session: whose it is and the CSRF token its forms must echo."""

    user_name: str
    csrf_token: str
    expires_at: datetime


def new_token() -> str:
    """A fresh 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def open_session(
    db: Session, *, user_name: str, lifetime: timedelta, now: datetime | None = None
) -> tuple[str, SessionState]:
    """Store a new session for ``user_name``; return the cookie value and its state.

    Expired sessions are purged on the way, so the table does not grow without bound.
    """
    moment = now or datetime.now(UTC)
    session_id = new_token()
    state = SessionState(user_name=user_name, csrf_token=new_token(), expires_at=moment + lifetime)
    db.execute(sa.delete(WebSession).where(WebSession.expires_at < moment))
    db.add(
        WebSession(
            id_hash=_digest(session_id),
            user_name=user_name,
            csrf_token=state.csrf_token,
            created_at=moment,
            expires_at=state.expires_at,
        )
    )
    db.commit()
    return session_id, state


def resolve_session(
    db: Session, session_id: str | None, *, now: datetime | None = None
) -> SessionState | None:
    """The live session behind a cookie value, or ``None`` if unknown or expired."""
    if not session_id or len(session_id) > 200:
        return None
    row = db.get(WebSession, _digest(session_id))
    if row is None:
        return None
    expires_at = _aware(row.expires_at)
    if expires_at <= (now or datetime.now(UTC)):
        db.delete(row)
        db.commit()
        return None
    return SessionState(user_name=row.user_name, csrf_token=row.csrf_token, expires_at=expires_at)


def close_session(db: Session, session_id: str | None) -> None:
    """Forget a session (logout); unknown ids are ignored."""
    if session_id:
        db.execute(sa.delete(WebSession).where(WebSession.id_hash == _digest(session_id)))
        db.commit()


def check_csrf(expected: str | None, submitted: str | None) -> bool:
    """Whether a submitted CSRF token matches the expected one (constant-time)."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))
