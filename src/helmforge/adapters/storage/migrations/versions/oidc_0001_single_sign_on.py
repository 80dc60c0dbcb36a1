"""Single sign-on: SSO identities, sign-ins under way, and the groups of a web session.

Revision ID: oidc_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "oidc_0001"
down_revision = "base_0001"
branch_labels = ("oidc",)
depends_on = ("server_0001", "web_0001")


def upgrade() -> None:
    """Create ``oidc_identities`` and ``oidc_logins``; add ``web_sessions.groups``."""
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_sign_in_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_oidc_identities"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_oidc_identities_user_id"),
        sa.UniqueConstraint("issuer", "subject", name="uq_oidc_identities"),
        sa.UniqueConstraint("user_id", name="uq_oidc_identities_user_id"),
    )
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("next_url", sa.String(2048), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name="pk_oidc_logins"),
    )
    op.create_index("ix_oidc_logins_expires_at", "oidc_logins", ["expires_at"])
    # The SSO groups the session was opened with, one per line (empty for local sign-ins).
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("groups", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("groups")
    op.drop_index("ix_oidc_logins_expires_at", table_name="oidc_logins")
    op.drop_table("oidc_logins")
    op.drop_table("oidc_identities")
