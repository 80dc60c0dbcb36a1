"""Selectors between imported objects keep selecting the same objects after generation.

Every generated object carries helmforge's standard labels (``app.kubernetes.io/name`` is the
chart name, ``instance`` the release), so ``template init`` removes the imported values of
those labels from top-level objects. A selector that chose objects by one of them (a
ServiceMonitor choosing Services by ``app.kubernetes.io/name``, an aggregated ClusterRole, a
Service choosing bare Pods) would then select nothing. For each such selector the label is
kept under ``imported.helmforge.dev/<name>`` with its value, on every object the selector
may choose, and the selector asks for that key instead: the same objects match, and each
change is a note for the creator. Pod templates keep all their labels (helmforge labels only
top-level objects), so selectors of pods from workloads work unchanged; they gain the kept
key only when a selector also had to choose bare Pods.
"""

from __future__ import annotations

__all__ = ["IMPORTED_PREFIX", "imported_key", "keep_selected_labels", "selector_nodes"]

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helmforge.core.templates.models import STANDARD_LABELS

IMPORTED_PREFIX = "imported.helmforge.dev/"
_POD_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_PODS = "Pod"
# kind of the selecting object, dotted path to its selector ("*": every item of a list), the
# kind it chooses. A Service's selector is a plain map; the others are LabelSelectors.
_SELECTORS: tuple[tuple[str, str, str], ...] = (
    ("Service", "spec.selector", _PODS),
    ("PodDisruptionBudget", "spec.selector", _PODS),
    ("NetworkPolicy", "spec.podSelector", _PODS),
    ("NetworkPolicy", "spec.ingress.*.from.*.podSelector", _PODS),
    ("NetworkPolicy", "spec.egress.*.to.*.podSelector", _PODS),
    ("ClusterRole", "aggregationRule.clusterRoleSelectors.*", "ClusterRole"),
    ("ServiceMonitor", "spec.selector", "Service"),
    ("PodMonitor", "spec.selector", _PODS),
    ("Prometheus", "spec.serviceMonitorSelector", "ServiceMonitor"),
    ("Prometheus", "spec.podMonitorSelector", "PodMonitor"),
    ("Prometheus", "spec.ruleSelector", "PrometheusRule"),
    ("Prometheus", "spec.probeSelector", "Probe"),
    ("Prometheus", "spec.scrapeConfigSelector", "ScrapeConfig"),
    ("ThanosRuler", "spec.ruleSelector", "PrometheusRule"),
    ("Alertmanager", "spec.alertmanagerConfigSelector", "AlertmanagerConfig"),
)


def imported_key(label: str) -> str:
    """``app.kubernetes.io/name`` -> ``imported.helmforge.dev/name``."""
    return IMPORTED_PREFIX + label.rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class SelectorNode:
    """A selector inside an object: ``plain`` for a Service's map, else a LabelSelector."""

    owner: str
    node: dict[str, Any]
    targets: frozenset[str]
    plain: bool

    def keys(self) -> set[str]:
        if self.plain:
            return {key for key in self.node if isinstance(key, str)}
        labels = self.node.get("matchLabels")
        found = (
            {key for key in labels if isinstance(key, str)} if isinstance(labels, dict) else set()
        )
        expressions = self.node.get("matchExpressions")
        for expression in expressions if isinstance(expressions, list) else []:
            if isinstance(expression, Mapping) and isinstance(expression.get("key"), str):
                found.add(expression["key"])
        return found

    def rename(self, old: str, new: str) -> None:
        labels = self.node if self.plain else self.node.get("matchLabels")
        if isinstance(labels, dict) and old in labels:
            # keep the order of the keys: the template reads like the input
            items = [(new if key == old else key, value) for key, value in labels.items()]
            labels.clear()
            labels.update(items)
        expressions = None if self.plain else self.node.get("matchExpressions")
        if isinstance(expressions, list):
            for expression in expressions:
                if isinstance(expression, dict) and expression.get("key") == old:
                    expression["key"] = new


def _walk(node: Any, path: Sequence[str]) -> Iterator[Any]:
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            yield from _walk(item, rest)
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest)


def _name(manifest: Mapping[str, Any]) -> str:
    metadata = manifest.get("metadata")
    return str(metadata.get("name")) if isinstance(metadata, Mapping) else "?"


def selector_nodes(manifest: Mapping[str, Any]) -> list[SelectorNode]:
    """The selectors of one object that choose other objects by label."""
    kind = manifest.get("kind")
    found: list[SelectorNode] = []
    for owner_kind, path, target in _SELECTORS:
        if kind != owner_kind:
            continue
        for node in _walk(manifest, path.split(".")):
            if isinstance(node, dict):
                owner = f"{kind}/{_name(manifest)}"
                found.append(SelectorNode(owner, node, frozenset({target}), kind == "Service"))
    return found


def _top_labels(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    metadata = manifest.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return labels if isinstance(labels, dict) else None


def _template_labels(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    node: Any = manifest
    for key in _POD_TEMPLATES.get(str(manifest.get("kind")), ()):
        node = node.get(key) if isinstance(node, dict) else None
    if node is manifest or not isinstance(node, dict):
        return None
    return _top_labels(node)


def keep_selected_labels(
    objects: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """A copy of ``objects`` whose selectors survive the standard labels, and the notes."""
    copies: list[dict[str, Any]] = [copy.deepcopy(dict(item)) for item in objects]
    notes: list[str] = []
    # (kinds, label) pairs to keep under the imported key, and the selectors that need it
    kept: dict[tuple[frozenset[str], str], list[str]] = {}
    for manifest in copies:
        for selector in selector_nodes(manifest):
            for label in sorted(selector.keys() & set(STANDARD_LABELS)):
                carriers = [
                    other
                    for other in copies
                    if other.get("kind") in selector.targets and label in (_top_labels(other) or {})
                ]
                if not carriers:
                    continue  # only pod templates carry it, and they keep their labels
                selector.rename(label, imported_key(label))
                kept.setdefault((selector.targets, label), []).append(selector.owner)
                notes.append(
                    f"{selector.owner}: its selector now uses {imported_key(label)} instead of "
                    f"{label} (helmforge sets {label} on every object), so it selects the same "
                    "objects"
                )
    for (targets, label), owners in kept.items():
        new = imported_key(label)
        for manifest in copies:
            where = f"{manifest.get('kind')}/{_name(manifest)}"
            labels = _top_labels(manifest) if manifest.get("kind") in targets else None
            if labels is not None and label in labels and new not in labels:
                labels[new] = labels[label]
                notes.append(
                    f"{where}: label {label}={labels[label]} also kept as {new} "
                    f"(selected by {', '.join(sorted(set(owners)))})"
                )
            inner = _template_labels(manifest) if _PODS in targets else None
            if inner is not None and label in inner and new not in inner:
                inner[new] = inner[label]
                notes.append(
                    f"{where}: pod label {label}={inner[label]} also set as {new} "
                    f"(selected by {', '.join(sorted(set(owners)))})"
                )
    return copies, notes
