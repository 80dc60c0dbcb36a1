"""What changed between two sets of overrides, for review (pure).

``override_changes`` lists the changed leaves (a mapping is recursed into; a list or a value
that changes type is one change), in the order of the newer file with removals where they were.
``unified_diff`` is the line diff of the two files, as a reviewer reads it next to a commit.
Both are what a 409 answer, a change request and the history show.
"""

from __future__ import annotations

__all__ = ["ValueChange", "changes_as_json", "override_changes", "unified_diff"]

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
