"""The objects an instance's chart would produce for some values, for review (pure).

``preview_manifests`` substitutes ``${ctx.KEY}`` and ``${values.PATH}`` in the template's
resources directly, the way the chart's Go templates place them: a whole-field reference keeps
the value's type, a reference inside text becomes its text. It is helmforge's own reading of
its templates, not Helm: the labels and helpers Helm adds are not shown. What differs between
two sets of values shows the same way it would in Helm's output, which is what a reviewer of
a values change needs.
"""

from __future__ import annotations

__all__ = ["preview_manifests"]

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from helmforge.core.templates.layering import matches
from helmforge.core.templates.placeholders import (
    ValuesRef,
    parse_placeholders,
    substitute_context,
)
from helmforge.core.yaml_codec import dump_yaml

if TYPE_CHECKING:
    from helmforge.core.contexts import Context
    from helmforge.core.templates.models import Template


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _substitute(node: Any, ctx: dict[str, str], values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        if "${" not in node:
            return node
        # ${release.namespace}: the chart's name, the namespace an instance installs into
        segments = substitute_context(parse_placeholders(node), ctx, release_namespace=ctx["name"])
        if len(segments) == 1 and isinstance(segments[0], ValuesRef):
            return _lookup(values, segments[0].path)
        return "".join(
            _text(_lookup(values, s.path)) if isinstance(s, ValuesRef) else str(s) for s in segments
        )
    if isinstance(node, Mapping):
        return {key: _substitute(value, ctx, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, ctx, values) for item in node]
    return node


def preview_manifests(
    template: Template, context: Context, values: Mapping[str, Any]
) -> dict[str, str]:
    """Each resource the template renders for ``context``, by resource id, as YAML with
    ``values`` (the merged values) and the context substituted."""
    ctx = context.as_dict()
    return {
        resource.id: dump_yaml(_substitute(resource.manifest, ctx, values))
        for resource in template.resources
        if matches(resource.when, ctx)
    }
