"""Structured edits of an instance's values.yaml that keep the operator's file (pure).

An edit is a list of ``SetValue``/``DeleteValue`` at paths (mapping keys as ``str``, list
indexes as ``int``). ``apply_edits`` applies it twice:

1. to the values as helmforge's own codec reads them (``core.yaml_codec``: budgets, duplicate
   keys, YAML 1.2 strictness) — this is what the edit *means*;
2. to a ruamel.yaml round-trip tree of the same text, which keeps comments, key order, quoting
   and anchors, and is written back.

The written text is read again with the codec and must equal (1); otherwise ``apply_edits``
raises instead of handing back a file that says something else than what was meant.

What the writer takes care of:

- strings a YAML 1.1 reader (Helm's Go YAML) would misread (``y``, ``n``, ``yes``, ``on``,
  ``0755``, ``12:30``, ``1e3``) are written quoted, keys as well as values;
- a container reached through an alias is copied before it is changed (copy on write), so an
  edit of ``b.size`` where ``b: *base`` leaves ``base`` and every other ``*base`` as they were;
- floats are written in the canonical form the codec reads back as floats (``1.0e+20``, never
  ruamel's ``1e+20``, which is a string to a strict YAML 1.2 reader);
- a mapping a delete leaves empty is removed too: values.yaml holds only overrides.
"""

from __future__ import annotations

__all__ = [
    "DeleteValue",
    "EditResult",
    "SetValue",
    "ValuesEdit",
    "apply_edits",
    "edits_between",
    "replace_values",
]

import copy
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from helmforge.core.errors import InputError, Location
from helmforge.core.instances.value_paths import ValuePath, format_path
from helmforge.core.yaml_codec import DEFAULT_LIMITS, YamlLimits, load_single, needs_quotes


@dataclass(frozen=True, slots=True)
class SetValue:
    """Set the value at ``path`` (JSON-like data), creating missing mappings on the way."""

    path: ValuePath
    value: Any


@dataclass(frozen=True, slots=True)
class DeleteValue:
    """Remove the value at ``path``; a path that is not there is already deleted."""

    path: ValuePath


type ValuesEdit = SetValue | DeleteValue


@dataclass(frozen=True, slots=True)
class EditResult:
    """The new file text and the values before and after, as the codec reads them."""

    text: str
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def changed(self) -> bool:
        return self.before != self.after


# --- applying an edit to a tree (the plain one and the round-trip one share the walk) ---------


@dataclass(frozen=True, slots=True)
class _Tree:
    """How one kind of tree is walked and changed."""

    new_map: Callable[[], MutableMapping[Any, Any]]
    convert: Callable[[Any], Any]
    find_key: Callable[[Mapping[Any, Any], str], Any]
    new_key: Callable[[str], Any]
    # Called before descending from ``parent`` into ``parent[key]``: may replace the child (a
    # shared container is copied) and returns the child to descend into.
    own: Callable[[Any, Any], Any]


def _walk_to_parent(root: Any, path: ValuePath, tree: _Tree, *, create: bool, where: str) -> Any:
    """The container holding ``path[-1]``; ``None`` when it is missing and ``create`` is off."""
    node = root
    for depth, step in enumerate(path[:-1]):
        here = format_path(path[: depth + 1])
        following = path[depth + 1]
        if isinstance(node, MutableMapping):
            if not isinstance(step, str):
                raise InputError(
                    f"{format_path(path[:depth])} is a mapping; index [{step}] needs a list",
                    location=Location(where, path=format_path(path)),
                )
            key = tree.find_key(node, step)
            if key is None:
                if not create:
                    return None
                if isinstance(following, int):
                    raise InputError(
                        f"{here} does not exist; a list is never created by an index, set "
                        f"{here} to a list instead",
                        location=Location(where, path=format_path(path)),
                    )
                key = tree.new_key(step)
                node[key] = tree.new_map()
            child = tree.own(node, key)
        elif isinstance(node, MutableSequence):
            if not isinstance(step, int):
                raise InputError(
                    f"{format_path(path[:depth])} is a list; key {step!r} needs a mapping",
                    location=Location(where, path=format_path(path)),
                )
            if not 0 <= step < len(node):
                if not create:
                    return None
                raise InputError(
                    f"{here} is out of range: the list has {len(node)} items",
                    location=Location(where, path=format_path(path)),
                )
            child = tree.own(node, step)
        else:
            raise InputError(
                f"{format_path(path[:depth])} is a single value; nothing can be set below it",
                location=Location(where, path=format_path(path)),
            )
        if not isinstance(child, Mapping | MutableSequence):
            if not create:
                return None
            raise InputError(
                f"{here} is a single value ({child!r}); nothing can be set below it",
                location=Location(where, path=format_path(path)),
            )
        node = child
    return node


def _set(root: Any, edit: SetValue, tree: _Tree, where: str) -> None:
    parent = _walk_to_parent(root, edit.path, tree, create=True, where=where)
    last = edit.path[-1]
    value = tree.convert(edit.value)
    if isinstance(parent, MutableMapping):
        if not isinstance(last, str):
            raise InputError(
                f"{format_path(edit.path[:-1])} is a mapping; index [{last}] needs a list",
                location=Location(where, path=format_path(edit.path)),
            )
        key = tree.find_key(parent, last)
        parent[tree.new_key(last) if key is None else key] = value
    elif isinstance(parent, MutableSequence):
        if not isinstance(last, int) or not 0 <= last <= len(parent):
            raise InputError(
                f"{format_path(edit.path)} is not an item of a list of {len(parent)} "
                f"(use [0]..[{len(parent)}], the last appends)",
                location=Location(where, path=format_path(edit.path)),
            )
        if last == len(parent):
            parent.append(value)
        else:
            parent[last] = value
    else:  # pragma: no cover - _walk_to_parent refuses scalars
        raise AssertionError(parent)


def _delete(root: Any, edit: DeleteValue, tree: _Tree, where: str) -> None:
    # First find the keys without changing anything: deleting what is not there is a no-op
    # and must not even copy a shared container.
    keys: list[Any] = []
    node = root
    for step in edit.path:
        if isinstance(node, Mapping) and isinstance(step, str):
            key = tree.find_key(node, step)
            if key is None:
                return
        elif isinstance(node, MutableSequence) and isinstance(step, int):
            if not 0 <= step < len(node):
                return
            key = step
        else:
            return
        keys.append(key)
        node = node[key]
    trail: list[tuple[Any, Any]] = []
    node = root
    for depth, key in enumerate(keys):
        trail.append((node, key))
        if depth < len(keys) - 1:
            node = tree.own(node, key)
    parent, key = trail.pop()
    del parent[key]
    # A mapping the delete left empty goes too (never the file itself): only overrides stay.
    while trail and isinstance(parent, Mapping) and not parent:
        parent, key = trail.pop()
        del parent[key]


def _apply(root: Any, edits: Sequence[ValuesEdit], tree: _Tree, where: str) -> None:
    for edit in edits:
        if not edit.path:
            raise InputError(
                "an edit needs a path; the file itself is a mapping", location=Location(where)
            )
        if isinstance(edit, SetValue):
            _set(root, edit, tree, where)
        else:
            _delete(root, edit, tree, where)


# --- the plain tree: what the edit means ------------------------------------------------------


def _plain_value(value: Any, path: ValuePath = ()) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(
                    f"mapping keys must be strings, found {key!r}",
                    location=Location("values", path=format_path(path)),
                )
            out[key] = _plain_value(item, (*path, key))
        return out
    if isinstance(value, list | tuple):
        return [_plain_value(item, (*path, index)) for index, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(
            f"{value} cannot be written: Helm cannot read non-finite numbers",
            location=Location("values", path=format_path(path)),
        )
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise InputError(
        f"{type(value).__name__} is not a values type: use mappings, lists, strings, numbers, "
        "booleans or null",
        location=Location("values", path=format_path(path)),
    )


_PLAIN = _Tree(
    new_map=dict,
    convert=lambda value: copy.deepcopy(_plain_value(value)),
    find_key=lambda mapping, name: name if name in mapping else None,
    new_key=lambda name: name,
    own=lambda parent, key: parent[key],
)


# --- the round-trip tree: what is written ------------------------------------------------------


class _CanonicalFloat(float):
    """A float the representer writes in the codec's canonical form."""


class _Representer(RoundTripRepresenter):
    def represent_canonical_float(self, number: _CanonicalFloat) -> Any:
        text = repr(float(number))
        mantissa, _, exponent = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent and exponent[0] not in "+-":
            exponent = "+" + exponent
        return self.represent_scalar(
            "tag:yaml.org,2002:float", f"{mantissa}e{exponent}" if exponent else mantissa
        )


_Representer.add_representer(_CanonicalFloat, _Representer.represent_canonical_float)


class _Verbatim(str):
    """A number of the file as its source text, written back exactly as it was.

    ruamel's own number types are lossy (``5.306613697566269e+16`` comes back rounded) and its
    YAML 1.2 resolver reads forms as numbers that the codec reads as strings (``1.50``, ``_``,
    ``0x1F``). Keeping the text keeps what every reader saw before the edit.
    """

    __slots__ = ("tag",)
    tag: str

    def __new__(cls, text: str, tag: str) -> _Verbatim:
        verbatim = super().__new__(cls, text)
        verbatim.tag = tag
        return verbatim

    def __reduce__(self) -> tuple[type[_Verbatim], tuple[str, str]]:
        # copy.deepcopy (copy on write of an aliased container) rebuilds it through this.
        return (_Verbatim, (str(self), self.tag))


class _Constructor(RoundTripConstructor):
    def construct_verbatim_int(self, node: Any) -> Any:
        return _Verbatim(str(node.value), "tag:yaml.org,2002:int")

    def construct_verbatim_float(self, node: Any) -> Any:
        return _Verbatim(str(node.value), "tag:yaml.org,2002:float")


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_verbatim_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_verbatim_float)


def _represent_verbatim(representer: RoundTripRepresenter, value: _Verbatim) -> Any:
    return representer.represent_scalar(value.tag, str(value))


_Representer.add_representer(_Verbatim, _represent_verbatim)


def _round_trip_scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return _CanonicalFloat(value)
    text = str(value)
    if (
        "\n" in text
        and text.replace("\n", "").isprintable()
        and not text.startswith((" ", "\t"))
        and text == text.rstrip(" \t")
    ):
        return LiteralScalarString(text)
    if needs_quotes(text):
        return DoubleQuotedScalarString(text)
    return text


def _round_trip_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[_round_trip_key(key)] = _round_trip_value(item)
        return mapping
    if isinstance(value, list):
        return CommentedSeq(_round_trip_value(item) for item in value)
    return _round_trip_scalar(value)


def _round_trip_key(name: str) -> Any:
    return DoubleQuotedScalarString(name) if needs_quotes(name) else name


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _find_key(mapping: Mapping[Any, Any], name: str) -> Any:
    for key in mapping:
        if _key_text(key) == name:
            return key
    return None


def _reference_counts(root: Any) -> Counter[int]:
    """How many places refer to each container (an anchored container used by aliases > 1)."""
    counts: Counter[int] = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node
        for child in children:
            if isinstance(child, CommentedMap | CommentedSeq):
                counts[id(child)] += 1
                if counts[id(child)] == 1:
                    stack.append(child)
    return counts


def _unanchored_copy(node: Any) -> Any:
    duplicate = copy.deepcopy(node)
    stack = [duplicate]
    while stack:
        current = stack.pop()
        if isinstance(current, CommentedMap | CommentedSeq):
            current.anchor.value = None
            stack.extend(current.values() if isinstance(current, Mapping) else current)
    return duplicate


def _round_trip_tree(root: Any) -> _Tree:
    def own(parent: Any, key: Any) -> Any:
        child = parent[key]
        if (
            isinstance(child, CommentedMap | CommentedSeq)
            and _reference_counts(root)[id(child)] > 1
        ):
            # Reached through an alias (or the anchor of one): change a copy, not every use.
            child = _unanchored_copy(child)
            parent[key] = child
        return child

    return _Tree(
        new_map=CommentedMap,
        convert=lambda value: _round_trip_value(_plain_value(value)),
        find_key=_find_key,
        new_key=_round_trip_key,
        own=own,
    )


_SEQUENCE_ITEM = re.compile(r"( *)- ")
_MAPPING_KEY = re.compile(r"( *)[^\s#-][^:#]*:(\s|$)")


def _indentation(text: str) -> tuple[int, int]:
    """The file's mapping indent and list offset, so untouched lists keep their look."""
    mapping_indent, offset = 2, 0
    previous_key: int | None = None
    found_mapping = found_offset = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _SEQUENCE_ITEM.match(line)
        indent = len(line) - len(line.lstrip(" "))
        if item and previous_key is not None and not found_offset:
            offset, found_offset = indent - previous_key, True
        elif _MAPPING_KEY.match(line):
            if previous_key is not None and indent > previous_key and not found_mapping:
                mapping_indent, found_mapping = indent - previous_key, True
            previous_key = indent
        if found_mapping and found_offset:
            break
    return max(mapping_indent, 1), max(offset, 0)


def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.Constructor = _Constructor
    yaml.preserve_quotes = True
    yaml.width = 100_000  # never fold a long string the user wrote on one line
    mapping_indent, offset = _indentation(text)
    yaml.indent(mapping=mapping_indent, sequence=offset + 2, offset=offset)
    return yaml


def _first_difference(meant: Any, read: Any, path: ValuePath = ()) -> ValuePath:
    if isinstance(meant, dict) and isinstance(read, dict):
        for key in list(meant) + [k for k in read if k not in meant]:
            if meant.get(key, _MISSING) != read.get(key, _MISSING):
                return _first_difference(meant.get(key), read.get(key), (*path, key))
    if isinstance(meant, list) and isinstance(read, list) and len(meant) == len(read):
        for index, (left, right) in enumerate(zip(meant, read, strict=True)):
            if left != right:
                return _first_difference(left, right, (*path, index))
    return path


_MISSING = object()


def _leading_comments(text: str) -> str:
    """The comment lines a file opens with (its header), each ending in a newline."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


def _read_values(text: str, source: str, limits: YamlLimits) -> dict[str, Any]:
    data = load_single(text, source=source, limits=limits).data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"values.yaml must hold a mapping, found {type(data).__name__}",
            location=Location(source, line=1),
        )
    return data


def apply_edits(
    text: str,
    edits: Sequence[ValuesEdit],
    *,
    source: str = "values.yaml",
    limits: YamlLimits = DEFAULT_LIMITS,
) -> EditResult:
    """Apply ``edits`` to values.yaml ``text``, keeping its comments, order and anchors.

    Raises ``InputError`` for a file the codec refuses, an edit that does not fit the file
    (naming the path and why), and — failing loudly — when the written text would read back
    differently from what the edit means.
    """
    before = _read_values(text, source, limits)
    meant = copy.deepcopy(before)
    _apply(meant, edits, _PLAIN, source)
    yaml = _yaml(text)
    try:
        tree = yaml.load(text) if text.strip() else None
    except (YAMLError, ValueError, IndexError) as error:  # the codec accepted it; ruamel differs
        raise InputError(
            f"values.yaml cannot be edited in place: {error}", location=Location(source)
        ) from None
    # A file of comments only has no tree to hang them on: its comments open the new file.
    header = _leading_comments(text) if tree is None else ""
    if tree is None:
        tree = CommentedMap()
    _apply(tree, edits, _round_trip_tree(tree), source)
    buffer = io.StringIO()
    yaml.dump(tree, buffer)
    written = header + buffer.getvalue() if tree else header or _leading_comments(text)
    after = _read_values(written, f"{source} (as written)", limits)
    if after != meant:
        at = format_path(_first_difference(meant, after))
        raise InputError(
            f"the edited file would read back differently at {at} than the edit means; "
            "nothing was written (this is a helmforge defect: please report the edit)",
            location=Location(source, path=at),
        )
    return EditResult(text=written, before=before, after=after)


def edits_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[ValuesEdit, ...]:
    """The smallest edit that turns ``before`` into ``after``: changed leaves are set, removed
    keys deleted, and mappings recursed into, so the comments of what stays stay too."""
    edits: list[ValuesEdit] = []

    def walk(left: Mapping[str, Any], right: Mapping[str, Any], path: ValuePath) -> None:
        for key in left:
            if key not in right:
                edits.append(DeleteValue((*path, key)))
        for key, value in right.items():
            old = left.get(key, _MISSING)
            if isinstance(old, Mapping) and isinstance(value, Mapping) and old and value:
                walk(old, value, (*path, key))
            elif old is _MISSING or old != value or type(old) is not type(value):
                edits.append(SetValue((*path, key), value))

    walk(before, after, ())
    return tuple(edits)


def replace_values(
    text: str,
    values: Mapping[str, Any],
    *,
    source: str = "values.yaml",
    limits: YamlLimits = DEFAULT_LIMITS,
) -> EditResult:
    """Make the file hold exactly ``values`` (a PUT of the whole overrides), editing in place."""
    before = _read_values(text, source, limits)
    return apply_edits(
        text, edits_between(before, _plain_value(values)), source=source, limits=limits
    )
