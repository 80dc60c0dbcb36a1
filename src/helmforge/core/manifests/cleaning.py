"""Cleaning imported objects of server-side noise, as data tables rather than code.

What a cluster adds to an object (status, bookkeeping metadata, allocated addresses, defaults
filled in by the API server) says nothing about what the creator meant and only makes
templates noisy. ``clean_object`` removes:

- ``_ALWAYS_REMOVED``: fields no manifest author writes (status, uid, managedFields, ...);
- ``_NOISE_ANNOTATIONS`` / ``_NOISE_LABELS``: kubectl, controller and Helm bookkeeping;
- ``_DEFAULTS``: fields equal to the API server's default for that kind and path, some only
  under a condition (``imagePullPolicy: IfNotPresent`` is the default only for a pinned tag);
- allocated Service fields (``clusterIP(s)``, auto-assigned ``nodePort``), and
  ``ipFamilies``/``ipFamilyPolicy`` of a Service read from a cluster (the API server fills
  them in on every Service; in a manifest file the author wrote them, e.g. ingress-nginx).

The input is never modified; the result is a new object.
"""

from __future__ import annotations

__all__ = [
    "CleanedObject",
    "clean_object",
    "is_generated_child",
    "redact_secret_values",
]

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

type Pattern = tuple[str, ...]
type Condition = Callable[[dict[str, Any]], bool]

_ANY = "*"  # in a pattern: every item of a list, or every value of a mapping

_ALWAYS_REMOVED: tuple[Pattern, ...] = (
    ("status",),
    ("metadata", "managedFields"),
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "creationTimestamp"),
    ("metadata", "selfLink"),
    ("metadata", "ownerReferences"),
    ("metadata", "deletionTimestamp"),
    ("metadata", "deletionGracePeriodSeconds"),
    ("metadata", "finalizers"),
)

_NOISE_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "meta.helm.sh/release-name",
        "meta.helm.sh/release-namespace",
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
        "autoscaling.alpha.kubernetes.io/conditions",
        "autoscaling.alpha.kubernetes.io/current-metrics",
    }
)
# label key -> the value that makes it noise (None: any value)
_NOISE_LABELS: Mapping[str, str | None] = {
    "app.kubernetes.io/managed-by": "Helm",
    "helm.sh/chart": None,
    "pod-template-hash": None,
    "controller-revision-hash": None,
    "controller-uid": None,
    "batch.kubernetes.io/controller-uid": None,
}
_METADATA_PATHS: tuple[Pattern, ...] = (
    ("metadata",),
    ("spec", "template", "metadata"),
    ("spec", "jobTemplate", "metadata"),
    ("spec", "jobTemplate", "spec", "template", "metadata"),
)

# Where each workload kind keeps its pod spec.
_POD_SPEC_PATHS: Mapping[str, Pattern] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _pinned_image(container: dict[str, Any]) -> bool:
    """IfNotPresent is the server's default only for an image with a tag other than latest."""
    image = container.get("image")
    if not isinstance(image, str):
        return False
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def _node_ports_allocated(spec: dict[str, Any]) -> bool:
    """A ClusterIP or LoadBalancer Service's node ports are chosen by the cluster."""
    return spec.get("type", "ClusterIP") in ("ClusterIP", "LoadBalancer")


type Rule = tuple[Pattern, Any, Condition | None]


def _container_rules(containers: str) -> tuple[Rule, ...]:
    probes: tuple[Rule, ...] = tuple(
        rule
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        for rule in (
            ((containers, _ANY, probe, "timeoutSeconds"), 1, None),
            ((containers, _ANY, probe, "periodSeconds"), 10, None),
            ((containers, _ANY, probe, "successThreshold"), 1, None),
            ((containers, _ANY, probe, "failureThreshold"), 3, None),
            ((containers, _ANY, probe, "httpGet", "scheme"), "HTTP", None),
        )
    )
    return (
        ((containers, _ANY, "terminationMessagePath"), "/dev/termination-log", None),
        ((containers, _ANY, "terminationMessagePolicy"), "File", None),
        ((containers, _ANY, "imagePullPolicy"), "IfNotPresent", _pinned_image),
        ((containers, _ANY, "resources"), {}, None),
        ((containers, _ANY, "ports", _ANY, "protocol"), "TCP", None),
        *probes,
    )


# Defaults relative to a pod spec: (pattern, default value, condition on the parent mapping).
_POD_SPEC_DEFAULTS: tuple[Rule, ...] = (
    (("dnsPolicy",), "ClusterFirst", None),
    (("restartPolicy",), "Always", None),
    (("schedulerName",), "default-scheduler", None),
    (("securityContext",), {}, None),
    (("terminationGracePeriodSeconds",), 30, None),
    *_container_rules("containers"),
    *_container_rules("initContainers"),
    (("volumes", _ANY, "configMap", "defaultMode"), 420, None),
    (("volumes", _ANY, "secret", "defaultMode"), 420, None),
)

_ROLLING_25 = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
}

# Defaults per kind, relative to the object: (kinds, pattern, default, condition on the parent).
_DEFAULTS: tuple[tuple[frozenset[str], Pattern, Any, Condition | None], ...] = (
    (frozenset({"Deployment"}), ("spec", "strategy"), _ROLLING_25, None),
    (
        frozenset({"Deployment", "StatefulSet", "DaemonSet"}),
        ("spec", "revisionHistoryLimit"),
        10,
        None,
    ),
    (frozenset({"Deployment"}), ("spec", "progressDeadlineSeconds"), 600, None),
    (frozenset({"StatefulSet"}), ("spec", "podManagementPolicy"), "OrderedReady", None),
    (
        frozenset({"StatefulSet"}),
        ("spec", "updateStrategy"),
        {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        None,
    ),
    (
        frozenset({"StatefulSet"}),
        ("spec", "persistentVolumeClaimRetentionPolicy"),
        {"whenDeleted": "Retain", "whenScaled": "Retain"},
        None,
    ),
    (
        frozenset({"DaemonSet"}),
        ("spec", "updateStrategy"),
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        None,
    ),
    (frozenset({"CronJob"}), ("spec", "concurrencyPolicy"), "Allow", None),
    (frozenset({"CronJob"}), ("spec", "failedJobsHistoryLimit"), 1, None),
    (frozenset({"CronJob"}), ("spec", "successfulJobsHistoryLimit"), 3, None),
    (frozenset({"CronJob", "Job"}), ("spec", "suspend"), False, None),
    (frozenset({"Job"}), ("spec", "backoffLimit"), 6, None),
    (frozenset({"Job"}), ("spec", "completionMode"), "NonIndexed", None),
    (frozenset({"Job"}), ("spec", "podReplacementPolicy"), "TerminatingOrFailed", None),
    (frozenset({"Service"}), ("spec", "sessionAffinity"), "None", None),
    (frozenset({"Service"}), ("spec", "internalTrafficPolicy"), "Cluster", None),
    (frozenset({"Service"}), ("spec", "ports", _ANY, "protocol"), "TCP", None),
    (frozenset({"PersistentVolumeClaim"}), ("spec", "volumeMode"), "Filesystem", None),
)

# Allocated by the cluster: removed whatever their value (with the condition on the parent).
_ALLOCATED: tuple[tuple[frozenset[str], Pattern, Condition | None], ...] = (
    (frozenset({"Service"}), ("spec", "healthCheckNodePort"), None),
    (frozenset({"PersistentVolumeClaim"}), ("spec", "volumeName"), None),
    # A Job's selector and its controller-uid labels are generated unless the author set
    # manualSelector.
    (frozenset({"Job"}), ("spec", "selector"), lambda spec: not spec.get("manualSelector")),
)


@dataclass(frozen=True, slots=True)
class CleanedObject:
    """A cleaned copy of an object and the dotted paths that were removed."""

    body: dict[str, Any]
    removed: tuple[str, ...]


def is_generated_child(body: Mapping[str, Any]) -> bool:
    """True when a controller made this object (a ReplicaSet of a Deployment, a Job's Pod)."""
    references = (
        body.get("metadata", {}).get("ownerReferences") if isinstance(body, Mapping) else None
    )
    return isinstance(references, list) and any(
        isinstance(reference, dict) and reference.get("controller") is True
        for reference in references
    )


def redact_secret_values(body: dict[str, Any]) -> list[str]:
    """Blank the values of a Secret's ``data`` and ``stringData`` in place; the keys stay.

    The catalog keeps which keys a Secret has (templates need them) but never the values, so
    they cannot leak through listings, the API or backups. Returns the keys blanked.
    """
    if body.get("kind") != "Secret" or body.get("apiVersion") != "v1":
        return []
    blanked: list[str] = []
    for field_name in ("data", "stringData"):
        values = body.get(field_name)
        if isinstance(values, dict):
            for key in values:
                values[key] = ""
                blanked.append(f"{field_name}.{key}")
    return blanked


def clean_object(body: Mapping[str, Any], *, in_place: bool = False) -> CleanedObject:
    """A copy of ``body`` without server-side noise, and the paths removed (for reports).

    With ``in_place`` the given dict itself is cleaned and returned (no copy: for callers that
    own a freshly parsed object and drop the original).
    """
    cleaned: dict[str, Any] = (
        body if in_place and isinstance(body, dict) else _copy_tree(dict(body))
    )
    removed: list[str] = []
    kind = cleaned.get("kind")
    from_cluster = _read_from_cluster(cleaned)
    for pattern in _ALWAYS_REMOVED:
        _remove(cleaned, pattern, removed, lambda _value, _parent: True)
    for pattern in _METADATA_PATHS:
        for metadata, where in _walk(cleaned, pattern):
            _clean_metadata(metadata, where, removed)
    if isinstance(kind, str):
        _clean_kind(cleaned, kind, removed)
    if kind == "Service" and from_cluster:
        for pattern in (("spec", "ipFamilies"), ("spec", "ipFamilyPolicy")):
            _remove(cleaned, pattern, removed, _always(None))
    return CleanedObject(cleaned, tuple(removed))


_SERVER_MARKS: tuple[Pattern, ...] = (
    ("status",),
    ("metadata", "uid"),
    ("metadata", "resourceVersion"),
    ("metadata", "creationTimestamp"),
    ("metadata", "managedFields"),
    ("spec", "clusterIPs"),
)


def _has_content(node: Any) -> bool:
    """A value other than null or empty containers (``kubectl create --dry-run -o yaml``
    writes ``status: {loadBalancer: {}}`` and ``creationTimestamp: null``)."""
    if isinstance(node, Mapping):
        return any(_has_content(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_content(item) for item in node)
    return node is not None


def _read_from_cluster(body: Mapping[str, Any]) -> bool:
    """Does ``body`` carry what only the API server writes (it was read from a cluster)?"""
    for pattern in _SERVER_MARKS:
        node: Any = body
        for key in pattern:
            node = node.get(key) if isinstance(node, Mapping) else None
        if _has_content(node):
            return True
    spec = body.get("spec")
    cluster_ip = spec.get("clusterIP") if isinstance(spec, Mapping) else None
    return isinstance(cluster_ip, str) and cluster_ip not in ("", "None")


def _clean_kind(cleaned: dict[str, Any], kind: str, removed: list[str]) -> None:
    for kinds, pattern, default, condition in _DEFAULTS:
        if kind in kinds:
            _remove(cleaned, pattern, removed, _equals(default, condition))
    for kinds, pattern, allocated_condition in _ALLOCATED:
        if kind in kinds:
            _remove(cleaned, pattern, removed, _always(allocated_condition))
    if kind == "Service":
        spec = cleaned.get("spec")
        if isinstance(spec, dict) and spec.get("clusterIP") != "None":
            for field_name in ("clusterIP", "clusterIPs"):
                if field_name in spec:
                    del spec[field_name]
                    removed.append(f"spec.{field_name}")
        if isinstance(spec, dict) and _node_ports_allocated(spec):
            ports = spec.get("ports")
            for index, port in enumerate(ports if isinstance(ports, list) else ()):
                if isinstance(port, dict) and "nodePort" in port:
                    del port["nodePort"]
                    removed.append(f"spec.ports[{index}].nodePort")
        _drop_target_ports_equal_to_port(spec)
    pod_path = _POD_SPEC_PATHS.get(kind)
    if pod_path is not None:
        for pod_spec, _where in _walk(cleaned, pod_path):
            for pattern, default, condition in _POD_SPEC_DEFAULTS:
                _remove(pod_spec, pattern, removed, _equals(default, condition), prefix=pod_path)


def _copy_tree(value: Any) -> Any:
    """A copy of a tree of dicts and lists (leaves are immutable scalars); faster than deepcopy."""
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def _drop_target_ports_equal_to_port(spec: Any) -> None:
    if not isinstance(spec, dict) or not isinstance(spec.get("ports"), list):
        return
    for port in spec["ports"]:
        if (
            isinstance(port, dict)
            and "targetPort" in port
            and port["targetPort"] == port.get("port")
        ):
            del port["targetPort"]


def _equals(default: Any, condition: Condition | None) -> Callable[[Any, dict[str, Any]], bool]:
    def matches(value: Any, parent: dict[str, Any]) -> bool:
        return value == default and (condition is None or condition(parent))

    return matches


def _always(condition: Condition | None) -> Callable[[Any, dict[str, Any]], bool]:
    def matches(_value: Any, parent: dict[str, Any]) -> bool:
        return condition is None or condition(parent)

    return matches


def _clean_metadata(metadata: Any, where: str, removed: list[str]) -> None:
    if not isinstance(metadata, dict):
        return
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key in [
            key
            for key in annotations
            if key in _NOISE_ANNOTATIONS or key.startswith("meta.helm.sh/")
        ]:
            del annotations[key]
            removed.append(f"{where}.annotations[{key}]")
        if not annotations:
            del metadata["annotations"]
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        for key, noise in _NOISE_LABELS.items():
            if key in labels and (noise is None or labels[key] == noise):
                del labels[key]
                removed.append(f"{where}.labels[{key}]")
        if not labels:
            del metadata["labels"]


def _walk(root: Any, pattern: Pattern) -> list[tuple[Any, str]]:
    """Every value at ``pattern`` under ``root`` (``*`` fans out), with its dotted path."""
    found: list[tuple[Any, str]] = [(root, "")]
    for part in pattern:
        step: list[tuple[Any, str]] = []
        for value, where in found:
            if part == _ANY:
                if isinstance(value, list):
                    step.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
                elif isinstance(value, dict):
                    step.extend((item, f"{where}.{key}") for key, item in value.items())
            elif isinstance(value, dict) and part in value:
                step.append((value[part], f"{where}.{part}" if where else part))
        found = step
    return found


def _remove(
    root: dict[str, Any],
    pattern: Pattern,
    removed: list[str],
    matches: Callable[[Any, dict[str, Any]], bool],
    *,
    prefix: Pattern = (),
) -> None:
    last = pattern[-1]
    for parent, where in _walk(root, pattern[:-1]):
        if isinstance(parent, dict) and last in parent and matches(parent[last], parent):
            del parent[last]
            lead = ".".join(prefix)
            full = ".".join(part for part in (lead, where, last) if part)
            removed.append(full)
