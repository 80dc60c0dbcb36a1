"""Access: role bindings and custom policy rules; every existing user keeps their role as a
binding at scope ``*/*/*/*`` (``creator`` becomes ``template-creator``, ``user``
``template-user``).

Revision ID: access_0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "access_0001"
down_revision = "base_0001"
branch_labels = ("access",)
depends_on = "server_0001"

_RENAMED = {"creator": "template-creator", "user": "template-user"}


def upgrade() -> None:
    """Create ``access_bindings`` and ``access_rules``; bind each user's role."""
    bindings = op.create_table(
        "access_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(140), nullable=False),
        sa.Column("role", sa.String(63), nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_bindings"),
        sa.UniqueConstraint("subject", "role", "scope", name="uq_access_bindings"),
    )
    op.create_index("ix_access_bindings_subject", "access_bindings", ["subject"])
    op.create_table(
        "access_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(63), nullable=False),
        sa.Column("permission", sa.String(63), nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_rules"),
    )
    users = op.get_bind().execute(sa.text("SELECT name, role FROM users")).all()
    now = datetime.now(UTC)
    op.bulk_insert(
        bindings,
        [
            {
                "subject": f"user:{name}",
                "role": _RENAMED.get(role, role),
                "scope": "*/*/*/*",
                "created_at": now,
                "created_by": "helmforge",
            }
            for name, role in users
        ],
    )


def downgrade() -> None:
    """Drop ``access_rules`` and ``access_bindings``."""
    op.drop_table("access_rules")
    op.drop_index("ix_access_bindings_subject", table_name="access_bindings")
    op.drop_table("access_bindings")
