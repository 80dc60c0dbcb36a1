"""Tables of the access area: role bindings, custom policy rules and change requests (DESIGN §9).

Their migrations live on the ``access`` Alembic branch (``access_0001`` onwards). A binding is
``subject`` (``user:NAME`` or ``group:NAME``) holding ``role`` within ``scope``; a rule is one
``p`` line of the CSV policy. Built-in roles are code (``core/access/policy.py``), not rows.
"""

from __future__ import annotations

__all__ = ["BindingRow", "ChangeRequestRow", "PolicyRuleRow"]

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class BindingRow(Base):
    __tablename__ = "access_bindings"
    __table_args__ = (sa.UniqueConstraint("subject", "role", "scope", name="uq_access_bindings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(140), index=True)
    role: Mapped[str] = mapped_column(sa.String(63))
    scope: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))


class PolicyRuleRow(Base):
    __tablename__ = "access_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(63))
    permission: Mapped[str] = mapped_column(sa.String(63))
    scope: Mapped[str] = mapped_column(sa.String(300))
    effect: Mapped[str] = mapped_column(sa.String(8))


class ChangeRequestRow(Base):
    """A proposed change waiting for (or past) its approvals; ``payload`` is the exact
    operation, ``base`` the fingerprint of the state it was proposed against.

    ``target`` is the target as text (``p/c/e/i`` or a template name); ``target_kind``
    (``context`` or ``template``) and the name columns hold it split, so the inbox is filtered
    by access in SQL (``access.allowed_where``): a context's four names (``environment`` is its
    third), or ``target_template``; the columns of the other kind are ``''``."""

    __tablename__ = "change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(63))
    target: Mapped[str] = mapped_column(sa.String(300), index=True)
    environment: Mapped[str] = mapped_column(sa.String(63))
    target_kind: Mapped[str] = mapped_column(sa.String(16))
    target_product: Mapped[str] = mapped_column(sa.String(300))
    target_customer: Mapped[str] = mapped_column(sa.String(300))
    target_instance: Mapped[str] = mapped_column(sa.String(300))
    target_template: Mapped[str] = mapped_column(sa.String(300))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON())
    diff: Mapped[str] = mapped_column(sa.Text())
    base: Mapped[str] = mapped_column(sa.String(300))
    requester: Mapped[str] = mapped_column(sa.String(64))
    requester_groups: Mapped[list[str]] = mapped_column(sa.JSON())
    required: Mapped[int] = mapped_column()
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    editors: Mapped[list[str]] = mapped_column(sa.JSON())
    approvals: Mapped[list[str]] = mapped_column(sa.JSON())
    rejected_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
