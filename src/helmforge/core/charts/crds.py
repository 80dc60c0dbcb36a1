"""CustomResourceDefinitions go to the chart's ``crds/`` folder (Helm's convention).

Helm installs ``crds/`` before it renders ``templates/``, so custom resources of the same
chart install on a fresh cluster; from ``templates/`` the API server would answer "no
matches for kind ... ensure CRDs are installed first". Helm does not template ``crds/``:
a CRD is written as plain YAML, its ``${ctx.*}`` resolved at generation, with no
``${values.*}`` (the template checks refuse those) and the standard labels written literally
where the chart knows them (the release name and Helm's management are not: Helm installs
CRDs once and never upgrades or deletes them).
"""

from __future__ import annotations

__all__ = ["CRD_API_GROUP", "crd_labels", "crd_text", "is_crd"]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from helmforge.core.errors import InputError
from helmforge.core.templates.placeholders import (
    ReleaseRef,
    ValuesRef,
    parse_placeholders,
    substitute_context,
)
from helmforge.core.yaml_codec import dump_yaml

if TYPE_CHECKING:
    from helmforge.core.templates.models import Resource, Template

CRD_API_GROUP = "apiextensions.k8s.io"


def is_crd(resource: Resource) -> bool:
    """A CustomResourceDefinition (of any apiextensions version)."""
    group = resource.api_version.partition("/")[0]
    return resource.kind == "CustomResourceDefinition" and group == CRD_API_GROUP


def _trimmed(text: str) -> str:
    return text[:63].rstrip("-")


def crd_labels(chart_name: str, *, version: str, app_version: str) -> dict[str, str]:
    """The standard labels the chart can write without Helm (as ``_helpers.tpl`` would)."""
    return {
        "helm.sh/chart": _trimmed(f"{chart_name}-{version}".replace("+", "_")),
        "app.kubernetes.io/name": _trimmed(chart_name),
        "app.kubernetes.io/version": app_version,
    }


def _resolved(node: Any, ctx: dict[str, str], where: str) -> Any:
    if isinstance(node, str):
        if "${" not in node:
            return node
        parts = substitute_context(parse_placeholders(node), ctx)
        if any(isinstance(part, (ValuesRef, ReleaseRef)) for part in parts):
            raise InputError(
                f"{where}: a CustomResourceDefinition is written to crds/, which Helm does not "
                "template: use literal text or ${ctx.*}, not ${values.*} or ${release.*}"
            )
        return "".join(str(part) for part in parts)
    if isinstance(node, Mapping):
        return {key: _resolved(value, ctx, where) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(item, ctx, where) for item in node]
    return node


def crd_text(
    template: Template, resource: Resource, ctx: dict[str, str], labels: Mapping[str, str]
) -> str:
    """The file ``crds/<id>.yaml``: the CRD as plain YAML with the chart's known labels."""
    body = _resolved(resource.manifest, ctx, f"{template.source}: resource {resource.id}")
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        own = metadata.get("labels")
        merged = dict(labels)
        if isinstance(own, Mapping):
            merged.update(own)
        ordered: dict[str, Any] = {}
        for key, value in metadata.items():
            if key != "labels":
                ordered[key] = value
            if key == "name":
                ordered["labels"] = merged
        ordered.setdefault("labels", merged)
        body["metadata"] = ordered
    return dump_yaml(body)
