"""The rules of user names and of who manages users, shared by ``accounts`` and ``api_tokens``."""

from __future__ import annotations

__all__ = ["ANY_USER_NAME", "USER_NAME", "manages_users"]

import re

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.policy import Target
from helmforge.core.access.principals import Principal
from helmforge.services import access

#: A local user's name.
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
#: Any user's name: a local one, or an SSO identity's STEM@sso (core.access.single_sign_on).
ANY_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}(@sso)?\Z")


def manages_users(sessions: sessionmaker[Session], actor: Principal) -> bool:
    """Whether ``actor`` holds ``user.manage`` (sees and manages every user and token)."""
    return access.allowed(sessions, actor, "user.manage")(Target())
