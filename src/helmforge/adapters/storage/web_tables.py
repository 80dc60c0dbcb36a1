"""Tables of the web UI: browser sessions.

A session id is a random secret held only by the browser; the table stores its SHA-256, so a
leaked database row cannot be replayed as a cookie. Rows carry their own expiry.
"""

from __future__ import annotations

__all__ = ["WebSession"]

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base


class WebSession(Base):
    """One signed-in browser: who it is, its CSRF token, and until when it is valid."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    # The SSO groups the session was opened with, one per line ("" for local sign-ins); added
    # by the ``oidc`` migration branch.
    groups: Mapped[str] = mapped_column(sa.Text(), default="", server_default="")
    # Until when those groups hold before the provider is asked again (``None``: a local
    # sign-in, nothing to ask); added by ``oidc_0003``.
    groups_valid_until: Mapped[datetime | None] = mapped_column(
        sa.DateTime(timezone=True), nullable=True, default=None
    )
