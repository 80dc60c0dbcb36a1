"""Server: ``chart_builds.generator``, what produced a build's bytes (helmforge's version and
the versions of Python, zlib and PyYAML that render and pack the archive), so a verification
after an upgrade can tell a changed generator from changed inputs. Builds recorded before this
revision have none (``NULL``): what built them is not known.

Revision ID: server_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "server_0002"
down_revision = "server_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``chart_builds.generator`` (JSON, nullable)."""
    with op.batch_alter_table("chart_builds") as batch:
        batch.add_column(sa.Column("generator", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop ``chart_builds.generator``."""
    with op.batch_alter_table("chart_builds") as batch:
        batch.drop_column("generator")
