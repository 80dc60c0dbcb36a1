"""Tables of the resource catalog: imported objects, their labels, and imported schemas.

``catalog_objects`` holds one row per object identity (API group, kind, namespace, name);
the namespace is ``""`` for cluster-scoped objects so the unique constraint holds on both
SQLite and PostgreSQL (NULLs never collide). The cleaned object is stored as canonical JSON
text with its sha256, which is how re-imports tell "unchanged" from "updated".
``catalog_object_labels`` makes label selectors a query instead of a scan.
``catalog_schemas`` holds definitions imported from CRDs, OpenAPI documents or swagger.json,
with internal ``#/$defs/NAME`` references.
"""

from __future__ import annotations

__all__ = ["CatalogObject", "CatalogObjectLabel", "CatalogSchema"]

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helmforge.adapters.storage.database import Base


class CatalogObject(Base):
    """One imported Kubernetes object, cleaned, with where it came from."""

    __tablename__ = "catalog_objects"
    __table_args__ = (
        sa.UniqueConstraint(
            "api_group", "kind", "namespace", "name", name="uq_catalog_objects_identity"
        ),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    api_group: Mapped[str] = mapped_column(sa.String(253))
    api_version: Mapped[str] = mapped_column(sa.String(317))
    kind: Mapped[str] = mapped_column(sa.String(100), index=True)
    namespace: Mapped[str] = mapped_column(sa.String(253))
    name: Mapped[str] = mapped_column(sa.String(253))
    source: Mapped[str] = mapped_column(sa.String(1024), index=True)
    line: Mapped[int] = mapped_column(sa.Integer)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[str] = mapped_column(sa.Text)
    schema_status: Mapped[str] = mapped_column(sa.String(16))
    problems: Mapped[str] = mapped_column(sa.Text)
    imported_by: Mapped[str] = mapped_column(sa.String(200))


class CatalogObjectLabel(Base):
    """One label of a catalog object."""

    __tablename__ = "catalog_object_labels"

    object_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("catalog_objects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(317), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class CatalogSchema(Base):
    """One imported schema definition; ``kind`` is set for definitions that are objects."""

    __tablename__ = "catalog_schemas"

    name: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    api_version: Mapped[str | None] = mapped_column(sa.String(317), nullable=True)
    kind: Mapped[str | None] = mapped_column(sa.String(100), nullable=True, index=True)
    source: Mapped[str] = mapped_column(sa.String(1024))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    schema: Mapped[str] = mapped_column(sa.Text)
    imported_by: Mapped[str] = mapped_column(sa.String(200))
