"""Tables of the publishing area: configured registries and the history of pushes.

Their migrations live on the ``publishing`` Alembic branch (``publishing_0001`` onwards).
A registry's password is stored only as a Fernet token (``password_encrypted``); nothing in
helmforge writes it in plain text, returns it, or logs it.
"""

from __future__ import annotations

__all__ = ["PushRow", "RegistryRow"]

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class RegistryRow(Base):
    __tablename__ = "registries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    url: Mapped[str] = mapped_column(sa.String(1024))
    ca_pem: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    plain_http: Mapped[bool] = mapped_column(default=False)
    username: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    password_encrypted: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))


class PushRow(Base):
    """One push of a chart build: what went where, who, when, and how it ended."""

    __tablename__ = "chart_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[str | None] = mapped_column(sa.String(32), index=True, nullable=True)
    # ``registry`` is a reserved name on declarative classes: the column keeps it.
    registry_name: Mapped[str] = mapped_column("registry", sa.String(63), index=True)
    chart: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[str] = mapped_column(sa.String(128))
    repository: Mapped[str] = mapped_column(sa.String(1024))
    tag: Mapped[str] = mapped_column(sa.String(128))
    manifest_digest: Mapped[str] = mapped_column(sa.String(71))
    layer_digest: Mapped[str] = mapped_column(sa.String(71))
    status: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text(), nullable=True)
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
