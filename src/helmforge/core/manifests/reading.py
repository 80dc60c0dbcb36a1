"""Kubernetes objects out of YAML or JSON streams: splitting, identity and content hashes.

A stream may hold several documents, empty documents, comments, a BOM, CRLF line ends and
``kind: List`` wrappers (what ``kubectl get -o yaml`` prints); the output of ``helm template``
and ``kustomize build`` is such a stream. Every document goes through the safe YAML codec,
with budgets large enough for a 20 MB, 10,000-object import and no larger.

Documents that are not cluster objects (a ``Kustomization`` file, a values file, a document
without ``apiVersion``, ``kind`` or ``metadata.name``) are reported as skipped, never fatal.
"""

from __future__ import annotations

__all__ = [
    "IMPORT_LIMITS",
    "ManifestObject",
    "ManifestSet",
    "SkippedDocument",
    "content_hash",
    "object_reference",
    "read_manifest_batches",
    "read_manifests",
    "split_documents",
]

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.yaml_codec import LoadedDocument, YamlLimits, load_documents

# 32 MiB and 20,000 documents: a 20 MB / 10,000-object import fits with room; tens of MB more
# is refused before parsing (RELIABILITY row 8).
IMPORT_LIMITS = YamlLimits(max_bytes=32 * 1024 * 1024, max_documents=20_000)

# Files of configuration tools that look like Kubernetes objects but never reach a cluster.
_TOOL_GROUPS = (
    "kustomize.config.k8s.io/",
    "config.kubernetes.io/",
    "kpt.dev/",
    "skaffold/",
)
_LIST_KINDS_SUFFIX = "List"


@dataclass(frozen=True, slots=True)
class ManifestObject:
    """One cluster object read from a source, with its identity and where it came from."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]
    source: str
    line: int

    @property
    def group(self) -> str:
        """The API group ('' for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def labels(self) -> dict[str, str]:
        raw = self.body.get("metadata", {}).get("labels") or {}
        return {str(key): str(value) for key, value in raw.items()} if isinstance(raw, dict) else {}

    @property
    def reference(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` without a namespace), for messages."""
        return object_reference(self.kind, self.name, self.namespace)


@dataclass(frozen=True, slots=True)
class SkippedDocument:
    """A document that is not a cluster object, and why it was skipped."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: skipped: {self.reason}"


@dataclass(slots=True)
class ManifestSet:
    """The objects of one or more streams, in order, and the documents skipped."""

    objects: list[ManifestObject] = field(default_factory=list)
    skipped: list[SkippedDocument] = field(default_factory=list)

    def extend(self, other: ManifestSet) -> None:
        self.objects.extend(other.objects)
        self.skipped.extend(other.skipped)


def object_reference(kind: str, name: str, namespace: str | None) -> str:
    """``Kind/namespace/name`` or ``Kind/name``."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def content_hash(body: Mapping[str, Any]) -> str:
    """sha256 (hex) of the object's canonical JSON: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# A document starts at "---" in the first column; YAML forbids that sequence at the start of a
# line inside any scalar, so splitting there never cuts a document in two.
_DOCUMENT_START = re.compile(rb"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)


def read_manifests(
    content: str | bytes, *, source: str, limits: YamlLimits = IMPORT_LIMITS
) -> ManifestSet:
    """Read a YAML or JSON stream into cluster objects.

    Raises ``InputError`` (``TooLargeError`` over a budget) naming the source and line when the
    stream itself is not valid; documents that are valid but not cluster objects are skipped.
    """
    result = ManifestSet()
    for batch in read_manifest_batches(content, source=source, limits=limits):
        result.extend(batch)
    return result


def read_manifest_batches(
    content: str | bytes,
    *,
    source: str,
    limits: YamlLimits = IMPORT_LIMITS,
    batch_documents: int = 200,
) -> Iterator[ManifestSet]:
    """Read a stream in batches of about ``batch_documents`` documents, so that a large import
    holds only one batch of parsed objects (and of decoded text) at a time. Errors as
    ``read_manifests``; lines are those of the whole stream.
    """
    if len(content) > limits.max_bytes:
        raise TooLargeError(
            f"{len(content)} bytes is over the limit of {limits.max_bytes} bytes",
            location=Location(source),
        )
    raw = content.encode("utf-8") if isinstance(content, str) else content
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    starts = [match.start() for match in _DOCUMENT_START.finditer(raw)]
    if len(starts) > limits.max_documents:
        raise TooLargeError(
            f"more than {limits.max_documents} documents", location=Location(source)
        )
    # Directives (%YAML, %TAG) belong to the document after them: never split such a stream.
    whole = raw.startswith(b"%") or b"\n%" in raw
    cuts = [0] if whole else [0, *starts[batch_documents::batch_documents]]
    cuts.append(len(raw))
    line_offset = 0
    for begin, end in itertools.pairwise(cuts):
        chunk = raw[begin:end]
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(
                f"not UTF-8 text (byte {begin + error.start} cannot be decoded)",
                location=Location(source),
            ) from None
        del chunk
        try:
            documents = load_documents(text, source=source, limits=limits)
        except InputError as error:
            raise _shifted(error, line_offset) from None
        if line_offset:
            documents = [
                dataclasses.replace(document, line=document.line + line_offset)
                for document in documents
            ]
        yield split_documents(documents, source=source)
        line_offset += text.count("\n")


def _shifted(error: InputError, offset: int) -> InputError:
    location = error.location
    if not offset or location is None or location.line is None:
        return error
    moved = Location(location.source, location.line + offset, location.path)
    return type(error)(error.message, location=moved, problems=error.problems)


def split_documents(documents: Iterable[LoadedDocument], *, source: str) -> ManifestSet:
    """Turn loaded documents into objects, unwrapping ``kind: List`` and skipping the rest."""
    result = ManifestSet()
    for document in documents:
        if document.data is None:
            continue
        # Lists may hold lists (kubectl prints nested ones for some resources): use a stack.
        pending: list[tuple[Any, str]] = [(document.data, "")]
        while pending:
            data, where = pending.pop()
            items = _list_items(data)
            if items is not None:
                prefix = f"{where}items" if not where else f"{where}.items"
                pending.extend(
                    (item, f"{prefix}[{index}]") for index, item in reversed(list(enumerate(items)))
                )
                continue
            _classify(data, where=where, line=document.line, source=source, into=result)
    return result


def _list_items(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    kind, items = data.get("kind"), data.get("items")
    if isinstance(kind, str) and kind.endswith(_LIST_KINDS_SUFFIX) and isinstance(items, list):
        return items
    return None


def _classify(data: Any, *, where: str, line: int, source: str, into: ManifestSet) -> None:
    def skip(reason: str) -> None:
        into.skipped.append(
            SkippedDocument(source, line, f"{where}: {reason}" if where else reason)
        )

    if not isinstance(data, dict):
        skip(f"a {type(data).__name__}, not a Kubernetes object (a mapping)")
        return
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api_version, str) or not api_version:
        skip("no apiVersion: not a Kubernetes object")
        return
    if not isinstance(kind, str) or not kind:
        skip("no kind: not a Kubernetes object")
        return
    if api_version.startswith(_TOOL_GROUPS):
        skip(f"{kind} ({api_version}) is a tool's configuration file, not a cluster object")
        return
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        detail = (
            " (generateName objects cannot be imported)"
            if isinstance(metadata, dict) and metadata.get("generateName")
            else ""
        )
        skip(f"{kind} has no metadata.name{detail}")
        return
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    if namespace is not None and not isinstance(namespace, str):
        skip(f"{kind}/{name}: metadata.namespace is not a string")
        return
    into.objects.append(
        ManifestObject(
            api_version=api_version,
            kind=kind,
            name=name,
            namespace=namespace or None,
            body=data,
            source=source,
            line=line,
        )
    )
