"""Values migrations (DESIGN §10): ``spec.migrations`` of a template version.

```yaml
spec:
  migrations:
    - from: "<2.0.0"            # SemVer range of the instance's template version
      rename: {image.name: image.repository}
      retype: {replicas: integer}
```

``from`` is a range of comparators joined by spaces or commas, all of which must hold
(``>=1.2.0 <2.0.0``; ``<``, ``<=``, ``>``, ``>=``, ``=``, ``!=`` or a bare version for ``=``;
``*`` for any). ``read_migrations`` reads the list and says what is wrong where;
``migrate_overrides`` applies the entries whose range holds for the version an instance's
overrides were written for, in order, and reports what could not be migrated instead of
guessing.
"""

from __future__ import annotations

__all__ = [
    "RETYPES",
    "MigrationResult",
    "migrate_overrides",
    "range_holds",
    "read_migrations",
]

import copy
import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.templates.models import FieldPath, Migration
from helmforge.core.versions import is_semver, semver_key

RETYPES = ("integer", "number", "string", "boolean")
_COMPARATOR = re.compile(r"(<=|>=|!=|<|>|=)?\s*(\S+)\Z")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

type Problems = list[tuple[str, FieldPath]]


def _comparators(text: str) -> list[tuple[str, str]] | str:
    """The comparators of a range, or why it is not one."""
    parts = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    if not parts:
        return "is empty: give a SemVer range such as '<2.0.0' or '>=1.0.0 <2.0.0'"
    if parts == ["*"]:
        return []
    found: list[tuple[str, str]] = []
    merged: list[str] = []
    for part in parts:  # ">= 1.0.0" arrives as two parts
        if merged and merged[-1] in ("<", "<=", ">", ">=", "=", "!="):
            merged[-1] += part
        else:
            merged.append(part)
    for part in merged:
        match = _COMPARATOR.match(part)
        if match is None or not is_semver(match.group(2)):
            return (
                f"{part!r} is no comparator: use <, <=, >, >=, = or != before a SemVer "
                "version (MAJOR.MINOR.PATCH), such as <2.0.0"
            )
        found.append((match.group(1) or "=", match.group(2)))
    return found


def range_holds(text: str, version: str) -> bool:
    """Whether ``version`` (SemVer) lies in range ``text`` (read by ``read_migrations``)."""
    comparators = _comparators(text)
    if isinstance(comparators, str):
        return False
    key = semver_key(version)
    checks = {
        "<": lambda other: key < other,
        "<=": lambda other: key <= other,
        ">": lambda other: key > other,
        ">=": lambda other: key >= other,
        "=": lambda other: key == other,
        "!=": lambda other: key != other,
    }
    return all(checks[operator](semver_key(bound)) for operator, bound in comparators)


def _pairs(
    node: Any, where: FieldPath, what: str, problems: Problems, *, targets: tuple[str, ...] = ()
) -> tuple[tuple[str, str], ...]:
    if node is None:
        return ()
    if not isinstance(node, Mapping):
        problems.append((f"{what} must be a mapping of dotted value paths", where))
        return ()
    pairs: list[tuple[str, str]] = []
    for key, value in node.items():
        if not isinstance(key, str) or not _PATH.match(key):
            problems.append((f"{key!r} is not a dotted value path (such as image.name)", where))
            continue
        if not isinstance(value, str) or not (value in targets if targets else _PATH.match(value)):
            valid = ", ".join(targets) if targets else "a dotted value path"
            problems.append((f"{what} {key}: {value!r} is not valid; give {valid}", (*where, key)))
            continue
        pairs.append((key, value))
    return tuple(pairs)


def read_migrations(
    node: Any, *, line_of: Any, parameters: Mapping[str, Any]
) -> tuple[tuple[Migration, ...], Problems]:
    """``spec.migrations`` as ``Migration``s, and each problem with the path it is at
    (``line_of(path)`` gives lines). A rename or retype must end at a parameter of this
    template (``parameters``, by dotted path)."""
    problems: Problems = []
    if node is None:
        return (), problems
    base: FieldPath = ("spec", "migrations")
    if not isinstance(node, list):
        return (), [("migrations must be a list of {from, rename, retype}", base)]
    migrations: list[Migration] = []
    for index, entry in enumerate(node):
        migration = _read_migration(entry, (*base, index), index, parameters, problems)
        if migration is not None:
            migrations.append(dataclasses.replace(migration, line=line_of((*base, index))))
    return tuple(migrations), problems


def _read_migration(
    entry: Any, where: FieldPath, index: int, parameters: Mapping[str, Any], problems: Problems
) -> Migration | None:
    def add(message: str, *at: str | int) -> None:
        problems.append((message, (*where, *at)))

    if not isinstance(entry, Mapping):
        add("a migration must be a mapping with from, rename and/or retype")
        return None
    for key in entry:
        if key not in ("from", "rename", "retype"):
            add(f"unknown key {key!r}; valid: from, rename, retype", key)
    raw_range = entry.get("from")
    if not isinstance(raw_range, str):
        add("from is required: a SemVer range such as '<2.0.0'", "from")
        return None
    comparators = _comparators(raw_range)
    if isinstance(comparators, str):
        add(f"from {comparators}", "from")
        return None
    rename = _pairs(entry.get("rename"), (*where, "rename"), "rename", problems)
    retype = _pairs(entry.get("retype"), (*where, "retype"), "retype", problems, targets=RETYPES)
    for old, new in rename:
        if new not in parameters:
            add(f"rename {old}: {new} is no parameter of this template", "rename", old)
    for path, _ in retype:
        if path not in parameters:
            add(f"retype {path}: no parameter of this template", "retype", path)
    if not rename and not retype:
        add("a migration needs rename and/or retype")
    return Migration(index, raw_range, rename, retype, None)


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The overrides after migration, what was done (``applied``, one line each) and what
    could not be migrated (``problems``, one line each naming the path)."""

    values: dict[str, Any]
    applied: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    migrated: bool = field(default=False)


def _take(values: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = values
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    if not isinstance(node, dict) or path[-1] not in node:
        return False, None
    value = node.pop(path[-1])
    _prune(values, path[:-1])
    return True, value


def _prune(values: dict[str, Any], path: tuple[str, ...]) -> None:
    """Drop the mappings along ``path`` that the removal left empty, deepest first."""
    for depth in range(len(path), 0, -1):
        node: Any = values
        for key in path[: depth - 1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[depth - 1]) == {}:
            del node[path[depth - 1]]


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _put(values: dict[str, Any], path: tuple[str, ...], value: Any) -> bool:
    node = values
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return False
        node = child
    node[path[-1]] = value
    return True


def _retyped(value: Any, kind: str) -> tuple[bool, Any]:
    """``value`` as ``kind``, or ``(False, None)`` when it has no such reading."""
    if kind == "string":
        if isinstance(value, bool):
            return True, "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return True, str(value)
        return False, None
    if kind == "boolean":
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true"
        return False, None
    if isinstance(value, bool):
        return False, None
    number: float | int
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip()) if kind == "integer" else float(value.strip())
        except ValueError:
            return False, None
    else:
        return False, None
    if kind == "integer":
        if isinstance(number, float) and not (math.isfinite(number) and number.is_integer()):
            return False, None
        return True, int(number)
    return (True, number) if math.isfinite(number) else (False, None)


def migrate_overrides(
    migrations: tuple[Migration, ...], from_version: str, overrides: Mapping[str, Any]
) -> MigrationResult:
    """Apply every migration whose ``from`` holds for ``from_version`` to (a copy of)
    ``overrides``: renames first, then retypes, entry by entry. A rename onto a path that
    already has a value, or a value with no reading as its new type, is left as it was and
    reported."""
    values = copy.deepcopy(dict(overrides))
    applied: list[str] = []
    problems: list[str] = []
    for migration in migrations:
        if not range_holds(migration.from_range, from_version):
            continue
        for old, new in migration.rename:
            old_path, new_path = tuple(old.split(".")), tuple(new.split("."))
            present, _ = _lookup(values, old_path)
            if not present:
                continue
            if _lookup(values, new_path)[0]:
                problems.append(f"{old}: cannot be renamed to {new}, which is set too")
                continue
            _, value = _take(values, old_path)
            if not _put(values, new_path, value):
                _put(values, old_path, value)
                problems.append(f"{old}: cannot be renamed to {new}: a part of it is no mapping")
                continue
            applied.append(f"renamed {old} to {new}")
        for dotted, kind in migration.retype:
            path = tuple(dotted.split("."))
            present, value = _lookup(values, path)
            if not present:
                continue
            ok, converted = _retyped(value, kind)
            if not ok:
                problems.append(f"{dotted}: {value!r} has no reading as {kind}")
                continue
            if converted != value or type(converted) is not type(value):
                _put(values, path, converted)
                applied.append(f"retyped {dotted} to {kind}")
    return MigrationResult(
        values=values,
        applied=tuple(applied),
        problems=tuple(problems),
        migrated=bool(applied),
    )
