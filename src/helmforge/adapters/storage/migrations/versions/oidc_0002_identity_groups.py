"""Single sign-on: the groups an SSO identity's last ID token named, for its API tokens.

Revision ID: oidc_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "oidc_0002"
down_revision = "oidc_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``oidc_identities.groups`` (one group per line; empty until the next sign-in)."""
    with op.batch_alter_table("oidc_identities") as batch:
        batch.add_column(sa.Column("groups", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("oidc_identities") as batch:
        batch.drop_column("groups")
