"""Resource catalog: objects, their labels, imported schema definitions.

Revision ID: catalog_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "catalog_0001"
down_revision = "base_0001"
branch_labels = ("catalog",)
depends_on = None


def upgrade() -> None:
    """Create ``catalog_objects``, ``catalog_object_labels`` and ``catalog_schemas``."""
    op.create_table(
        "catalog_objects",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("api_version", sa.String(317), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("schema_status", sa.String(16), nullable=False),
        sa.Column("problems", sa.Text, nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_objects"),
        sa.UniqueConstraint(
            "api_group", "kind", "namespace", "name", name="uq_catalog_objects_identity"
        ),
    )
    op.create_index("ix_catalog_objects_kind", "catalog_objects", ["kind"])
    op.create_index("ix_catalog_objects_source", "catalog_objects", ["source"])
    op.create_table(
        "catalog_object_labels",
        sa.Column("object_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(317), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["catalog_objects.id"],
            name="fk_catalog_object_labels_object_id_catalog_objects",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_id", "key", name="pk_catalog_object_labels"),
    )
    op.create_table(
        "catalog_schemas",
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("api_version", sa.String(317), nullable=True),
        sa.Column("kind", sa.String(100), nullable=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("imported_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_catalog_schemas"),
    )
    op.create_index("ix_catalog_schemas_kind", "catalog_schemas", ["kind"])


def downgrade() -> None:
    """Drop the catalog tables."""
    op.drop_index("ix_catalog_schemas_kind", table_name="catalog_schemas")
    op.drop_table("catalog_schemas")
    op.drop_table("catalog_object_labels")
    op.drop_index("ix_catalog_objects_source", table_name="catalog_objects")
    op.drop_index("ix_catalog_objects_kind", table_name="catalog_objects")
    op.drop_table("catalog_objects")
