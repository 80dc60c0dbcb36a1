"""Reads and writes of the resource catalog, in bulk and in one transaction per call.

Callers hand over plain rows (``ObjectRow``, ``SchemaRow``); this module owns every SQL
statement of the catalog. Database failures become ``ExternalServiceError`` without the
database password.
"""

from __future__ import annotations

__all__ = [
    "ObjectKey",
    "ObjectRow",
    "ObjectWriter",
    "SchemaRow",
    "StoredObject",
    "find_objects",
    "list_schemas",
    "load_schema_definitions",
    "object_writer",
    "schema_row",
    "write_schemas",
]

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from helmforge.adapters.storage.catalog_tables import (
    CatalogObject,
    CatalogObjectLabel,
    CatalogSchema,
)
from helmforge.adapters.storage.database import redacted_url
from helmforge.core.errors import ConflictError, ExternalServiceError
from helmforge.core.manifests.selectors import Requirement

_OBJECTS = cast(sa.Table, CatalogObject.__table__)
_LABELS = cast(sa.Table, CatalogObjectLabel.__table__)
_SCHEMAS = cast(sa.Table, CatalogSchema.__table__)
# Rows per INSERT statement: large enough to amortise round trips, small enough for SQLite's
# bound-parameter limit (32,766) with 13 columns.
_CHUNK = 2000

type ObjectKey = tuple[str, str, str, str]  # api group, kind, namespace ("" if none), name


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One object to write; ``body`` is canonical JSON text."""

    api_group: str
    api_version: str
    kind: str
    namespace: str
    name: str
    source: str
    line: int
    content_hash: str
    body: str
    schema_status: str
    problems: tuple[str, ...]
    labels: dict[str, str]

    @property
    def key(self) -> ObjectKey:
        return (self.api_group, self.kind, self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A catalog row as read back."""

    id: int
    api_version: str
    kind: str
    namespace: str
    name: str
    source: str
    line: int
    content_hash: str
    body: dict[str, Any]
    schema_status: str
    problems: tuple[str, ...]
    imported_by: str


@dataclass(frozen=True, slots=True)
class SchemaRow:
    """One schema definition to write or as read back (``schema`` is JSON text)."""

    name: str
    api_version: str | None
    kind: str | None
    source: str
    content_hash: str
    schema: str


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as connection:
            yield connection
    except IntegrityError as error:
        raise ConflictError(
            "another import stored the same objects at the same time; nothing was imported, "
            "run the import again"
        ) from error
    except SQLAlchemyError as error:
        raise ExternalServiceError(
            f"catalog database {redacted_url(str(engine.url))} failed: "
            f"{type(getattr(error, 'orig', None) or error).__name__}"
        ) from error


class ObjectWriter:
    """Writes objects batch by batch inside one open transaction (see ``object_writer``)."""

    def __init__(self, connection: Connection, actor: str) -> None:
        self.connection = connection
        self.actor = actor

    def lookup(self, keys: Sequence[ObjectKey]) -> dict[ObjectKey, tuple[int, str]]:
        """``key -> (id, content hash)`` of the stored objects among ``keys``."""
        wanted = set(keys)
        found: dict[ObjectKey, tuple[int, str]] = {}
        names = sorted({key[3] for key in wanted})
        kinds = sorted({key[1] for key in wanted})
        for start in range(0, len(names), _CHUNK):
            rows = self.connection.execute(
                sa.select(
                    _OBJECTS.c.api_group,
                    _OBJECTS.c.kind,
                    _OBJECTS.c.namespace,
                    _OBJECTS.c.name,
                    _OBJECTS.c.id,
                    _OBJECTS.c.content_hash,
                ).where(
                    _OBJECTS.c.kind.in_(kinds), _OBJECTS.c.name.in_(names[start : start + _CHUNK])
                )
            )
            for row in rows:
                key = (row[0], row[1], row[2], row[3])
                if key in wanted:
                    found[key] = (row[4], row[5])
        return found

    def write_schemas(self, rows: Sequence[SchemaRow]) -> dict[str, str]:
        """Store schema definitions in this transaction (see ``write_schemas``)."""
        return _write_schema_rows(self.connection, rows, self.actor)

    def write(
        self, *, created: Sequence[ObjectRow], updated: Sequence[tuple[int, ObjectRow]]
    ) -> None:
        """Insert ``created`` and overwrite ``updated`` (by id), labels included."""
        connection, actor = self.connection, self.actor
        label_rows: list[dict[str, Any]] = []
        for start in range(0, len(created), _CHUNK):
            chunk = created[start : start + _CHUNK]
            result = connection.execute(
                sa.insert(_OBJECTS).returning(_OBJECTS.c.id, sort_by_parameter_order=True),
                [_object_values(row, actor) for row in chunk],
            )
            for (object_id,), row in zip(result.all(), chunk, strict=True):
                label_rows.extend(
                    {"object_id": object_id, "key": key, "value": value}
                    for key, value in row.labels.items()
                )
        if updated:
            ids = [object_id for object_id, _row in updated]
            for start in range(0, len(ids), _CHUNK):
                connection.execute(
                    sa.delete(_LABELS).where(_LABELS.c.object_id.in_(ids[start : start + _CHUNK]))
                )
            connection.execute(
                sa.update(_OBJECTS).where(_OBJECTS.c.id == sa.bindparam("object_id")),
                [
                    {"object_id": object_id, **_object_values(row, actor)}
                    for object_id, row in updated
                ],
            )
            for object_id, row in updated:
                label_rows.extend(
                    {"object_id": object_id, "key": key, "value": value}
                    for key, value in row.labels.items()
                )
        for start in range(0, len(label_rows), _CHUNK * 3):
            connection.execute(sa.insert(_LABELS), label_rows[start : start + _CHUNK * 3])


@contextmanager
def object_writer(engine: Engine, *, actor: str) -> Iterator[ObjectWriter]:
    """One transaction for a whole import: committed when the block ends, rolled back
    (nothing written) when it raises."""
    with _transaction(engine) as connection:
        yield ObjectWriter(connection, actor)


def _object_values(row: ObjectRow, actor: str) -> dict[str, Any]:
    return {
        "api_group": row.api_group,
        "api_version": row.api_version,
        "kind": row.kind,
        "namespace": row.namespace,
        "name": row.name,
        "source": row.source,
        "line": row.line,
        "content_hash": row.content_hash,
        "body": row.body,
        "schema_status": row.schema_status,
        "problems": json.dumps(list(row.problems)),
        "imported_by": actor,
    }


def find_objects(
    engine: Engine,
    *,
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    source: str | None = None,
    selector: Sequence[Requirement] = (),
    limit: int | None = None,
) -> list[StoredObject]:
    """Stored objects matching every given filter, ordered by kind, namespace and name."""
    query = sa.select(_OBJECTS)
    if kind is not None:
        query = query.where(sa.func.lower(_OBJECTS.c.kind) == kind.lower())
    if namespace is not None:
        query = query.where(_OBJECTS.c.namespace == namespace)
    if name is not None:
        query = query.where(_OBJECTS.c.name == name)
    if source is not None:
        query = query.where(_OBJECTS.c.source == source)
    for requirement in selector:
        query = query.where(_label_condition(requirement))
    query = query.order_by(_OBJECTS.c.kind, _OBJECTS.c.namespace, _OBJECTS.c.name)
    if limit is not None:
        query = query.limit(limit)
    with _transaction(engine) as connection:
        return [
            StoredObject(
                id=row.id,
                api_version=row.api_version,
                kind=row.kind,
                namespace=row.namespace,
                name=row.name,
                source=row.source,
                line=row.line,
                content_hash=row.content_hash,
                body=json.loads(row.body),
                schema_status=row.schema_status,
                problems=tuple(json.loads(row.problems)),
                imported_by=row.imported_by,
            )
            for row in connection.execute(query)
        ]


def _label_condition(requirement: Requirement) -> sa.ColumnElement[bool]:
    label = sa.select(_LABELS.c.object_id).where(
        _LABELS.c.object_id == _OBJECTS.c.id, _LABELS.c.key == requirement.key
    )
    if requirement.operator in ("in", "notin"):
        label = label.where(_LABELS.c.value.in_(requirement.values))
    exists = label.exists()
    return exists if requirement.operator in ("in", "exists") else ~exists


def write_schemas(engine: Engine, rows: Sequence[SchemaRow], *, actor: str) -> dict[str, str]:
    """Insert or replace definitions by name; returns ``name -> created|updated|unchanged``."""
    with _transaction(engine) as connection:
        return _write_schema_rows(connection, rows, actor)


def _write_schema_rows(
    connection: Connection, rows: Sequence[SchemaRow], actor: str
) -> dict[str, str]:
    outcome: dict[str, str] = {}
    names = [row.name for row in rows]
    stored: dict[str, str] = {}
    for start in range(0, len(names), _CHUNK):
        stored.update(
            connection.execute(
                sa.select(_SCHEMAS.c.name, _SCHEMAS.c.content_hash).where(
                    _SCHEMAS.c.name.in_(names[start : start + _CHUNK])
                )
            ).all()
        )
    inserts, updates = [], []
    for row in rows:
        values = {
            "name": row.name,
            "api_version": row.api_version,
            "kind": row.kind,
            "source": row.source,
            "content_hash": row.content_hash,
            "schema": row.schema,
            "imported_by": actor,
        }
        if row.name not in stored:
            inserts.append(values)
            outcome[row.name] = "created"
        elif stored[row.name] != row.content_hash:
            updates.append({**values, "schema_name": row.name})
            outcome[row.name] = "updated"
        else:
            outcome[row.name] = "unchanged"
    if inserts:
        connection.execute(sa.insert(_SCHEMAS), inserts)
    if updates:
        connection.execute(
            sa.update(_SCHEMAS).where(_SCHEMAS.c.name == sa.bindparam("schema_name")), updates
        )
    return outcome


def schema_row(name: str, schema: Mapping[str, Any], *, source: str) -> SchemaRow:
    """The row of one definition: canonical JSON, its sha256 and the GVK it describes."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    api_version: str | None = None
    kind: str | None = None
    for gvk in schema.get("x-kubernetes-group-version-kind") or ():
        if isinstance(gvk, Mapping) and gvk.get("version") and gvk.get("kind"):
            group = gvk.get("group") or ""
            api_version = f"{group}/{gvk['version']}" if group else str(gvk["version"])
            kind = str(gvk["kind"])
            break
    return SchemaRow(
        name=name,
        api_version=api_version,
        kind=kind,
        source=source,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        schema=text,
    )


def list_schemas(engine: Engine, *, kind: str | None = None) -> list[SchemaRow]:
    """Stored schema definitions (``kind`` filters, case-insensitive), ordered by name."""
    query = sa.select(_SCHEMAS).order_by(_SCHEMAS.c.name)
    if kind is not None:
        query = query.where(sa.func.lower(_SCHEMAS.c.kind) == kind.lower())
    with _transaction(engine) as connection:
        return [
            SchemaRow(
                name=row.name,
                api_version=row.api_version,
                kind=row.kind,
                source=row.source,
                content_hash=row.content_hash,
                schema=row.schema,
            )
            for row in connection.execute(query)
        ]


def load_schema_definitions(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every stored definition, ``name -> schema``."""
    with _transaction(engine) as connection:
        return {
            name: json.loads(schema)
            for name, schema in connection.execute(
                sa.select(_SCHEMAS.c.name, _SCHEMAS.c.schema)
            ).all()
        }
