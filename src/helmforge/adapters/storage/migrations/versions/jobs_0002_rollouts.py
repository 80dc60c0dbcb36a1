"""Jobs: ``rollouts``, fleet upgrades in waves.

Revision ID: jobs_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "jobs_0002"
down_revision = "jobs_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``rollouts``."""
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("app_version", sa.String(128), nullable=True),
        sa.Column("stop_on", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested", sa.String(16), nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("waves", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_index("ix_rollouts_state", "rollouts", ["state"])


def downgrade() -> None:
    """Drop ``rollouts``."""
    op.drop_index("ix_rollouts_state", table_name="rollouts")
    op.drop_table("rollouts")
