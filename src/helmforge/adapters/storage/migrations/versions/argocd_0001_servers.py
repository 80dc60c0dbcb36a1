"""Argo CD: the API servers instances are synced by (tokens encrypted).

Revision ID: argocd_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "argocd_0001"
down_revision = "base_0001"
branch_labels = ("argocd",)
depends_on = None


def upgrade() -> None:
    """Create ``argocd_servers``."""
    op.create_table(
        "argocd_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("project", sa.String(63), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_argocd_servers"),
        sa.UniqueConstraint("name", name="uq_argocd_servers_name"),
    )


def downgrade() -> None:
    """Drop ``argocd_servers``."""
    op.drop_table("argocd_servers")
