"""References of bootstrapped objects into the namespaces they came from.

Every imported object installs into the release namespace (its ``metadata.namespace`` is
removed), so what names an imported object by namespace must name the release's,
``${release.namespace}`` (Helm's ``.Release.Namespace``), wherever Helm installs the chart:

- RoleBinding and ClusterRoleBinding subjects;
- the Services behind webhook configurations and APIServices;
- cert-manager's CA injection annotations, ``cert-manager.io/inject-ca-from`` (a
  Certificate) and ``cert-manager.io/inject-ca-from-secret`` (a Secret), written
  ``NAMESPACE/NAME``;
- in a custom resource, every ``{name, namespace}`` mapping (Traefik's TLS options and
  services, a Gateway API route's parents).

A reference follows when it names an imported object, whatever namespace that came from, or
when its namespace is wholly the input's: the only namespace the objects came from, or one the
input creates (a Namespace object), so what runs there at install time (a Secret a webhook
writes beside itself) runs in the release namespace too. A CustomResourceDefinition goes to
the chart's ``crds/``, which Helm does not template: its references cannot follow and are
reported instead.
"""

from __future__ import annotations

__all__ = ["INJECTION_ANNOTATIONS", "follow_release_namespace"]

from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

RELEASE_NAMESPACE = "${release.namespace}"
#: cert-manager's cainjector annotations naming ``NAMESPACE/NAME`` -> the kind of NAME.
INJECTION_ANNOTATIONS: Mapping[str, str] = {
    "cert-manager.io/inject-ca-from": "Certificate",
    "cert-manager.io/inject-ca-from-secret": "Secret",
}
_CRD = "CustomResourceDefinition"
_BUILT_IN_GROUPS = frozenset(
    {
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


@dataclass(frozen=True, slots=True)
class _Reference:
    """One namespace reference: ``holder[key]`` holds it (``prefix`` + ``/NAME`` in an
    annotation, the whole text in a ``namespace`` field)."""

    holder: dict[str, Any]
    key: str
    kind: str
    namespace: str
    name: str
    where: str

    def point_at(self, namespace: str) -> None:
        if self.key == "namespace":
            self.holder[self.key] = namespace
        else:
            self.holder[self.key] = f"{namespace}/{self.name}"


def _references(manifest: dict[str, Any]) -> Iterator[_Reference]:
    kind = manifest.get("kind")
    services: list[tuple[Any, str]] = []
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        for subject in _listed(manifest.get("subjects")):
            if isinstance(subject, dict):
                yield from _field(subject, str(subject.get("kind")), "subjects")
    elif kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in _listed(manifest.get("webhooks")):
            config = webhook.get("clientConfig") if isinstance(webhook, dict) else None
            if isinstance(config, dict):
                services.append((config.get("service"), "webhooks.clientConfig.service"))
    elif kind == "APIService":
        services.append(((manifest.get("spec") or {}).get("service"), "spec.service"))
    elif kind == _CRD:
        webhook = ((manifest.get("spec") or {}).get("conversion") or {}).get("webhook")
        config = webhook.get("clientConfig") if isinstance(webhook, dict) else None
        if isinstance(config, dict):
            services.append((config.get("service"), "spec.conversion.webhook.clientConfig"))
    elif _is_custom(manifest):
        yield from _custom_references(manifest)
    for service, where in services:
        if isinstance(service, dict):
            yield from _field(service, "Service", where)
    metadata = manifest.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict):
        return
    for key, target in INJECTION_ANNOTATIONS.items():
        value = annotations.get(key)
        if isinstance(value, str) and value.count("/") == 1:
            namespace, name = value.split("/")
            yield _Reference(annotations, key, target, namespace, name, f"annotation {key}")


def _listed(value: Any) -> list[Any]:
    """``value`` when it is a list, else none (an object of an odd shape is checked later,
    against its schema, and reported there)."""
    return value if isinstance(value, list) else []


def _is_custom(manifest: Mapping[str, Any]) -> bool:
    """A custom resource: its API group is none of Kubernetes' own."""
    api_version = manifest.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return bool(group) and group not in _BUILT_IN_GROUPS


def _custom_references(manifest: Mapping[str, Any]) -> Iterator[_Reference]:
    """Every ``{name, namespace}`` mapping outside a custom resource's metadata (Traefik's
    ``tls.options``, its services, a route's parents): the kind is the mapping's own
    ``kind`` when it has one, else any imported object of that name."""
    stack: list[tuple[Any, str]] = [
        (value, key) for key, value in manifest.items() if key not in ("metadata", "status")
    ]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            kind = node.get("kind")
            yield from _field(node, kind if isinstance(kind, str) else "", where)
            stack.extend((value, f"{where}.{key}") for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(node))


def _field(holder: dict[str, Any], kind: str, where: str) -> Iterator[_Reference]:
    namespace, name = holder.get("namespace"), holder.get("name")
    if isinstance(namespace, str) and isinstance(name, str):
        yield _Reference(holder, "namespace", kind, namespace, name, where)


def _name(manifest: Mapping[str, Any]) -> Any:
    metadata = manifest.get("metadata")
    return metadata.get("name") if isinstance(metadata, Mapping) else None


def follow_release_namespace(
    manifests: Sequence[dict[str, Any]],
    moved: Mapping[str, Sequence[str]],
    *,
    created: AbstractSet[str] = frozenset(),
) -> list[str]:
    """Point the namespace references of ``manifests`` (the template's, edited in place) that
    follow the release namespace at ``${release.namespace}``; the notes for the creator.

    ``moved`` is each namespace the objects came from -> the ``Kind/name`` of those objects;
    ``created``: the namespaces the input created (its Namespace objects, left out of the
    template).
    """
    whole = {namespace for namespace in moved if len(moved) == 1 or namespace in created}
    imported = {(namespace, entry) for namespace, entries in moved.items() for entry in entries}
    # a reference without a kind (in a custom resource) names any imported object of its name
    imported |= {(namespace, "/" + entry.partition("/")[2]) for namespace, entry in imported}
    followed: dict[str, list[str]] = {}
    notes: list[str] = []
    for manifest in manifests:
        owner = f"{manifest.get('kind')}/{_name(manifest)}"
        for reference in _references(manifest):
            target = f"{reference.kind}/{reference.name}"
            if reference.namespace not in whole and (reference.namespace, target) not in imported:
                continue
            if manifest.get("kind") == _CRD:
                notes.append(
                    f"{owner}: its {reference.where} names {reference.kind} "
                    f"{reference.namespace}/{reference.name}, which installs into the release "
                    "namespace; crds/ is not templated by Helm, so it keeps naming "
                    f"{reference.namespace}: install the chart into {reference.namespace} or "
                    "edit that namespace in the template"
                )
                continue
            reference.point_at(RELEASE_NAMESPACE)
            owners = followed.setdefault(reference.namespace, [])
            if owner not in owners:
                owners.append(owner)
    for namespace, owners in followed.items():
        notes.append(
            f"namespace {namespace} in the references of {', '.join(owners)} follows the "
            f"release namespace ({RELEASE_NAMESPACE})"
        )
    return notes
