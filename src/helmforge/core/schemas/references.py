"""Structural checks of a JSON schema document before any validator walks it.

Validators recurse through a schema, so a schema a chart author writes can crash them: a
``$ref`` that leads back to itself without descending into the value (``{"$ref": "#"}``)
recurses for ever, a reference to nowhere raises from deep inside the library, and very deep
nesting exhausts the interpreter's stack. ``schema_structure_problems`` finds all three by
walking the document with explicit stacks (no recursion), so ``lint`` can report them as one
line each instead of a traceback.
"""

from __future__ import annotations

__all__ = ["MAX_SCHEMA_DEPTH", "schema_structure_problems"]

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

#: Deeper than any hand-written schema, well inside the interpreter's recursion limit.
MAX_SCHEMA_DEPTH = 200
# Keywords whose sub-schemas apply to the same value: a loop through only these never ends.
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SINGLE = ("not", "if", "then", "else")


def _child_pointer(pointer: str, key: str | int) -> str:
    step = str(key).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{step}"


def _depth_problem(document: Any) -> str | None:
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"nesting deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(node, dict):
            pending.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            pending.extend((item, depth + 1) for item in node)
    return None


def _subschemas(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the document with its JSON pointer (``#`` for the root)."""
    pending: list[tuple[str, Any]] = [("#", document)]
    while pending:
        pointer, node = pending.pop()
        if isinstance(node, dict):
            yield pointer, node
            pending.extend((_child_pointer(pointer, k), v) for k, v in node.items())
        elif isinstance(node, list):
            pending.extend((_child_pointer(pointer, i), v) for i, v in enumerate(node))


def _resolve(document: Any, ref: str) -> tuple[str, Any] | None:
    """The pointer and node ``ref`` (``#`` or ``#/a/b``) names, or None when there is none."""
    node = document
    if ref == "#":
        return "#", node
    pointer = "#"
    for raw in unquote(ref[2:]).split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
        pointer = _child_pointer(pointer, step)
    return pointer, node


def _in_place_edges(document: Any, pointer: str, node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(target pointer, how) for each schema applied to the same value as ``node``."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        found = _resolve(document, ref) if ref == "#" or ref.startswith("#/") else None
        if found is not None and isinstance(found[1], dict):
            yield found[0], f"$ref {ref!r}"
    for keyword in _IN_PLACE_LISTS:
        options = node.get(keyword)
        if isinstance(options, list):
            for index, option in enumerate(options):
                if isinstance(option, dict):
                    yield _child_pointer(_child_pointer(pointer, keyword), index), keyword
    for keyword in _IN_PLACE_SINGLE:
        if isinstance(node.get(keyword), dict):
            yield _child_pointer(pointer, keyword), keyword


def _reference_problems(document: Any) -> list[str]:
    problems: list[str] = []
    for pointer, node in _subschemas(document):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        if ref != "#" and not ref.startswith("#/"):
            problems.append(
                f"{pointer}: $ref {ref!r}: only references inside this file ('#' or '#/...') "
                "are allowed"
            )
        elif _resolve(document, ref) is None:
            problems.append(f"{pointer}: $ref {ref!r} points at nothing in this file")
    return problems


def _loop_problems(document: Any) -> list[str]:
    """In-place loops (e.g. ``{"$ref": "#"}``), found by a depth-first walk without recursion."""
    nodes = dict(_subschemas(document))
    edges = {
        pointer: list(_in_place_edges(document, pointer, node)) for pointer, node in nodes.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    problems: list[str] = []
    for start in sorted(nodes):
        if start in state:
            continue
        path: list[str] = [start]
        state[start] = 1
        cursors = [iter(edges[start])]
        while cursors:
            step = next(cursors[-1], None)
            if step is None:
                state[path.pop()] = 2
                cursors.pop()
                continue
            target, how = step
            if state.get(target) == 1:
                loop = [*path[path.index(target) :], target]
                problems.append(
                    f"{path[-1]}: {how} loops back to {target} without descending into the "
                    f"value ({' -> '.join(loop)}); a validator would never finish"
                )
            elif target not in state and target in edges:
                state[target] = 1
                path.append(target)
                cursors.append(iter(edges[target]))
    return problems


def schema_structure_problems(document: Any) -> list[str]:
    """Why validators cannot safely walk ``document``: each problem starts with its pointer.

    Checks nesting (at most ``MAX_SCHEMA_DEPTH`` levels), that every ``$ref`` stays inside the
    document and points at something, and that no chain of ``$ref``/``allOf``/``anyOf``/
    ``oneOf``/``not``/``if``/``then``/``else`` comes back to where it started. An empty list
    means the schema is safe to hand to a validator.
    """
    deep = _depth_problem(document)
    if deep is not None:
        return [f"#: {deep}"]
    return _reference_problems(document) or _loop_problems(document)
