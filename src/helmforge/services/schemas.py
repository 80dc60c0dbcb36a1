"""The schema catalog: CRDs, OpenAPI v3 documents and swagger.json files imported as schemas.

Imported definitions join the built-in Kubernetes schemas when objects are validated (see
``services.catalog.catalog_schema_set``). Every call takes the store's session factory and
``actor``, the ``Principal`` who acts.
"""

from __future__ import annotations

__all__ = ["SchemaEntry", "SchemaImportReport", "import_schema_sources", "list_schema_entries"]

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.storage import catalog_store
from helmforge.adapters.storage.database import engine_of
from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, Location
from helmforge.core.manifests.reading import IMPORT_LIMITS, DocumentText, FieldLines
from helmforge.core.schemas.openapi import definitions_from_documents
from helmforge.core.yaml_codec import load_documents
from helmforge.services import access
from helmforge.services.catalog import Source


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    """One stored definition: its name, the object type it describes (if any), its source."""

    name: str
    api_version: str | None
    kind: str | None
    source: str
    content_hash: str


@dataclass(slots=True)
class SchemaImportReport:
    """``name -> created|updated|unchanged`` for every definition of the import."""

    outcomes: dict[str, str] = field(default_factory=dict)
    kinds: list[tuple[str, str]] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcomes.values() if value == outcome)


def _documents(
    source: Source, fields: dict[str, FieldLines]
) -> Iterator[tuple[Mapping[str, Any], str]]:
    """``(document, "FILE:LINE")`` of every document of ``source``; ``fields`` learns where
    the fields of each one yielded are, for errors about them."""
    documents = load_documents(source.content, source=source.name, limits=IMPORT_LIMITS)
    text: str | None = None
    for document in documents:
        data = document.data
        where = f"{source.name}:{document.line}"
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InputError("expected a mapping", location=Location(source.name, document.line))
        if text is None:
            text = source.content.decode("utf-8").removeprefix("\ufeff")
        whole = DocumentText(text, document.span, source=source.name, limits=IMPORT_LIMITS)
        if isinstance(data.get("kind"), str) and data["kind"].endswith("List"):
            for index, item in enumerate(data.get("items") or []):
                if not isinstance(item, dict):
                    raise InputError(
                        "list items must be mappings",
                        location=Location(source.name, document.line, f"items[{index}]"),
                    )
                fields[f"{where} items[{index}]"] = FieldLines(
                    whole, ("items", index), document.line - 1
                )
                yield item, f"{where} items[{index}]"
        else:
            fields[where] = FieldLines(whole, (), document.line - 1)
            yield data, where


def _at_field(error: InputError, source: Source, fields: Mapping[str, FieldLines]) -> InputError:
    """``error`` about a field of a document of ``source``, at the line of that field (or of
    its nearest ancestor in the input); an error about a whole document keeps its line."""
    location = error.location
    lines = fields.get(location.source or "") if location is not None else None
    if location is None or lines is None or not location.path:
        return error
    line = lines.line_of_dotted(location.path)
    return InputError(error.message, location=Location(source.name, line, location.path))


def import_schema_sources(
    sessions: sessionmaker[Session], sources: Sequence[Source], *, actor: Principal
) -> SchemaImportReport:
    """Convert and store every definition of ``sources``; all or nothing.

    Raises ``InputError`` naming the source (and line) of anything that is not a CRD or an
    OpenAPI document.
    """
    access.require(sessions, actor, "schema.import")
    definitions: dict[str, dict[str, Any]] = {}
    source_of: dict[str, str] = {}
    for source in sources:
        fields: dict[str, FieldLines] = {}
        try:
            found = definitions_from_documents(_documents(source, fields))
        except InputError as error:
            raise _at_field(error, source, fields) from None
        for name, schema in found.items():
            definitions[name] = schema
            source_of[name] = source.name
    if not definitions:
        raise InputError("no schema definitions found in the input")
    report = SchemaImportReport()
    rows = [
        catalog_store.schema_row(name, schema, source=source_of[name])
        for name, schema in sorted(definitions.items())
    ]
    report.kinds = [(row.api_version, row.kind) for row in rows if row.api_version and row.kind]
    report.outcomes = catalog_store.write_schemas(engine_of(sessions), rows, actor=actor.name)
    return report


def list_schema_entries(
    sessions: sessionmaker[Session], *, actor: Principal, kind: str | None = None
) -> list[SchemaEntry]:
    """Stored definitions, optionally of one kind."""
    access.require(sessions, actor, "schema.read")
    return [
        SchemaEntry(
            name=row.name,
            api_version=row.api_version,
            kind=row.kind,
            source=row.source,
            content_hash=row.content_hash,
        )
        for row in catalog_store.list_schemas(engine_of(sessions), kind=kind)
    ]
