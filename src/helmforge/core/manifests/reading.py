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
    "DocumentText",
    "FieldLines",
    "ManifestObject",
    "ManifestSet",
    "SkippedDocument",
    "content_hash",
    "object_reference",
    "read_manifest_batches",
    "read_manifests",
    "split_documents",
]

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.yaml_codec import LineMap, LoadedDocument, YamlLimits, load_documents

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


class DocumentText:
    """One document's text in its stream, read again with line tracking (``LineMap``) the first
    time a line of one of its fields is asked for, then kept: most reads never ask, so they
    pay neither the time nor the memory of a line map, and an error about fields parses one
    document again, never the stream."""

    __slots__ = ("_limits", "_map", "_source", "_span", "_text")

    def __init__(self, text: str, span: tuple[int, int], *, source: str, limits: YamlLimits):
        self._text, self._span, self._source, self._limits = text, span, source, limits
        self._map: LineMap | None = None

    @property
    def has_line_map(self) -> bool:
        """Whether the document was read again for its lines already."""
        return self._map is not None

    def line_map(self) -> LineMap:
        """The lines of the document's keys and items, counted from its first line as 1."""
        if self._map is None:
            start, end = self._span
            try:
                documents = load_documents(
                    self._text[start:end],
                    source=self._source,
                    limits=self._limits,
                    track_lines=True,
                )
            except InputError:  # a %TAG directive the slice lacks: names the document instead
                documents = []
            found = next(
                (document.lines for document in documents if document.data is not None), None
            )
            self._map = found or LineMap()
        return self._map


@dataclass(frozen=True, slots=True)
class FieldLines:
    """Where the fields of one object are in its stream.

    ``prefix`` is the object's path in its document (``items[3]`` of a ``kind: List``),
    ``offset`` the lines of the stream before the document's first line.
    """

    document: DocumentText
    prefix: tuple[str | int, ...] = ()
    offset: int = 0

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of the field at ``path`` of the object, else of its nearest ancestor in
        the input (a field the tool added, a required one missing), else of the object's
        first line (after the ``---`` and comments); ``None`` when the document cannot be
        read alone."""
        lines = self.document.line_map()
        line = lines.line_of((*self.prefix, *path))
        if line is None:
            line = lines.root
        return None if line is None else line + self.offset

    def line_of_dotted(self, dotted: str) -> int | None:
        """``line_of`` for a dotted path as messages print it (``spec.containers[0].image``);
        keys holding dots (``app.kubernetes.io/name``) are found by trying the longer key."""
        return self.line_of(self._existing_path(dotted))

    def _existing_path(self, dotted: str) -> tuple[str | int, ...]:
        known, path, position = self.document.line_map().lines, self.prefix, 0
        while position < len(dotted):
            if dotted.startswith("[", position):
                end = dotted.find("]", position)
                index = dotted[position + 1 : end] if end > 0 else ""
                if not index.isdigit() or (*path, int(index)) not in known:
                    break
                path, position = (*path, int(index)), end + 1
                continue
            position += dotted.startswith(".", position)
            step = _key_ending(known, path, dotted, position)
            if step is None:
                break
            path, position = (*path, dotted[position:step]), step
        return path[len(self.prefix) :]


def _key_ending(
    known: Mapping[tuple[str | int, ...], int], path: tuple[str | int, ...], dotted: str, start: int
) -> int | None:
    """Where the shortest key at ``start`` of ``dotted`` that exists under ``path`` ends."""
    cut = start
    while cut < len(dotted):
        cut = min(
            (
                found
                for found in (dotted.find(".", cut + 1), dotted.find("[", cut + 1))
                if found > 0
            ),
            default=len(dotted),
        )
        if (*path, dotted[start:cut]) in known:
            return cut
    return None


@dataclass(frozen=True, slots=True)
class ManifestObject:
    """One cluster object read from a source, with its identity and where it came from.

    ``line`` is where its document starts; ``lines``, when it was read from text, where each
    of its fields is (``field_line``).
    """

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: dict[str, Any]
    source: str
    line: int
    lines: FieldLines | None = None

    def field_line(self, path: str | Sequence[str | int]) -> int:
        """The line of the field at ``path`` (dotted, or as keys and indices), its nearest
        ancestor's in the input, or the object's first line."""
        if self.lines is None:
            return self.line
        found = (
            self.lines.line_of_dotted(path) if isinstance(path, str) else self.lines.line_of(path)
        )
        return self.line if found is None else found

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
    """Read a YAML or JSON stream into cluster objects, each able to say the line of each of
    its fields (``ManifestObject.field_line``).

    Raises ``InputError`` (``TooLargeError`` over a budget) naming the source and line when the
    stream itself is not valid (a Helm chart template is named as one: render it first);
    documents that are valid but not cluster objects are skipped.
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
            raise (
                _helm_template_error(text, error, line_offset) or _shifted(error, line_offset)
            ) from None
        yield split_documents(
            documents, source=source, line_offset=line_offset, text=text, limits=limits
        )
        line_offset += text.count("\n")


# "{{" opens an action of Go's text/template, which Helm charts are written in.
_ACTION = "{{"
_DOCUMENT_START_LINE = re.compile(r"---(?=[ \t\r]|\Z)")


def _helm_template_error(text: str, error: InputError, offset: int) -> InputError | None:
    """The error for a Helm chart template when YAML fails at (or just after) a line with an
    action; ``None`` otherwise. Actions inside valid YAML strings (Go templates that
    Prometheus or Alertmanager read from a ConfigMap) never fail, so never come here."""
    location = error.location
    if location is None or location.line is None or _ACTION not in text:
        return None
    lines = text.splitlines()
    failing = min(location.line, len(lines)) - 1
    near = [index for index in (failing - 1, failing) if index >= 0 and _acts(lines[index])]
    if not near:
        return None
    start = near[-1]
    while start > 0 and not _DOCUMENT_START_LINE.match(lines[start]):
        start -= 1
    first = next(index for index in range(start, near[-1] + 1) if _acts(lines[index]))
    problem = error.message.removeprefix("invalid YAML: ")
    return InputError(
        "this is a Helm chart template ('{{' starts a template action), not Kubernetes YAML: "
        "render the chart first (helm template RELEASE CHART > rendered.yaml) and give the "
        f"rendered YAML instead (as YAML it fails on line {location.line + offset}: {problem})",
        location=Location(location.source, first + 1 + offset),
    )


def _acts(line: str) -> bool:
    """Whether ``line`` holds a template action outside a YAML comment line."""
    return _ACTION in line and not line.lstrip().startswith("#")


def _shifted(error: InputError, offset: int) -> InputError:
    location = error.location
    if not offset or location is None or location.line is None:
        return error
    moved = Location(location.source, location.line + offset, location.path)
    return type(error)(error.message, location=moved, problems=error.problems)


def split_documents(
    documents: Iterable[LoadedDocument],
    *,
    source: str,
    line_offset: int = 0,
    text: str | None = None,
    limits: YamlLimits = IMPORT_LIMITS,
) -> ManifestSet:
    """Turn loaded documents into objects, unwrapping ``kind: List`` and skipping the rest.

    ``line_offset`` is added to every line (the documents' stream was a part of a longer one);
    with ``text``, the stream the documents were read from, each object can find the lines
    of its fields.
    """
    result = ManifestSet()
    for document in documents:
        if document.data is None:
            continue
        line = document.line + line_offset
        whole = (
            None
            if text is None
            else DocumentText(text, document.span, source=source, limits=limits)
        )
        # Lists may hold lists (kubectl prints nested ones for some resources): use a stack.
        pending: list[tuple[Any, tuple[str | int, ...]]] = [(document.data, ())]
        while pending:
            data, path = pending.pop()
            items = _list_items(data)
            if items is not None:
                pending.extend(
                    (item, (*path, "items", index))
                    for index, item in reversed(list(enumerate(items)))
                )
                continue
            lines = None if whole is None else FieldLines(whole, path, line - 1)
            _classify(data, where=_dotted(path), line=line, lines=lines, source=source, into=result)
    return result


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)[1:]


def _list_items(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    kind, items = data.get("kind"), data.get("items")
    if isinstance(kind, str) and kind.endswith(_LIST_KINDS_SUFFIX) and isinstance(items, list):
        return items
    return None


def _classify(
    data: Any, *, where: str, line: int, lines: FieldLines | None, source: str, into: ManifestSet
) -> None:
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
            lines=lines,
        )
    )
