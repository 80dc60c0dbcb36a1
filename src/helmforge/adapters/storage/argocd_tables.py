"""Tables of the Argo CD area (DESIGN §6): the Argo CD API servers instances are synced by.

Their migrations live on the ``argocd`` Alembic branch (``argocd_0001`` onwards). A server's
bearer token is stored only as a Fernet token (``token_encrypted``, the key of registry
passwords); nothing writes it in plain text, returns it or logs it. Instances name a server by
``name`` (``instances.argocd``).
"""

from __future__ import annotations

__all__ = ["ArgoCdServerRow"]

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base
from helmforge.adapters.storage.server_tables import UtcDateTime


class ArgoCdServerRow(Base):
    __tablename__ = "argocd_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(63), unique=True)
    url: Mapped[str] = mapped_column(sa.String(1024))
    token_encrypted: Mapped[str] = mapped_column(sa.Text())
    insecure: Mapped[bool] = mapped_column(sa.Boolean())
    project: Mapped[str] = mapped_column(sa.String(63))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(64))
