"""Effective values for one context: defaults, then matching layers, then overrides.

Later sources win; mappings merge key by key (as Helm merges values files), everything else
is replaced. ``${ctx.KEY}`` in defaults and layer values is resolved for the context.
Provenance records, per parameter, the last source that set it: ``"default"``,
``"layer N"`` (N is the index in ``spec.layers``, from 0) or ``"override"``.
"""

from __future__ import annotations

__all__ = [
    "changed_values",
    "deep_merge",
    "effective_values",
    "matches",
    "resolve_context_text",
    "unset_required",
]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from helmforge.core.errors import InputError, Location
from helmforge.core.templates.placeholders import parse_placeholders, substitute_context

if TYPE_CHECKING:
    from helmforge.core.contexts import Context
    from helmforge.core.templates.models import Template


def matches(when: Mapping[str, tuple[str, ...]], context: Mapping[str, str]) -> bool:
    """True when every key of ``when`` has the context's value among its options."""
    return all(context.get(key) in options for key, options in when.items())


def unset_required(template: Template, context: Mapping[str, str]) -> list[tuple[str, ...]]:
    """The paths of parameters without a default that no layer matching ``context`` sets:
    whoever builds the chart must give them."""
    set_by_layers: set[str] = set()
    for layer in template.layers:
        if matches(layer.when, context):
            set_by_layers |= _dotted_paths(layer.values)
    return [
        parameter.path
        for dotted, parameter in template.parameters.items()
        if not parameter.has_default and dotted not in set_by_layers
    ]


def _dotted_paths(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> set[str]:
    paths: set[str] = set()
    for key, value in values.items():
        path = (*prefix, key)
        paths.add(".".join(path))
        if isinstance(value, Mapping):
            paths |= _dotted_paths(value, path)
    return paths


def changed_values(submitted: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``submitted`` that differ from ``base`` (maps compared key by key): the
    overrides that, merged over ``base``, give ``submitted`` where it speaks."""
    changed: dict[str, Any] = {}
    for key, value in submitted.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            inner = changed_values(value, current)
            if inner:
                changed[key] = inner
        elif key not in base or value != current:
            changed[key] = value
    return changed


def resolve_context_text(node: Any, context: Mapping[str, str]) -> Any:
    """A copy of ``node`` with ``${ctx.KEY}`` resolved in every string (and ``$${`` unescaped).

    Only containers are copied, so callers may mutate the result freely.
    """
    if isinstance(node, str):
        if "${" not in node:
            return node
        segments = substitute_context(parse_placeholders(node), dict(context))
        return "".join(segment for segment in segments if isinstance(segment, str))
    if isinstance(node, Mapping):
        return {key: resolve_context_text(value, context) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_context_text(item, context) for item in node]
    return node


def deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``base`` in place (mappings recursively) and return ``base``.

    Iterative, like ``_copy``: however deep the input, no recursion limit is reached.
    """
    pending: list[tuple[dict[str, Any], Mapping[str, Any]]] = [(base, update)]
    while pending:
        target, source = pending.pop()
        for key, value in source.items():
            if isinstance(value, Mapping):
                current = target.get(key)
                if not isinstance(current, dict):
                    current = target[key] = {}
                pending.append((current, value))
            elif isinstance(value, list):
                target[key] = _copy(value)
            else:
                target[key] = value
    return base


def _copy(node: Any) -> Any:
    """A copy of ``node``'s mappings and lists (leaves shared), built without recursion."""
    if not isinstance(node, (Mapping, list)):
        return node
    root: Any = {} if isinstance(node, Mapping) else []
    pending: list[tuple[Any, Any]] = [(node, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, value in items:
            child = value
            if isinstance(value, (Mapping, list)):
                child = {} if isinstance(value, Mapping) else []
                pending.append((value, child))
            if isinstance(target, list):
                target.append(child)
            else:
                target[key] = child
    return root


def effective_values(
    template: Template,
    context: Context,
    *,
    overrides: Mapping[str, Any] | None = None,
    defer_required: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of every parameter for ``context``, and where each came from.

    Returns ``(values, provenance)``: ``values`` is the nested values tree (declaration order),
    ``provenance`` maps dotted parameter paths to ``"default"``, ``"layer N"`` or
    ``"override"``. A required parameter that ends up without a value raises ``InputError``
    naming it, unless ``defer_required`` (an instance's chart: its values file gives them;
    such parameters are then absent from ``provenance``); nothing here checks types
    (``charts.check_values`` does).
    """
    ctx = context.as_dict()
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for dotted, parameter in template.parameters.items():
        if parameter.has_default:
            _set(values, parameter.path, resolve_context_text(parameter.default, ctx))
            provenance[dotted] = "default"
        else:
            _ensure_parent(values, parameter.path)
    for layer in template.layers:
        if matches(layer.when, ctx):
            layer_values = resolve_context_text(layer.values, ctx)
            deep_merge(values, layer_values)
            _record(provenance, layer_values, (), template, f"layer {layer.index}")
    if overrides:
        deep_merge(values, overrides)
        _record(provenance, overrides, (), template, "override")
    missing = [
        dotted for dotted, parameter in template.parameters.items() if dotted not in provenance
    ]
    if missing and not defer_required:
        raise InputError(
            f"required value(s) {', '.join(missing)} have no default and no layer sets them "
            f"for {context.chart_name}; give them with --set or -f "
            f"(e.g. --set {missing[0]}=...)",
            location=Location(template.source, path="spec.values." + missing[0]),
        )
    return values, provenance


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    _ensure_parent(values, path)[path[-1]] = value


def _ensure_parent(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = values
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    return node


def _record(
    provenance: dict[str, str],
    update: Mapping[str, Any],
    prefix: tuple[str, ...],
    template: Template,
    source: str,
) -> None:
    for key, value in update.items():
        dotted = ".".join((*prefix, key))
        if dotted in template.parameters:
            provenance[dotted] = source
        elif isinstance(value, Mapping):
            _record(provenance, value, (*prefix, key), template, source)
