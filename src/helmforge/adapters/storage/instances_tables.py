"""Tables of the instances area (DESIGN §6): GitOps repositories and deployed instances.

Their migrations live on the ``instances`` Alembic branch (``instances_0001`` onwards).

A repository's password (or token) and SSH private key are stored only as Fernet tokens
(``*_encrypted``), like registry passwords; nothing writes them in plain text, returns them or
logs them. ``known_hosts`` is public data (the pinned host keys) and is stored as it is.

An instance row is the *binding* of ``product/customer/environment/instance`` to a template
version, a registry, a repository and optionally an Argo CD server (by name: that table belongs
to the Argo CD area), plus what helmforge last pushed (chart version, build, revision). The
repository holds the truth about values; history is read from Git. ``app_name`` and
``namespace`` are unique, so two ids that join into one name (``a-b/c/...`` and ``a/b-c/...``)
can never both exist. ``state`` is ``creating`` while a creation is under way (the row reserves
the names) and ``ready`` once its commit is pushed; lists show ready rows only.
"""

from __future__ import annotations

__all__ = ["GitopsRepositoryRow", "InstanceRow"]

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class GitopsRepositoryRow(Base):
    __tablename__ = "gitops_repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    url: Mapped[str] = mapped_column(sa.String(1024))
    branch: Mapped[str] = mapped_column(sa.String(255))
    path: Mapped[str] = mapped_column(sa.String(1024))
    username: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    password_encrypted: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    ssh_private_key_encrypted: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    ssh_known_hosts: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))


class InstanceRow(Base):
    __tablename__ = "instances"
    __table_args__ = (
        sa.UniqueConstraint(
            "product", "customer", "environment", "instance", name="uq_instances_context"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(sa.String(63), index=True)
    customer: Mapped[str] = mapped_column(sa.String(63), index=True)
    environment: Mapped[str] = mapped_column(sa.String(63), index=True)
    instance: Mapped[str] = mapped_column(sa.String(63))
    app_name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    namespace: Mapped[str] = mapped_column(sa.String(63), unique=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    template_name: Mapped[str] = mapped_column(sa.String(63), index=True)
    template_version: Mapped[str] = mapped_column(sa.String(128))
    app_version: Mapped[str] = mapped_column(sa.String(128))
    # ``registry`` is a reserved name on declarative classes: the column keeps it.
    registry_name: Mapped[str] = mapped_column("registry", sa.String(63))
    repository: Mapped[str] = mapped_column(sa.String(63), index=True)
    argocd: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    chart_name: Mapped[str] = mapped_column(sa.String(63))
    chart_version: Mapped[str] = mapped_column(sa.String(128))
    build_id: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    revision: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(sa.String(64))
