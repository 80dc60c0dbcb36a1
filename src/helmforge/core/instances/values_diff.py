"""What changed between two sets of overrides, for review (pure).

``override_changes`` lists the changed leaves (a mapping is recursed into; a list or a value
that changes type is one change), in the order of the newer file with removals where they were.
``unified_diff`` is the line diff of the two files, as a reviewer reads it next to a commit.
Both are what a 409 answer, a change request and the history show.
``without_defaults`` leaves out of a set of overrides what only repeats the chart's defaults:
values.yaml holds only what differs from them (DESIGN §6).
"""

from __future__ import annotations

__all__ = [
    "ValueChange",
    "changes_as_json",
    "override_changes",
    "same_values",
    "unified_diff",
    "without_defaults",
]

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from helmforge.core.instances.value_paths import ValuePath, format_path

type ChangeKind = Literal["added", "removed", "changed"]
_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One changed leaf: ``before``/``after`` are absent (``None`` with the kind saying so) when
    the path was added or removed."""

    path: ValuePath
    kind: ChangeKind
    before: Any = None
    after: Any = None


def override_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[ValueChange, ...]:
    """Every changed leaf between ``before`` and ``after`` (both as the codec reads them)."""
    changes: list[ValueChange] = []

    def walk(left: Mapping[str, Any], right: Mapping[str, Any], path: ValuePath) -> None:
        for key in [*right, *(k for k in left if k not in right)]:
            old, new = left.get(key, _ABSENT), right.get(key, _ABSENT)
            here = (*path, key)
            if isinstance(old, Mapping) and isinstance(new, Mapping):
                walk(old, new, here)
            elif old is _ABSENT:
                changes.append(ValueChange(here, "added", after=new))
            elif new is _ABSENT:
                changes.append(ValueChange(here, "removed", before=old))
            elif old != new or type(old) is not type(new):
                changes.append(ValueChange(here, "changed", before=old, after=new))

    walk(before, after, ())
    return tuple(changes)


def changes_as_json(changes: tuple[ValueChange, ...]) -> list[dict[str, Any]]:
    """The changes as API/audit data: ``{"path", "kind", "before"?, "after"?}``."""
    out: list[dict[str, Any]] = []
    for change in changes:
        item: dict[str, Any] = {"path": format_path(change.path), "kind": change.kind}
        if change.kind != "added":
            item["before"] = change.before
        if change.kind != "removed":
            item["after"] = change.after
        out.append(item)
    return out


def unified_diff(before_text: str, after_text: str, *, path: str, context: int = 3) -> str:
    """The ``diff -u`` of two versions of one file, labelled ``a/<path>`` and ``b/<path>``."""
    lines = difflib.unified_diff(
        before_text.splitlines(keepends=True),
        after_text.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=context,
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def same_values(left: Any, right: Any) -> bool:
    """Equal values of equal types all the way down (``True == 1`` does not count)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same_values(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(
            same_values(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


def without_defaults(overrides: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` without the values that change nothing merged over ``defaults`` as Helm
    merges them: a mapping is recursed into (left out when nothing in it differs), any other
    value (a list too: Helm replaces lists whole) is left out when it equals the default at
    its path with the same type all the way down (``1`` is no default of ``true``, nor ``1.0``
    of ``1``). A ``null`` stays: it removes the default."""
    kept: dict[str, Any] = {}
    for key, value in overrides.items():
        default = defaults.get(key, _ABSENT) if isinstance(defaults, Mapping) else _ABSENT
        if isinstance(value, dict) and isinstance(default, dict):
            inner = without_defaults(value, default)
            if inner:
                kept[key] = inner
        elif default is _ABSENT or not same_values(value, default):
            kept[key] = value
    return kept
