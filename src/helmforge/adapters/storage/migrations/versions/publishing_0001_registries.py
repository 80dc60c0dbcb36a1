"""Publishing: configured registries (password encrypted) and the push history.

Revision ID: publishing_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "publishing_0001"
down_revision = "base_0001"
branch_labels = ("publishing",)
depends_on = None


def upgrade() -> None:
    """Create ``registries`` and ``chart_pushes``."""
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("ca_pem", sa.Text(), nullable=True),
        sa.Column("plain_http", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registries"),
        sa.UniqueConstraint("name", name="uq_registries_name"),
    )
    op.create_table(
        "chart_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("build_id", sa.String(32), nullable=True),
        sa.Column("registry", sa.String(63), nullable=False),
        sa.Column("chart", sa.String(63), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("repository", sa.String(1024), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("manifest_digest", sa.String(71), nullable=False),
        sa.Column("layer_digest", sa.String(71), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chart_pushes"),
    )
    op.create_index("ix_chart_pushes_build_id", "chart_pushes", ["build_id"])
    op.create_index("ix_chart_pushes_registry", "chart_pushes", ["registry"])
    op.create_index("ix_chart_pushes_at", "chart_pushes", ["at"])


def downgrade() -> None:
    """Drop ``chart_pushes`` and ``registries``."""
    op.drop_index("ix_chart_pushes_at", table_name="chart_pushes")
    op.drop_index("ix_chart_pushes_registry", table_name="chart_pushes")
    op.drop_index("ix_chart_pushes_build_id", table_name="chart_pushes")
    op.drop_table("chart_pushes")
    op.drop_table("registries")
