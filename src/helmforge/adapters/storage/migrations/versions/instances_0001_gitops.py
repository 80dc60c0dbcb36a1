"""Instances: GitOps repositories (credentials encrypted) and deployed instances.

Revision ID: instances_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from helmforge.adapters.storage.server_tables import UtcDateTime

revision = "instances_0001"
down_revision = "base_0001"
branch_labels = ("instances",)
depends_on = None


def upgrade() -> None:
    """Create ``gitops_repositories`` and ``instances``."""
    op.create_table(
        "gitops_repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),
        sa.Column("ssh_private_key_encrypted", sa.Text(), nullable=True),
        sa.Column("ssh_known_hosts", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gitops_repositories"),
        sa.UniqueConstraint("name", name="uq_gitops_repositories_name"),
    )
    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(63), nullable=False),
        sa.Column("customer", sa.String(63), nullable=False),
        sa.Column("environment", sa.String(63), nullable=False),
        sa.Column("instance", sa.String(63), nullable=False),
        sa.Column("app_name", sa.String(63), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("template_name", sa.String(63), nullable=False),
        sa.Column("template_version", sa.String(128), nullable=False),
        sa.Column("app_version", sa.String(128), nullable=False),
        sa.Column("registry", sa.String(63), nullable=False),
        sa.Column("repository", sa.String(63), nullable=False),
        sa.Column("argocd", sa.String(63), nullable=True),
        sa.Column("chart_name", sa.String(63), nullable=False),
        sa.Column("chart_version", sa.String(128), nullable=False),
        sa.Column("build_id", sa.String(32), nullable=True),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
        sa.UniqueConstraint(
            "product", "customer", "environment", "instance", name="uq_instances_context"
        ),
        sa.UniqueConstraint("app_name", name="uq_instances_app_name"),
        sa.UniqueConstraint("namespace", name="uq_instances_namespace"),
    )
    op.create_index("ix_instances_product", "instances", ["product"])
    op.create_index("ix_instances_customer", "instances", ["customer"])
    op.create_index("ix_instances_environment", "instances", ["environment"])
    op.create_index("ix_instances_template_name", "instances", ["template_name"])
    op.create_index("ix_instances_repository", "instances", ["repository"])


def downgrade() -> None:
    """Drop ``instances`` and ``gitops_repositories``."""
    for column in ("repository", "template_name", "environment", "customer", "product"):
        op.drop_index(f"ix_instances_{column}", table_name="instances")
    op.drop_table("instances")
    op.drop_table("gitops_repositories")
