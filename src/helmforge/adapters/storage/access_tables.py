"""Tables of the access area: role bindings and the custom policy rules (DESIGN §9).

Their migrations live on the ``access`` Alembic branch (``access_0001`` onwards). A binding is
``subject`` (``user:NAME`` or ``group:NAME``) holding ``role`` within ``scope``; a rule is one
``p`` line of the CSV policy. Built-in roles are code (``core/access/policy.py``), not rows.
"""

from __future__ import annotations

__all__ = ["BindingRow", "PolicyRuleRow"]

from datetime import datetime

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
