"""Re-running ``template init``: the creator's edits carried over to a regenerated template.

A three-way merge of plain template documents: ``base`` is what init generated last time,
``current`` is the file as the creator left it, ``generated`` is what init generates now.
For every field: unchanged by the creator -> the new generated value; unchanged by the input ->
the creator's value; changed by both in different ways -> the creator's value is kept and the
field is reported. Mappings merge key by key, ``spec.resources`` by resource ``id``, other
lists as a whole. Without a base (the file was written by hand, or the base was lost) the
creator's values win wherever both have a field.
"""

from __future__ import annotations

__all__ = ["MergeResult", "merge_templates"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()


@dataclass(slots=True)
class MergeResult:
    """The merged document and what could not be carried over (dotted paths, with why)."""

    document: dict[str, Any]
    not_carried_over: list[str] = field(default_factory=list)


def merge_templates(
    *, base: Mapping[str, Any] | None, current: Mapping[str, Any], generated: Mapping[str, Any]
) -> MergeResult:
    """Merge the creator's ``current`` template with the ``generated`` one (see module doc)."""
    result = MergeResult({})
    merged = _merge(base if base is not None else _MISSING, current, generated, "", result)
    result.document = merged if isinstance(merged, dict) else dict(generated)
    return result


def _merge(base: Any, current: Any, generated: Any, where: str, result: MergeResult) -> Any:
    if current == generated:
        return generated
    if base is not _MISSING and current == base:
        return generated
    if base is not _MISSING and generated == base:
        return current
    if isinstance(current, Mapping) and isinstance(generated, Mapping):
        return _merge_mappings(base, current, generated, where, result)
    if where == "spec.resources" and isinstance(current, list) and isinstance(generated, list):
        return _merge_resources(base, current, generated, result)
    if current is _MISSING:
        if base is not _MISSING:
            # The creator removed something the input still has: keep it removed.
            return _MISSING
        return generated
    if generated is _MISSING:
        if base is _MISSING:
            return current  # the creator added it
        result.not_carried_over.append(f"{where}: no longer in the input; the edited value dropped")
        return _MISSING
    if base is not _MISSING:
        result.not_carried_over.append(
            f"{where}: changed in the input and by the creator; the creator's value kept"
        )
    return current


def _merge_mappings(
    base: Any, current: Mapping[str, Any], generated: Mapping[str, Any], where: str, result: Any
) -> dict[str, Any]:
    base_map = base if isinstance(base, Mapping) else {}
    merged: dict[str, Any] = {}
    for key in [*generated, *(key for key in current if key not in generated)]:
        value = _merge(
            base_map.get(key, _MISSING) if base is not _MISSING else _MISSING,
            current.get(key, _MISSING),
            generated.get(key, _MISSING),
            f"{where}.{key}" if where else key,
            result,
        )
        if value is not _MISSING:
            merged[key] = value
    return merged


def _by_id(items: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            found[item["id"]] = item
    return found


def _merge_resources(
    base: Any, current: list[Any], generated: list[Any], result: MergeResult
) -> list[Any]:
    base_items = _by_id(base) if base is not _MISSING else None
    current_items, generated_items = _by_id(current), _by_id(generated)
    order = [*generated_items, *(key for key in current_items if key not in generated_items)]
    merged: list[Any] = []
    for resource_id in order:
        value = _merge(
            base_items.get(resource_id, _MISSING) if base_items is not None else _MISSING,
            current_items.get(resource_id, _MISSING),
            generated_items.get(resource_id, _MISSING),
            f"spec.resources[id={resource_id}]",
            result,
        )
        if value is not _MISSING:
            merged.append(value)
    return merged
