"""Access: an API token may act with a subset of its user's bindings (``binding_ids``; NULL
means all of them).

Revision ID: access_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0003"
down_revision = "access_0002"
branch_labels = None
depends_on = "server_0001"


def upgrade() -> None:
    """Add ``api_tokens.binding_ids``."""
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("binding_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``api_tokens.binding_ids``."""
    with op.batch_alter_table("api_tokens") as table:
        table.drop_column("binding_ids")
