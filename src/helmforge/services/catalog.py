"""Importing Kubernetes objects into the catalog, and finding them again.

An import reads every source first (files, folders, stdin, a cluster), cleans and validates
every object, and only then writes, in one transaction: bad input leaves the catalog as it
was. Each object is stored once per identity (API group, kind, namespace, name): the same
content again is ``unchanged``, different content ``updated``; two different objects with one
identity in the same import are a conflict.

Every call takes the session factory of the store and ``actor``, the ``Principal`` who acts
(its name is recorded on the rows).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_KUBERNETES_VERSION",
    "CatalogEntry",
    "ImportReport",
    "ImportedObject",
    "Source",
    "catalog_schema_set",
    "get_object",
    "import_from_cluster",
    "import_manifests",
    "import_sources",
    "list_objects",
    "open_catalog",
    "parse_sources",
    "read_paths",
]

import hashlib
import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters import kube_cluster
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.adapters.storage import catalog_store
from helmforge.adapters.storage.database import engine_of
from helmforge.core.access.principals import Principal
from helmforge.core.errors import InputError, Location, NotFoundError, TooLargeError
from helmforge.core.manifests.cleaning import clean_object, redact_secret_values
from helmforge.core.manifests.reading import (
    IMPORT_LIMITS,
    ManifestObject,
    ManifestSet,
    SkippedDocument,
    read_manifest_batches,
    read_manifests,
    split_documents,
)
from helmforge.core.manifests.selectors import parse_label_selector
from helmforge.core.schemas.compilers import CompiledSchemas
from helmforge.core.schemas.kubernetes import SchemaSet
from helmforge.core.schemas.openapi import crd_definitions
from helmforge.core.yaml_codec import LineMap, LoadedDocument
from helmforge.services import access
from helmforge.services.stores import Store, open_store_at

DEFAULT_KUBERNETES_VERSION = "1.31"
_SUFFIXES = (".yaml", ".yml", ".json")
_MAX_FILES = 10_000
_STATUS_VALID, _STATUS_INVALID, _STATUS_UNKNOWN = "valid", "invalid", "no-schema"
# Compiled validators per schema set, dropped with the set.
_COMPILED: weakref.WeakKeyDictionary[SchemaSet, CompiledSchemas] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Source:
    """Bytes to import and the name errors and the catalog use for them."""

    name: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ImportedObject:
    """What happened to one object: ``created``, ``updated``, ``unchanged`` or ``conflict``."""

    reference: str
    source: str
    line: int
    outcome: str
    schema_status: str
    problems: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportReport:
    """The outcome of one import, object by object, plus the documents skipped."""

    objects: list[ImportedObject] = field(default_factory=list)
    skipped: list[SkippedDocument] = field(default_factory=list)
    #: schema definitions registered from CRDs among the objects: name -> outcome
    schemas: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.objects if item.outcome == outcome)

    @property
    def invalid(self) -> list[ImportedObject]:
        return [item for item in self.objects if item.schema_status == _STATUS_INVALID]

    @property
    def without_schema(self) -> list[ImportedObject]:
        return [item for item in self.objects if item.schema_status == _STATUS_UNKNOWN]


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A stored object as the CLI, API and UI show it."""

    id: int
    api_version: str
    kind: str
    namespace: str | None
    name: str
    source: str
    line: int
    content_hash: str
    schema_status: str
    problems: tuple[str, ...]
    labels: dict[str, str]
    body: dict[str, Any]
    imported_by: str

    @property
    def reference(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


def open_catalog(database_url: str) -> Store:
    """The store on ``database_url`` with every migration applied (the caller disposes of
    ``store.engine`` when done)."""
    return open_store_at(database_url)


def read_paths(
    paths: Sequence[str], *, stdin: BinaryIO | None = None, max_bytes: int = IMPORT_LIMITS.max_bytes
) -> list[Source]:
    """The contents of files, of the YAML/JSON files under folders (sorted), and of stdin (``-``).

    Sizes are checked before reading. Raises ``InputError`` for a missing path, a folder without
    YAML or JSON files, or stdin given twice; ``TooLargeError`` over ``max_bytes``.
    """
    sources: list[Source] = []
    for raw in paths:
        if raw == "-":
            if stdin is None or any(source.name == "<stdin>" for source in sources):
                raise InputError("stdin ('-') can be read only once")
            content = stdin.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise TooLargeError(
                    f"more than {max_bytes} bytes on stdin", location=Location("<stdin>")
                )
            sources.append(Source("<stdin>", content))
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                entry
                for entry in path.rglob("*")
                if entry.suffix.lower() in _SUFFIXES
                and entry.is_file()
                and not any(part.startswith(".") for part in entry.relative_to(path).parts)
            )
            if not files:
                raise InputError(
                    "no .yaml, .yml or .json files in this folder", location=Location(raw)
                )
            if len(files) > _MAX_FILES:
                raise TooLargeError(f"more than {_MAX_FILES} files", location=Location(raw))
        elif path.is_file():
            files = [path]
        else:
            raise InputError("no such file or folder", location=Location(raw))
        for file in files:
            size = file.stat().st_size
            if size > max_bytes:
                raise TooLargeError(
                    f"{size} bytes is over the limit of {max_bytes} bytes",
                    location=Location(str(file)),
                )
            try:
                sources.append(Source(str(file), file.read_bytes()))
            except OSError as error:
                raise InputError(
                    f"cannot read: {error.strerror}", location=Location(str(file))
                ) from None
    return sources


def parse_sources(sources: Sequence[Source]) -> ManifestSet:
    """Every object of every source; raises ``InputError`` for the first unreadable stream."""
    manifests = ManifestSet()
    for source in sources:
        manifests.extend(read_manifests(source.content, source=source.name))
    return manifests


def catalog_schema_set(
    sessions: sessionmaker[Session],
    *,
    kubernetes_version: str,
    extra: Mapping[str, dict[str, Any]] | None = None,
) -> SchemaSet:
    """The built-in schemas of ``kubernetes_version``, every schema imported, and ``extra``."""
    builtin = load_schema_set(kubernetes_version)
    imported = {**catalog_store.load_schema_definitions(engine_of(sessions)), **(extra or {})}
    if not imported:
        return builtin
    return SchemaSet(
        kubernetes_version=builtin.kubernetes_version,
        definitions={**builtin.definitions, **imported},
    )


_CRD_API_VERSION = "apiextensions.k8s.io/v1"


def _crd_schema_rows(objects: Sequence[ManifestObject]) -> list[catalog_store.SchemaRow]:
    """Schema rows of every served version of the CRDs among ``objects``."""
    rows: list[catalog_store.SchemaRow] = []
    for item in objects:
        if item.kind == "CustomResourceDefinition" and item.api_version == _CRD_API_VERSION:
            where = f"{item.source}:{item.line}"
            try:
                definitions = crd_definitions(item.body, source=where)
            except InputError as error:
                raise _at_field(item, error) from None
            for name, schema in definitions.items():
                rows.append(catalog_store.schema_row(name, schema, source=where))
    return rows


def _at_field(item: ManifestObject, error: InputError) -> InputError:
    """``error`` about the field at its location's path of ``item``, at that field's line."""
    path = error.location.path if error.location is not None else None
    where = f"{item.reference} {path}" if path else item.reference
    line = item.field_line(path or ())
    return InputError(error.message, location=Location(item.source, line, where))


def _crds_in_sources(sources: Sequence[Source]) -> list[catalog_store.SchemaRow]:
    # A pre-pass only over sources that can hold a CRD, so that objects of a CRD's kinds in
    # the same import are validated against it.
    rows: list[catalog_store.SchemaRow] = []
    for source in sources:
        if b"CustomResourceDefinition" in source.content:
            for manifests in read_manifest_batches(source.content, source=source.name):
                rows.extend(_crd_schema_rows(manifests.objects))
    return rows


def _with_crds(
    sessions: sessionmaker[Session],
    rows: Sequence[catalog_store.SchemaRow],
    kubernetes_version: str,
) -> SchemaSet:
    extra = {row.name: json.loads(row.schema) for row in rows}
    return catalog_schema_set(sessions, kubernetes_version=kubernetes_version, extra=extra)


def import_sources(
    sessions: sessionmaker[Session],
    sources: Sequence[Source],
    *,
    actor: Principal,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    allow_invalid: bool = False,
) -> ImportReport:
    """Parse, clean, validate and store every object of ``sources`` (see ``import_manifests``).

    Sources are read in batches of documents, each turned into compact rows before the next is
    parsed, so memory stays a small multiple of the input size. CRDs among the objects also
    register their schemas (``report.schemas``), in the same transaction, and objects of their
    kinds in the same import are validated against them.
    """
    access.require(sessions, actor, "catalog.import")
    crds = _crds_in_sources(sources)
    schemas = _with_crds(sessions, crds, kubernetes_version)
    with catalog_store.object_writer(engine_of(sessions), actor=actor.name) as writer:
        batch = _ImportBatch(schemas, allow_invalid, writer)
        batch.report.schemas = writer.write_schemas(crds) if crds else {}
        for source in sources:
            for manifests in read_manifest_batches(source.content, source=source.name):
                batch.add(manifests)
        return batch.finish()


def import_manifests(
    sessions: sessionmaker[Session],
    manifests: ManifestSet,
    *,
    actor: Principal,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    allow_invalid: bool = False,
) -> ImportReport:
    """Clean, validate and store ``manifests`` in one transaction (the objects' bodies are
    cleaned in place: the caller hands them over).

    Objects failing their schema make the whole import fail with ``InputError`` (every problem
    in ``problems``, each naming the source, line, object and field path) unless
    ``allow_invalid``: then they are stored flagged ``invalid``. Objects without a known schema
    are stored flagged ``no-schema``. Nothing is written when anything fails.
    """
    access.require(sessions, actor, "catalog.import")
    crds = _crd_schema_rows(manifests.objects)
    schemas = _with_crds(sessions, crds, kubernetes_version)
    with catalog_store.object_writer(engine_of(sessions), actor=actor.name) as writer:
        batch = _ImportBatch(schemas, allow_invalid, writer)
        batch.report.schemas = writer.write_schemas(crds) if crds else {}
        batch.add(manifests)
        return batch.finish()


class _ImportBatch:
    """An import in progress: each batch of objects is prepared (compact rows, no parsed
    trees), checked and written into the open transaction; problems collect until
    ``finish``, which raises them all (the transaction then rolls back) or returns the report.
    """

    def __init__(
        self, schemas: SchemaSet, allow_invalid: bool, writer: catalog_store.ObjectWriter
    ) -> None:
        self.schemas = schemas
        self.allow_invalid = allow_invalid
        self.writer = writer
        self.seen: dict[catalog_store.ObjectKey, tuple[str, str, int]] = {}
        self.failures: list[InputError] = []
        self.report = ImportReport()

    def add(self, manifests: ManifestSet) -> None:
        self.report.skipped.extend(manifests.skipped)
        rows: list[catalog_store.ObjectRow] = []
        for item in manifests.objects:
            row, problem_lines = _prepare(item, self.schemas)
            previous = self.seen.get(row.key)
            if previous is not None:
                if previous[0] != row.content_hash:
                    self.failures.append(
                        InputError(
                            f"{item.reference} is defined twice with different content "
                            f"(first at {previous[1]}:{previous[2]})",
                            location=Location(item.source, item.line),
                        )
                    )
                continue
            self.seen[row.key] = (row.content_hash, row.source, row.line)
            if row.schema_status == _STATUS_INVALID and not self.allow_invalid:
                self.failures.extend(
                    InputError(problem, location=Location(item.source, line))
                    for problem, line in zip(row.problems, problem_lines, strict=True)
                )
            rows.append(row)
        if not self.failures:
            self.write(rows)

    def write(self, rows: list[catalog_store.ObjectRow]) -> None:
        stored = self.writer.lookup([row.key for row in rows])
        created: list[catalog_store.ObjectRow] = []
        updated: list[tuple[int, catalog_store.ObjectRow]] = []
        for row in rows:
            known = stored.get(row.key)
            if known is None:
                created.append(row)
                outcome = "created"
            elif known[1] != row.content_hash:
                updated.append((known[0], row))
                outcome = "updated"
            else:
                outcome = "unchanged"
            self.report.objects.append(
                ImportedObject(
                    reference=_reference(row),
                    source=row.source,
                    line=row.line,
                    outcome=outcome,
                    schema_status=row.schema_status,
                    problems=row.problems,
                )
            )
        self.writer.write(created=created, updated=updated)

    def finish(self) -> ImportReport:
        if self.failures:
            raise InputError(
                f"{len(self.failures)} problem(s) in the input; nothing was imported: "
                f"{self.failures[0]}",
                problems=tuple(self.failures),
            )
        return self.report


def import_from_cluster(
    sessions: sessionmaker[Session],
    *,
    kinds: Sequence[str],
    namespaces: Sequence[str],
    kubeconfig: str | None,
    context: str | None,
    actor: Principal,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    allow_invalid: bool = False,
) -> ImportReport:
    """Read ``kinds`` in ``namespaces`` from a live cluster and import them like files.

    The source of each object is ``cluster:CONTEXT``; generated children are reported as
    skipped. Raises ``ExternalServiceError`` when the cluster cannot be read.
    """
    requests = kube_cluster.plan_requests(kinds, namespaces)
    objects, notes = kube_cluster.fetch_objects(requests, kubeconfig=kubeconfig, context=context)
    source = f"cluster:{context or 'current-context'}"
    manifests = split_documents(
        (LoadedDocument(body, 0, LineMap()) for body in objects), source=source
    )
    manifests.skipped.extend(SkippedDocument(source, 0, note) for note in notes)
    return import_manifests(
        sessions,
        manifests,
        actor=actor,
        kubernetes_version=kubernetes_version,
        allow_invalid=allow_invalid,
    )


def _reference(row: catalog_store.ObjectRow) -> str:
    if row.namespace:
        return f"{row.kind}/{row.namespace}/{row.name}"
    return f"{row.kind}/{row.name}"


def _prepare(
    item: ManifestObject, schemas: SchemaSet
) -> tuple[catalog_store.ObjectRow, tuple[int, ...]]:
    """The row of ``item``, and the line in its source of each of the row's problems."""
    body = clean_object(item.body, in_place=True).body  # the parsed tree is ours, used once
    redact_secret_values(body)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    violations = _validate(schemas, body, item)
    problems: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()
    if violations is None:
        status = _STATUS_UNKNOWN
    elif violations:
        status = _STATUS_INVALID
        problems = tuple(
            f"{item.reference}: {_dotted(violation.path) or '(object)'}: {violation.message}"
            for violation in violations
        )
        lines = tuple(item.field_line(violation.path) for violation in violations)
    else:
        status = _STATUS_VALID
    labels = body.get("metadata", {}).get("labels")
    row = catalog_store.ObjectRow(
        api_group=item.group,
        api_version=item.api_version,
        kind=item.kind,
        namespace=item.namespace or "",
        name=item.name,
        source=item.source,
        line=item.line,
        content_hash=_sha256(canonical),
        body=canonical,
        schema_status=status,
        problems=problems,
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )
    return row, lines


def _validate(schemas: SchemaSet, body: dict[str, Any], item: ManifestObject) -> Any:
    """jsonschema's violations (None for an unknown kind), skipped when the compiled check
    already says the object is valid: that is most objects, at about 1/1000 of the cost
    (benchmarks/validators.py)."""
    definition = schemas.definition_for(item.api_version, item.kind)
    if definition is None:
        return None
    compiled = _COMPILED.get(schemas)
    if compiled is None:
        compiled = _COMPILED[schemas] = CompiledSchemas(schemas.definitions)
    if compiled.is_valid(definition, body) is True:
        return []
    return schemas.validate(body)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def list_objects(
    sessions: sessionmaker[Session],
    *,
    actor: Principal,
    kind: str | None = None,
    namespace: str | None = None,
    label_selector: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> list[CatalogEntry]:
    """Catalog objects filtered by kind, namespace, label selector and source."""
    access.require(sessions, actor, "catalog.read")
    selector = parse_label_selector(label_selector) if label_selector else ()
    return [
        _entry(row)
        for row in catalog_store.find_objects(
            engine_of(sessions),
            kind=kind,
            namespace=namespace,
            source=source,
            selector=selector,
            limit=limit,
        )
    ]


def get_object(
    sessions: sessionmaker[Session], reference: str, *, actor: Principal
) -> CatalogEntry:
    """One object by ``Kind/name`` or ``Kind/namespace/name``; raises ``NotFoundError``."""
    access.require(sessions, actor, "catalog.read")
    parts = reference.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"{reference!r} is not Kind/name or Kind/namespace/name")
    kind, namespace, name = (parts[0], "", parts[1]) if len(parts) == 2 else tuple(parts)
    rows = catalog_store.find_objects(
        engine_of(sessions), kind=kind, namespace=namespace, name=name
    )
    if not rows:
        raise NotFoundError(f"no {reference} in the catalog")
    return _entry(rows[0])


def _entry(row: catalog_store.StoredObject) -> CatalogEntry:
    labels = row.body.get("metadata", {}).get("labels") or {}
    return CatalogEntry(
        id=row.id,
        api_version=row.api_version,
        kind=row.kind,
        namespace=row.namespace or None,
        name=row.name,
        source=row.source,
        line=row.line,
        content_hash=row.content_hash,
        schema_status=row.schema_status,
        problems=row.problems,
        labels=dict(labels),
        body=row.body,
        imported_by=row.imported_by,
    )
