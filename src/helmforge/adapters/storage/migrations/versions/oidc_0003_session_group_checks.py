"""Single sign-on: until when a web session's SSO groups hold without asking the provider
again, and whether a sign-in under way is such a silent check.

Revision ID: oidc_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "oidc_0003"
down_revision = "oidc_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``web_sessions.groups_valid_until`` (``NULL`` for local users) and
    ``oidc_logins.silent``. The sessions of SSO users open before this revision are due for a
    check at their next request: their groups were never checked after sign-in."""
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("groups_valid_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("oidc_logins") as batch:
        batch.add_column(
            sa.Column("silent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE web_sessions SET groups_valid_until = created_at "
        "WHERE user_id IN (SELECT user_id FROM oidc_identities)"
    )


def downgrade() -> None:
    """Drop what ``upgrade`` added."""
    with op.batch_alter_table("oidc_logins") as batch:
        batch.drop_column("silent")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("groups_valid_until")
