"""Value overrides from ``-f VALUES.yaml`` files and ``--set PATH=VALUE`` assignments.

They combine the way Helm combines them: files in order, then assignments in order, later wins;
maps merge key by key, anything else (lists included) is replaced whole.

``--set`` follows Helm's syntax: ``a.b=1``, ``a.list[0]=x``, several assignments separated by
``,``, ``\\,`` and ``\\.`` for literal commas and dots, ``{x,y}`` for a list. Values are typed the
way helmforge reads YAML (YAML 1.2 core, strict): ``3`` is an integer, ``true`` a boolean,
``null`` null, while ``on``, ``0755``, ``1.10`` and ``1e3`` stay strings.
"""

from __future__ import annotations

__all__ = ["MAX_LIST_INDEX", "build_overrides", "merge_values", "parse_assignments"]

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.yaml_codec import DEFAULT_LIMITS, load_single

MAX_LIST_INDEX = 10_000
_PLAIN = re.compile(r"[-+.\w]+\Z")
_SEGMENT = re.compile(r"(?P<key>[^\[\]]*)(?P<indexes>(?:\[\d+\])*)\Z")


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: maps recursively, everything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_values(current, value)
        else:
            merged[key] = value
    return merged


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside ``{...}`` unless escaped by a backslash (kept for later)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _typed(text: str, where: Location) -> Any:
    """A scalar typed as helmforge reads YAML; text that is not a plain word stays a string."""
    if not _PLAIN.match(text):
        return text
    value = load_single(text, source=str(where)).data
    return text if isinstance(value, (dict, list)) else value


def _value(raw: str, where: Location) -> Any:
    if raw.startswith("{") and raw.endswith("}"):
        inner = raw[1:-1]
        if not inner:
            return []
        return [_typed(_unescape(item), where) for item in _split_unescaped(inner, ",")]
    return _typed(_unescape(raw), where)


def _path(raw_key: str, where: Location) -> list[str | int]:
    path: list[str | int] = []
    for segment in _split_unescaped(raw_key, "."):
        match = _SEGMENT.match(segment)
        key = _unescape(match.group("key")) if match else ""
        if match is None or not key:
            raise InputError(
                f"key {raw_key!r}: segment {segment!r} is not NAME or NAME[INDEX]",
                location=where,
            )
        path.append(key)
        for index_text in re.findall(r"\d+", match.group("indexes")):
            index = int(index_text)
            if index > MAX_LIST_INDEX:
                raise TooLargeError(
                    f"key {raw_key!r}: list index {index} is over {MAX_LIST_INDEX}",
                    location=where,
                )
            path.append(index)
    return path


def _assign(target: dict[str, Any], path: list[str | int], value: Any) -> None:
    container: Any = target
    for position, step in enumerate(path):
        last = position == len(path) - 1
        following = None if last else path[position + 1]
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(container) <= step:
                container.append(None)
            if last:
                container[step] = value
            elif not isinstance(container[step], (dict, list)) or (
                isinstance(container[step], list) != isinstance(following, int)
            ):
                container[step] = fresh
            if not last:
                container = container[step]
            continue
        if last:
            container[step] = value
            return
        current = container.get(step)
        if not isinstance(current, (dict, list)) or isinstance(current, list) != isinstance(
            following, int
        ):
            container[step] = fresh
        container = container[step]


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """Turn ``--set`` arguments into a nested values mapping.

    Raises ``InputError`` naming the argument for a missing ``=``, an empty key or segment, or a
    malformed index, and ``TooLargeError`` for an index over ``MAX_LIST_INDEX``.
    """
    result: dict[str, Any] = {}
    for number, argument in enumerate(assignments, start=1):
        where = Location(f"--set #{number}", path=argument)
        for item in _split_unescaped(argument, ","):
            key, equals, raw = item.partition("=")
            if not equals or not key.strip():
                raise InputError(
                    f"{item!r} is not PATH=VALUE (for example image.tag=1.2.3 or hosts[0]=a)",
                    location=Location(f"--set #{number}"),
                )
            _assign(result, _path(key.strip(), where), _value(raw, where))
    return result


def build_overrides(
    *, value_files: Sequence[Path] = (), assignments: Sequence[str] = ()
) -> dict[str, Any]:
    """Merge ``-f`` files (in order) then ``--set`` assignments into one overrides mapping.

    Raises ``InputError`` naming the file and line for unreadable or invalid YAML, or a file that
    is not a mapping; ``TooLargeError`` for a file over the YAML size budget.
    """
    overrides: dict[str, Any] = {}
    for path in value_files:
        try:
            size = path.stat().st_size
            if size > DEFAULT_LIMITS.max_bytes:
                raise TooLargeError(
                    f"{size} bytes is over the limit of {DEFAULT_LIMITS.max_bytes} bytes",
                    location=Location(str(path)),
                )
            content = path.read_bytes()
        except OSError as error:
            raise InputError(
                f"cannot read values file: {error.strerror}", location=Location(str(path))
            ) from None
        data = load_single(content, source=str(path)).data
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InputError(
                f"a values file holds a mapping of values, not a {type(data).__name__}",
                location=Location(str(path)),
            )
        overrides = merge_values(overrides, data)
    return merge_values(overrides, parse_assignments(assignments))
