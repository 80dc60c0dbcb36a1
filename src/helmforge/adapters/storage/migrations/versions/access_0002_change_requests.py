"""Access: change requests (four eyes on changes in environments that require approval).

Revision ID: access_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "access_0002"
down_revision = "access_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``change_requests``."""
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("base", sa.String(300), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("requester_groups", sa.JSON(), nullable=False),
        sa.Column("required", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("editors", sa.JSON(), nullable=False),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("rejected_by", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_requests"),
    )
    op.create_index("ix_change_requests_target", "change_requests", ["target"])
    op.create_index("ix_change_requests_state", "change_requests", ["state"])


def downgrade() -> None:
    """Drop ``change_requests``."""
    op.drop_index("ix_change_requests_state", table_name="change_requests")
    op.drop_index("ix_change_requests_target", table_name="change_requests")
    op.drop_table("change_requests")
