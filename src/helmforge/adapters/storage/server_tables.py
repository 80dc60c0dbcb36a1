"""Tables of the server area: accounts, tokens, sign-in throttles, templates, chart builds, audit.

Their migrations live on the ``server`` Alembic branch (``server_0001`` onwards). Audit events are
append-only: the migration installs triggers that refuse UPDATE and DELETE on both backends.
"""

from __future__ import annotations

__all__ = [
    "ApiTokenRow",
    "AuditEventRow",
    "ChartBuildRow",
    "LoginThrottleRow",
    "TemplateRow",
    "TemplateVersionRow",
    "UserRow",
    "UtcDateTime",
]

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helmforge.adapters.storage.database import Base


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back time-zone aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled: Mapped[bool] = mapped_column(default=False)
    # Set for a generated or admin-set password: the user must pick their own before anything else.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(128))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The bindings the token acts with, a subset of its user's (access_0003); NULL: all.
    binding_ids: Mapped[list[int] | None] = mapped_column(sa.JSON(), nullable=True)

    user: Mapped[UserRow] = relationship(lazy="joined", innerjoin=True)


class LoginThrottleRow(Base):
    """Failed sign-ins counted per key (``account:NAME`` or ``source:ADDRESS``) in a window."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class TemplateRow(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))


class TemplateVersionRow(Base):
    __tablename__ = "template_versions"
    __table_args__ = (sa.UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("templates.id"), index=True)
    version: Mapped[str] = mapped_column(sa.String(128))
    content: Mapped[str] = mapped_column(sa.Text())
    status: Mapped[str] = mapped_column(sa.String(16))
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(sa.String(64))

    template: Mapped[TemplateRow] = relationship(lazy="joined", innerjoin=True)

    # Optimistic concurrency: every UPDATE says WHERE revision = <the one read> and bumps it.
    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 (SQLAlchemy's declaration)


class ChartBuildRow(Base):
    __tablename__ = "chart_builds"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    template_name: Mapped[str] = mapped_column(sa.String(63), index=True)
    template_version: Mapped[str] = mapped_column(sa.String(128))
    context: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    chart_name: Mapped[str] = mapped_column(sa.String(63), index=True)
    chart_version: Mapped[str] = mapped_column(sa.String(128))
    app_version: Mapped[str] = mapped_column(sa.String(128))
    digest: Mapped[str] = mapped_column(sa.String(71))
    size: Mapped[int] = mapped_column()
    archive: Mapped[bytes] = mapped_column(sa.LargeBinary())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    # What produced the bytes (server_0002): {"helmforge", "python", "zlib", "pyyaml"}; NULL
    # for builds recorded before.
    generator: Mapped[dict[str, str] | None] = mapped_column(sa.JSON(), nullable=True)


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target: Mapped[str] = mapped_column(sa.String(300))
    before: Mapped[Any] = mapped_column(sa.JSON(), nullable=True)
    after: Mapped[Any] = mapped_column(sa.JSON(), nullable=True)
