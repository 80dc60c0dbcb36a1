"""Cookies and CSRF tokens of the web UI.

The session cookie carries a random session id (stored, as its digest, by
``services.web_sessions``). Every state-changing form posts the session's CSRF token back and
``check_csrf`` compares it in constant time. The login form, which has no session yet, uses a
double-submit token: a random cookie (``new_token``) echoed in a hidden field.
"""

from __future__ import annotations

__all__ = ["CSRF_FIELD", "LOGIN_CSRF_COOKIE", "SESSION_COOKIE", "check_csrf", "new_token"]

import hmac
import secrets

SESSION_COOKIE = "helmforge_session"
LOGIN_CSRF_COOKIE = "helmforge_login_csrf"
CSRF_FIELD = "csrf_token"


def new_token() -> str:
    """A fresh 256-bit random token, URL-safe."""
    return secrets.token_urlsafe(32)


def check_csrf(expected: str | None, submitted: str | None) -> bool:
    """Whether a submitted CSRF token matches the expected one (constant-time)."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))
