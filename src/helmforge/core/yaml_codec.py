"""Reading and writing YAML safely: the one codec every helmforge input and output goes through.

Reading builds Python objects straight from libyaml's event stream (PyYAML's C parser), with
our own stack instead of PyYAML's recursive composer, so that:

- nesting is bounded (``max_depth``) before it can crash the interpreter: PyYAML's C composer
  segfaults on ~50,000 nested ``[`` and the pure one raises RecursionError;
- alias bombs are bounded: every node, including each expansion of an alias, counts against
  ``max_nodes``, and an alias yields a copy, never a shared object;
- duplicate keys are rejected with both line numbers, merge keys (``<<``) and unknown tags
  (``!!python/...``) are rejected with their line;
- plain scalars follow the YAML 1.2 core schema, stricter still: only ``true``/``false`` are
  booleans, only canonical numbers are numbers; ``on``, ``yes``, ``no``, ``0755``, ``1.10``,
  ``1e3`` and ``12:30:00`` stay the strings the user wrote. Mapping keys are always strings.

Writing quotes every string that a YAML 1.1 reader (Helm's Go YAML, PyYAML) could read as
something else, so what we emit reads back as what we meant.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_LIMITS",
    "LineMap",
    "LoadedDocument",
    "YamlLimits",
    "dump_yaml",
    "dump_yaml_documents",
    "load_documents",
    "load_single",
    "needs_quotes",
    "plain_scalar_value",
]

import copy
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.numbers import parse_finite_float, parse_integer

type PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """Budgets checked while reading: input bytes, nesting depth and (expanded) node count.

    ``max_nodes`` of ``None`` scales the node budget with the input size (a legitimate document
    has at most about one node per two bytes; an alias bomb has thousands per byte).
    """

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 200
    max_nodes: int | None = None
    max_documents: int = 20_000

    def node_budget(self, text_length: int) -> int:
        return self.max_nodes if self.max_nodes is not None else 100_000 + text_length


DEFAULT_LIMITS = YamlLimits()


@dataclass(slots=True)
class LineMap:
    """1-based line of each mapping key and sequence item, addressed by its path.

    ``root`` is the line where the document's top node starts (after any ``---`` and
    comments); ``line_of`` never falls back to it, so a caller chooses what a path that is
    nowhere in the document points at.
    """

    lines: dict[PathKey, int] = field(default_factory=dict)
    root: int | None = None

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


@dataclass(slots=True)
class LoadedDocument:
    """One document of a stream: its data, first line and (when asked for) its line map.

    ``span`` is where the document is in the stream's text (start and end, in characters):
    reading that slice again with ``track_lines`` gives its line map when one is needed late.
    """

    data: Any
    line: int
    lines: LineMap
    span: tuple[int, int] = (0, 0)


_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")
# A float needs a fraction without trailing zeros (1.5) or exactly ".0", and may carry a signed
# exponent (1.0e+20): "1.10", "1e3" and "1." stay strings.
_FLOAT = re.compile(r"[-+]?(0|[1-9][0-9]*)(\.[0-9]*[1-9]|\.0)([eE][-+][0-9]+)?\Z")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_TAG = "tag:yaml.org,2002:"
_SAFE_TAGS = frozenset(
    {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq")} | {"!"}
)


def _resolve_plain(text: str) -> Any:
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    # Both raise InputError (no location: the reader adds it) for an overlong integer or a
    # number beyond a float's range, which would otherwise read as infinity.
    if _INT.match(text):
        return parse_integer(text)
    if _FLOAT.match(text):
        return parse_finite_float(text)
    return text


def plain_scalar_value(text: str) -> Any:
    """What the codec reads an unquoted, untagged scalar ``text`` as (YAML 1.2, strictly:
    see the module); ``InputError`` for a number beyond its range."""
    return _resolve_plain(text)


def _resolve_tagged(tag: str, text: str, where: Location) -> Any:
    kind = tag.removeprefix(_TAG)
    try:
        if kind == "str" or tag == "!":
            return text
        if kind == "int":
            return parse_integer(text, base=0, location=where)
        if kind == "float":
            return parse_finite_float(text, location=where)
        if kind == "bool" and (text in _TRUE or text in _FALSE):
            return text in _TRUE
        if kind == "null" and text in _NULL:
            return None
    except ValueError:
        pass
    raise InputError(f"{text!r} is not a valid !!{kind}", location=where)


class _Reader:
    """Turns one stream of libyaml events into documents, iteratively."""

    def _placeholder_hint(self, mark: Any) -> str:
        """A hint when the failing line has an unquoted ``${...}`` inside ``{...}``/``[...]``."""
        line = getattr(mark, "line", None)
        lines = self.text.splitlines()
        if not isinstance(line, int) or not 0 <= line < len(lines):
            return ""
        text = lines[line]
        if "${" in text and ("{" in text.replace("${", "") or "[" in text):
            return (
                " (in a flow collection {...} or [...] a placeholder must be quoted: "
                'key: "${values.x}")'
            )
        return ""

    def __init__(self, text: str, source: str, limits: YamlLimits, track_lines: bool) -> None:
        self.text = text
        self.source = source
        self.limits = limits
        self.track_lines = track_lines
        self.budget = limits.node_budget(len(text))
        self.used = 0
        self.current_lines = LineMap()

    def where(self, mark: Any, path: PathKey = ()) -> Location:
        dotted = _dotted(path) if path else None
        return Location(self.source, mark.line + 1 if mark is not None else None, dotted)

    def read(self) -> list[LoadedDocument]:
        try:
            loader = yaml.CSafeLoader(self.text)
        except UnicodeEncodeError as error:
            raise InputError(
                f"text holds a character that is not valid Unicode (position {error.start})",
                location=Location(self.source),
            ) from None
        documents: list[LoadedDocument] = []
        try:
            while True:
                event = loader.get_event()
                if isinstance(event, yaml.StreamEndEvent):
                    return documents
                if isinstance(event, yaml.DocumentStartEvent):
                    if len(documents) >= self.limits.max_documents:
                        raise TooLargeError(
                            f"more than {self.limits.max_documents} documents",
                            location=Location(self.source),
                        )
                    documents.append(self.read_document(loader, event))
        except yaml.MarkedYAMLError as error:
            mark: Any = error.problem_mark or error.context_mark
            problem = error.problem or error.context or "invalid YAML"
            raise InputError(
                f"invalid YAML: {problem}{self._placeholder_hint(mark)}", location=self.where(mark)
            ) from None
        except yaml.YAMLError as error:
            raise InputError(f"invalid YAML: {error}", location=Location(self.source)) from None
        finally:
            loader.dispose()

    def read_document(self, loader: Any, start: Any) -> LoadedDocument:
        lines = LineMap()
        self.current_lines = lines
        anchors: dict[str, tuple[Any, int]] = {}
        # Each frame: [container, path, anchor, size, pending key, key line map, start mark]
        stack: list[list[Any]] = []
        result: Any = None
        while True:
            event = loader.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                end = event.end_mark.index if event.end_mark is not None else len(self.text)
                span = (start.start_mark.index, end)
                return LoadedDocument(result, start.start_mark.line + 1, lines, span)
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                if frame[2] is not None:
                    anchors[frame[2]] = (frame[0], frame[3])
                value, size, mark = frame[0], frame[3], frame[6]
            else:
                mark = event.start_mark
                path = self.child_path(stack, event)
                if isinstance(event, yaml.ScalarEvent):
                    value, size = self.scalar(event, path), 1
                    if event.anchor is not None:
                        anchors[event.anchor] = (value, 1)
                elif isinstance(event, yaml.AliasEvent):
                    if event.anchor not in anchors:
                        raise InputError(
                            f"alias *{event.anchor} has no anchor before it",
                            location=self.where(event.start_mark, path),
                        )
                    shared, size = anchors[event.anchor]
                    self.spend(size, event, path)
                    value = copy.deepcopy(shared) if isinstance(shared, (dict, list)) else shared
                elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    self.check_tag(event, path)
                    self.spend(1, event, path)
                    if len(stack) >= self.limits.max_depth:
                        raise TooLargeError(
                            f"nesting deeper than {self.limits.max_depth} levels",
                            location=self.where(event.start_mark, path),
                        )
                    container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
                    stack.append([container, path, event.anchor, 1, None, {}, event.start_mark])
                    continue
                else:
                    raise InputError("unexpected YAML event", location=self.where(event.start_mark))
            if not stack:
                result = value
                if self.track_lines and mark is not None:
                    lines.root = mark.line + 1
                continue
            self.attach(stack[-1], value, size, event, mark)

    def child_path(self, stack: list[list[Any]], event: Any) -> PathKey:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent[0], list):
            return (*parent[1], len(parent[0]))
        parent_path: PathKey = parent[1]
        if parent[4] is None:
            return parent_path
        return (*parent_path, parent[4])

    def attach(self, frame: list[Any], value: Any, size: int, event: Any, mark: Any) -> None:
        container = frame[0]
        frame[3] += size
        if isinstance(container, list):
            if self.track_lines:
                self.current_lines.lines[(*frame[1], len(container))] = mark.line + 1
            container.append(value)
            return
        key = frame[4]
        if key is None:
            frame[4] = self.key(frame, value, event)
            return
        container[key] = value
        frame[4] = None

    def key(self, frame: list[Any], value: Any, event: Any) -> str:
        path = frame[1]
        if not isinstance(event, yaml.ScalarEvent):
            raise InputError(
                "mapping keys must be plain strings, not collections or aliases",
                location=self.where(event.start_mark, path),
            )
        text: str = event.value
        if text == "<<" and event.implicit[0]:
            raise InputError(
                "merge keys (<<) are not supported; write the keys out",
                location=self.where(event.start_mark, path),
            )
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        seen: dict[str, int] = frame[5]
        if text in seen:
            raise InputError(
                f"duplicate key {text!r} (first on line {seen[text]}, again on line {line})",
                location=self.where(event.start_mark, (*path, text)),
            )
        seen[text] = line
        if self.track_lines:
            self.current_lines.lines[(*path, text)] = line
        return text

    def scalar(self, event: Any, path: PathKey) -> Any:
        tag = event.tag
        if tag is None or (event.implicit[0] and tag in (None, "!")):
            if not event.implicit[0]:
                return event.value
            try:
                return _resolve_plain(event.value)
            except InputError as error:
                where = self.where(event.start_mark, path)
                raise InputError(error.message, location=where) from None
        if tag not in _SAFE_TAGS:
            raise InputError(
                f"tag {tag} is not allowed; use plain YAML values",
                location=self.where(event.start_mark, path),
            )
        if tag == "!" or event.style in ("'", '"', "|", ">"):
            return event.value if tag in ("!", _TAG + "str") else self.tagged(event, path)
        return self.tagged(event, path)

    def tagged(self, event: Any, path: PathKey) -> Any:
        return _resolve_tagged(event.tag, event.value, self.where(event.start_mark, path))

    def check_tag(self, event: Any, path: PathKey) -> None:
        tag = event.tag
        if tag is not None and tag not in _SAFE_TAGS:
            raise InputError(
                f"tag {tag} is not allowed; use plain YAML values",
                location=self.where(event.start_mark, path),
            )

    def spend(self, nodes: int, event: Any, path: PathKey) -> None:
        self.used += nodes
        if self.used > self.budget:
            raise TooLargeError(
                f"more than {self.budget} nodes after expanding aliases (an alias bomb?)",
                location=self.where(event.start_mark, path),
            )


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


def _decode(content: str | bytes, source: str, limits: YamlLimits) -> str:
    if len(content) > limits.max_bytes:
        raise TooLargeError(
            f"{len(content)} bytes is over the limit of {limits.max_bytes} bytes",
            location=Location(source),
        )
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(
                f"not UTF-8 text (byte {error.start} cannot be decoded)", location=Location(source)
            ) from None
    return content.removeprefix("\ufeff")


def load_documents(
    content: str | bytes,
    *,
    source: str = "<input>",
    limits: YamlLimits = DEFAULT_LIMITS,
    track_lines: bool = False,
) -> list[LoadedDocument]:
    """Read every document of a YAML stream within ``limits``.

    Returns the documents in order, empty ones included (their data is ``None``); with
    ``track_lines`` each carries the line of every key and item. Raises ``InputError`` naming
    the source, line and path of the first problem, ``TooLargeError`` over a budget.
    """
    text = _decode(content, source, limits)
    return _Reader(text, source, limits, track_lines).read()


def load_single(
    content: str | bytes,
    *,
    source: str = "<input>",
    limits: YamlLimits = DEFAULT_LIMITS,
    track_lines: bool = False,
) -> LoadedDocument:
    """Read a stream that must hold exactly one non-empty document (a template, a values file).

    An empty stream gives a document whose data is ``None``.
    """
    documents = [
        document
        for document in load_documents(
            content, source=source, limits=limits, track_lines=track_lines
        )
        if document.data is not None
    ]
    if len(documents) > 1:
        raise InputError(
            f"expected one YAML document, found {len(documents)} "
            f"(the second starts on line {documents[1].line})",
            location=Location(source),
        )
    return documents[0] if documents else LoadedDocument(None, 1, LineMap())


_AMBIGUOUS = re.compile(
    r"""(?x)
    [-+]?[0-9.]             # anything number-, version-, date- or time-like
    | (?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE
         |on|On|ON|off|Off|OFF|null|Null|NULL|~|=|<<)\Z
    | [-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)\Z
    """
)


def needs_quotes(text: str) -> bool:
    """True when a YAML 1.1 or 1.2 reader could read ``text`` written bare as a non-string."""
    return text == "" or _AMBIGUOUS.match(text) is not None


class _Dumper(yaml.SafeDumper):
    """SafeDumper that keeps strings strings and writes multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_SPECIAL_BREAKS = frozenset("\x85\u2028\u2029\r")


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if not text.isprintable() and (
        _SPECIAL_BREAKS.intersection(text) or not text.replace("\n", "").isprintable()
    ):
        return dumper.represent_scalar(_TAG + "str", text, style='"')
    if "\n" in text and not text.startswith((" ", "\t")) and text == text.rstrip(" \t"):
        return dumper.represent_scalar(_TAG + "str", text, style="|")
    style = '"' if needs_quotes(text) else None
    return dumper.represent_scalar(_TAG + "str", text, style=style)


def _represent_float(dumper: yaml.SafeDumper, number: float) -> yaml.ScalarNode:
    if not math.isfinite(number):
        raise InputError(f"{number} cannot be written: YAML values here are JSON-compatible")
    text = repr(number)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return dumper.represent_scalar(
        _TAG + "float", f"{mantissa}e{exponent}" if exponent else mantissa
    )


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)


def dump_yaml(data: Any, *, sort_keys: bool = False) -> str:
    """Write one document as block YAML; keys keep their order unless ``sort_keys``."""
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=sort_keys,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
        indent=2,
    )
    return text


def dump_yaml_documents(documents: Iterable[Any]) -> str:
    """Write several documents, each starting with ``---``."""
    return "".join("---\n" + dump_yaml(document) for document in documents)
