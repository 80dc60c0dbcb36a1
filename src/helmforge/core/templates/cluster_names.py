"""Cluster-scoped objects of a bootstrapped template are named per chart.

Namespaced objects of two instances live apart in their release namespaces; cluster-scoped
ones (a ClusterRole, a webhook configuration) share one name space, so literal names collide
as soon as a second instance of the chart is installed. Their names become
``${ctx.name}-<name>`` (the chart name is unique per context) and the references to them
between imported objects follow: roleRef of (Cluster)RoleBindings, priorityClassName and
runtimeClassName of pods, ingressClassName of Ingresses and storageClassName of claims (in
the manifest or in the parameter's default), a policy binding's policyName, and the
``resourceNames`` of RBAC rules about their kind; and every ``storageClassName``,
``priorityClassName``, ``runtimeClassName`` and ``ingressClassName`` under a ``spec``
(custom resources hold them anywhere). An aggregated ClusterRole that gathers imported
ClusterRoles also asks for this chart's ``app.kubernetes.io/name``, so it never gathers the
roles of another instance. Kinds whose name Kubernetes fixes (a CRD, an
APIService, a CSIDriver) keep it and are reported.
"""

from __future__ import annotations

__all__ = ["FIXED_NAME_KINDS", "RENAMED_KINDS", "name_cluster_objects"]

from collections.abc import Iterator, Mapping
from typing import Any

from helmforge.core.templates.selected_labels import selector_nodes

PREFIX = "${ctx.name}-"
RENAMED_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "PriorityClass",
        "IngressClass",
        "StorageClass",
        "RuntimeClass",
    }
)
# The API group and resource of each renamed kind, as RBAC rules name them.
_RESOURCES: Mapping[str, tuple[str, str]] = {
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "MutatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
    ),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    "ValidatingAdmissionPolicy": ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    "ValidatingAdmissionPolicyBinding": (
        "admissionregistration.k8s.io",
        "validatingadmissionpolicybindings",
    ),
    "MutatingAdmissionPolicy": ("admissionregistration.k8s.io", "mutatingadmissionpolicies"),
    "MutatingAdmissionPolicyBinding": (
        "admissionregistration.k8s.io",
        "mutatingadmissionpolicybindings",
    ),
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
    "IngressClass": ("networking.k8s.io", "ingressclasses"),
    "StorageClass": ("storage.k8s.io", "storageclasses"),
    "RuntimeClass": ("node.k8s.io", "runtimeclasses"),
}
# Fields that name a renamed class, wherever an object holds them.
_CLASS_NAMES: Mapping[str, str] = {
    "storageClassName": "StorageClass",
    "priorityClassName": "PriorityClass",
    "runtimeClassName": "RuntimeClass",
    "ingressClassName": "IngressClass",
}
# Cluster-scoped kinds whose name is given by what they define: renaming would break them.
FIXED_NAME_KINDS = frozenset(
    {"CustomResourceDefinition", "APIService", "CSIDriver", "Namespace", "PersistentVolume"}
)
_POD_SPECS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


class _Renamer:
    def __init__(self, values: dict[str, Any], renamed: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.renamed = renamed
        self.notes: list[str] = []

    def follow_rules(self, rules: Any, where: str) -> None:
        """``resourceNames`` of RBAC rules that name a renamed object of a kind the rule is
        about (Tekton's webhook may update only its own webhook configurations)."""
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            names = rule.get("resourceNames") if isinstance(rule, dict) else None
            if not isinstance(names, list):
                continue
            kinds = _kinds_of_rule(rule)
            for position, name in enumerate(names):
                if not isinstance(name, str):
                    continue
                kind = next((k for k in kinds if (k, name) in self.renamed), None)
                if kind is not None:
                    names[position] = self.renamed[(kind, name)]
                    self.notes.append(
                        f"{where}: rules[{index}].resourceNames follows {kind}/{name}"
                    )

    def follow(self, holder: Any, key: str, kind: str, where: str) -> None:
        """Point ``holder[key]`` (a name of a ``kind``, or a ``${values.X}``) at the new name."""
        if not isinstance(holder, dict) or not isinstance(holder.get(key), str):
            return
        text = holder[key]
        if text.startswith("${values.") and text.endswith("}") and text.count("${") == 1:
            parameter = _get(self.values, tuple(text[len("${values.") : -1].split(".")))
            if isinstance(parameter, dict) and (kind, parameter.get("default")) in self.renamed:
                old = parameter["default"]
                parameter["default"] = self.renamed[(kind, old)]
                self.notes.append(f"{where}.{key} (its default) follows {kind}/{old}")
            return
        if (kind, text) in self.renamed:
            holder[key] = self.renamed[(kind, text)]
            self.notes.append(f"{where}.{key} follows {kind}/{text}")


def _kinds_of_rule(rule: Mapping[str, Any]) -> list[str]:
    """The renamed kinds an RBAC rule is about: its apiGroups and resources name them (or
    ``*``, and ``resource/subresource`` counts as the resource)."""
    groups, resources = rule.get("apiGroups"), rule.get("resources")
    if not isinstance(groups, list) or not isinstance(resources, list):
        return []
    named = {str(resource).split("/")[0] for resource in resources}
    return [
        kind
        for kind, (group, plural) in _RESOURCES.items()
        if (group in groups or "*" in groups) and (plural in named or "*" in named)
    ]


def _class_names(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(holder, key, path) of every class name field under ``node``: custom resources carry
    them anywhere (a Prometheus's ``spec.storage.volumeClaimTemplate.spec.storageClassName``,
    its ``spec.priorityClassName``)."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key in _CLASS_NAMES and isinstance(value, str):
                    yield current, key, where
                elif isinstance(value, dict | list):
                    stack.append((value, f"{where}.{key}"))
        elif isinstance(current, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(current))


def _labels(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = manifest.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    wanted = selector.get("matchLabels")
    if isinstance(wanted, Mapping) and any(labels.get(k) != v for k, v in wanted.items()):
        return False
    expressions = selector.get("matchExpressions")
    for expression in expressions if isinstance(expressions, list) else []:
        if not isinstance(expression, Mapping):
            continue
        key, operator = str(expression.get("key")), expression.get("operator")
        values = expression.get("values")
        values = values if isinstance(values, list) else []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _manifests(resources: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        manifest = resource.get("manifest")
        if isinstance(manifest, dict):
            yield manifest


def name_cluster_objects(resources: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    """Rename the cluster-scoped objects of ``resources`` in place; the notes for the creator.

    ``values`` is the template's ``spec.values`` tree: parameter defaults that hold a renamed
    object's name follow it.
    """
    # before renaming, so the notes name the objects as the creator knows them
    notes = _own_aggregation(resources)
    renamed: dict[tuple[str, str], str] = {}
    known = {
        id(m): f"{m.get('kind')}/{_get(m, ('metadata', 'name'))}" for m in _manifests(resources)
    }
    for manifest in _manifests(resources):
        kind, metadata = str(manifest.get("kind")), manifest.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or "${" in name:
            continue
        if kind in RENAMED_KINDS:
            metadata["name"] = renamed[(kind, name)] = PREFIX + name  # type: ignore[index]
            notes.append(
                f"{kind}/{name}: named {PREFIX}{name} (cluster-scoped: one name per chart, so "
                "two instances can share a cluster)"
            )
        elif kind in FIXED_NAME_KINDS - {"CustomResourceDefinition"}:
            notes.append(
                f"{kind}/{name}: cluster-scoped with a name Kubernetes fixes; two instances of "
                "the chart cannot share a cluster"
            )
    renamer = _Renamer(values, renamed)
    for manifest in _manifests(resources):
        kind = str(manifest.get("kind"))
        where = known[id(manifest)]
        role = manifest.get("roleRef")
        if kind in ("RoleBinding", "ClusterRoleBinding") and isinstance(role, dict):
            renamer.follow(role, "name", str(role.get("kind")), f"{where}: roleRef")
        if kind in ("Role", "ClusterRole"):
            renamer.follow_rules(manifest.get("rules"), where)
        if kind in ("ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicyBinding"):
            policy = kind.removesuffix("Binding")
            renamer.follow(manifest.get("spec"), "policyName", policy, f"{where}: spec")
        pod = _get(manifest, _POD_SPECS[kind]) if kind in _POD_SPECS else None
        renamer.follow(pod, "priorityClassName", "PriorityClass", f"{where}: pod")
        renamer.follow(pod, "runtimeClassName", "RuntimeClass", f"{where}: pod")
        spec = manifest.get("spec")
        if kind == "Ingress":
            renamer.follow(spec, "ingressClassName", "IngressClass", f"{where}: spec")
        if kind == "PersistentVolumeClaim":
            renamer.follow(spec, "storageClassName", "StorageClass", f"{where}: spec")
        claims = _get(manifest, ("spec", "volumeClaimTemplates"))
        for claim in claims if isinstance(claims, list) else []:
            renamer.follow(
                _get(claim, ("spec",)), "storageClassName", "StorageClass", f"{where}: claim"
            )
        if kind != "CustomResourceDefinition":  # its properties are schemas, not names
            for holder, key, path in _class_names(manifest.get("spec"), "spec"):
                renamer.follow(holder, key, _CLASS_NAMES[key], f"{where}: {path}")
    notes.extend(renamer.notes)
    return notes


def _own_aggregation(resources: list[dict[str, Any]]) -> list[str]:
    """Aggregated ClusterRoles that gather imported roles gather only this chart's."""
    roles = [m for m in _manifests(resources) if m.get("kind") == "ClusterRole"]
    notes: list[str] = []
    for manifest in roles:
        for selector in selector_nodes(manifest):
            if selector.plain or not any(
                _selects(selector.node, _labels(other)) for other in roles if other is not manifest
            ):
                continue
            labels = selector.node.setdefault("matchLabels", {})
            if isinstance(labels, dict) and "app.kubernetes.io/name" not in labels:
                labels["app.kubernetes.io/name"] = "${ctx.name}"
                notes.append(
                    f"{selector.owner}: aggregates only the ClusterRoles of its own chart "
                    "(app.kubernetes.io/name: ${ctx.name} added to its selector)"
                )
    return notes
