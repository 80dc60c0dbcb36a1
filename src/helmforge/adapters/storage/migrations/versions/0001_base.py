"""The shared root of every feature area's migration branch.

Revision ID: base_0001
"""

from __future__ import annotations

revision = "base_0001"
down_revision = None
branch_labels = ("base",)
depends_on = None


def upgrade() -> None:
    """Nothing: each area (catalog, server, ...) adds its tables on its own branch."""


def downgrade() -> None:
    """Nothing to undo."""
