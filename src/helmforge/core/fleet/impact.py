"""What moving an instance to another template version changes (pure): the impact view.

For one instance the service hands in its current template version, context and overrides
(values.yaml at the branch head) and the new template version; ``impact_of``:

1. migrates the overrides with the new version's ``spec.migrations``
   (``core.templates.migrations``), noting what could not be migrated;
2. finds why the instance cannot take the new version (``blocked``): a required parameter
   without a value for its context, an override of a parameter the new version no longer has,
   a migration that failed, a value the new values schema refuses (``schema_problems``, which
   the service checks against the Kubernetes schemas);
3. resolves both versions' manifests with the instance's values
   (``core.charts.manifest_previews``: each included resource with ``${ctx.*}`` and
   ``${values.*}`` replaced, the objects the template declares; Helm adds its standard labels
   on top) and diffs them, and diffs the effective values;
4. says what kind of change it is: ``breaking`` (blocked), ``manifests`` (a resolved manifest
   differs), ``values`` (only values.yaml or the effective values change), ``identical``.
"""

from __future__ import annotations

__all__ = [
    "CHANGE_KINDS",
    "InstanceImpact",
    "blocked_reasons",
    "impact_of",
    "manifest_diff",
]

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.charts.manifest_previews import preview_manifests
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError
from helmforge.core.instances.values_diff import changes_as_json, override_changes
from helmforge.core.templates.layering import effective_values, unset_required
from helmforge.core.templates.migrations import MigrationResult, migrate_overrides
from helmforge.core.templates.models import Template

CHANGE_KINDS = ("identical", "values", "manifests", "breaking")
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class InstanceImpact:
    """The impact on one instance: ``change`` (one of ``CHANGE_KINDS``), the effective values'
    changes (``values_diff``: ``[{path, kind, before?, after?}]``), the unified ``manifest_diff``,
    ``blocked`` reasons, the migration's ``migrated`` steps and the overrides it gives."""

    instance: str
    change: str
    values_diff: list[dict[str, Any]]
    manifest_diff: str
    blocked: list[str]
    migrated: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "change": self.change,
            "values_diff": self.values_diff,
            "manifest_diff": self.manifest_diff,
            "blocked": self.blocked,
            "migrated": self.migrated,
            "overrides": self.overrides,
        }


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


def manifest_diff(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """The unified diff of two sets of resolved manifests (YAML by resource id), one file per
    resource id."""
    chunks: list[str] = []
    for resource_id in [*before, *(key for key in after if key not in before)]:
        old = before.get(resource_id, "")
        new = after.get(resource_id, "")
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{resource_id}" if old else "/dev/null",
                tofile=f"b/{resource_id}" if new else "/dev/null",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def _leaf_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _leaf_paths(value, path)
        else:
            yield path


def _known(path: str, template: Template) -> bool:
    """Whether an override at ``path`` sets a parameter (or lies inside an object one)."""
    if path in template.parameters:
        return True
    return any(path.startswith(dotted + ".") for dotted in template.parameters)


def blocked_reasons(
    template: Template,
    context: Mapping[str, str],
    overrides: Mapping[str, Any],
    *,
    migration: MigrationResult | None = None,
    schema_problems: list[str] | None = None,
) -> list[str]:
    """Why the instance cannot take ``template`` with ``overrides`` (already migrated)."""
    reasons = [f"not migrated: {problem}" for problem in (migration.problems if migration else ())]
    for required in unset_required(template, context):
        if _lookup(overrides, required) is _MISSING:
            reasons.append(
                f"required parameter {'.'.join(required)} has no value for this instance "
                "(no default, no layer and no override gives one)"
            )
    for path in _leaf_paths(overrides):
        if not _known(path, template):
            reasons.append(
                f"parameter {path} was removed in {template.name}@{template.version}, but the "
                "instance overrides it (a migration may rename it)"
            )
    reasons.extend(schema_problems or [])
    return reasons


def _effective(
    template: Template, context: Mapping[str, str], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        values, _ = effective_values(
            template, parse_context(context), overrides=overrides, defer_required=True
        )
    except InputError as error:
        return None, str(error)
    return values, None


def impact_of(
    instance: str,
    *,
    current: Template,
    target: Template,
    context: Mapping[str, str],
    overrides: Mapping[str, Any],
    schema_check: Callable[[Mapping[str, Any]], list[str]] = lambda _values: [],
) -> InstanceImpact:
    """The impact of moving ``instance`` from ``current`` to ``target`` (see the module's
    docstring). ``schema_check`` gives the new values schema's complaints about the migrated
    overrides, one line each."""
    migration = migrate_overrides(target.migrations, current.version, overrides)
    migrated = migration.values
    before_values, before_problem = _effective(current, context, overrides)
    after_values, after_problem = _effective(target, context, migrated)
    schema_problems = schema_check(migrated)
    if after_problem is not None:
        schema_problems = [*schema_problems, after_problem]
    blocked = blocked_reasons(
        target, context, migrated, migration=migration, schema_problems=schema_problems
    )
    parsed = parse_context(context)
    before_manifests = (
        preview_manifests(current, parsed, before_values) if before_values is not None else {}
    )
    after_manifests = (
        preview_manifests(target, parsed, after_values) if after_values is not None else {}
    )
    values_diff = changes_as_json(override_changes(before_values or {}, after_values or {}))
    diff = manifest_diff(before_manifests, after_manifests)
    if before_problem is not None:
        blocked.insert(0, f"the current values no longer resolve: {before_problem}")
    if blocked:
        change = "breaking"
    elif diff:
        change = "manifests"
    elif values_diff or migration.migrated:
        change = "values"
    else:
        change = "identical"
    return InstanceImpact(
        instance=instance,
        change=change,
        values_diff=values_diff,
        manifest_diff=diff,
        blocked=blocked,
        migrated=list(migration.applied),
        overrides=migrated,
    )
