"""Tables of single sign-on: who each SSO identity is, and the sign-ins under way.

``oidc_identities`` ties a provider's (issuer, subject) to one helmforge user, so a renamed
account at the provider stays the same user here, and keeps the groups its last ID token named
(the user's API tokens act with them; ``oidc_0002``). ``oidc_logins`` holds what a sign-in started
at ``/sso/login`` must find again at ``/sso/callback``: the nonce and the PKCE verifier, under
the SHA-256 of the ``state`` parameter; the row is deleted when the callback uses it, so a
replayed callback finds nothing. Their migrations are on the ``oidc`` Alembic branch.
"""

from __future__ import annotations

__all__ = ["OidcIdentityRow", "OidcLoginRow"]

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class OidcIdentityRow(Base):
    __tablename__ = "oidc_identities"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject", name="uq_oidc_identities"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(sa.String(512))
    subject: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_sign_in_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The groups claim of the last sign-in, one group per line ("" for none).
    groups: Mapped[str] = mapped_column(sa.Text(), default="", server_default="")


class OidcLoginRow(Base):
    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(sa.String(64))
    code_verifier: Mapped[str] = mapped_column(sa.String(128))
    next_url: Mapped[str] = mapped_column(sa.String(2048))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # A silent check of a signed-in user's groups (``prompt=none``; ``oidc_0003``): a provider
    # that needs the user answers it with an error, and the browser is sent to sign in.
    silent: Mapped[bool] = mapped_column(sa.Boolean(), default=False, server_default=sa.false())
