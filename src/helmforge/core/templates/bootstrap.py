"""A first template (DESIGN §3) from Kubernetes objects, with conventional parameters.

``bootstrap_template`` turns cleaned objects into a template document (plain data, written
with the YAML codec). Parameters are grouped per object, named after it in camelCase
(``values.cartservice.image.repository``, ``values.cartservice.replicaCount``):

- workloads: ``replicaCount``; per container (the first container at the group's top, the
  others and init containers under their own camelCase name) ``image.repository`` /
  ``image.tag``, ``resources``, ``env.NAME`` for literal env values, ``containerPort``,
  ``probePort``; CronJobs ``schedule``; StatefulSet claims ``persistence.NAME.size``;
- Services ``service.type`` and ``service.port``; Ingresses ``ingress.className``,
  ``ingress.host`` (TLS hosts follow the rule hosts); ConfigMaps ``data``; PVCs
  ``storage.size`` / ``storage.className``; HPAs ``autoscaling.minReplicas`` /
  ``maxReplicas`` (in the target workload's group);
- Secrets: one required parameter per key, without a default: the imported value never
  reaches the template (it is dropped here, before anything is written or logged).

Names of objects stay literal, so every cross-object reference (Service selectors and pod
labels, ServiceAccount/ConfigMap/Secret names, HPA targets, Ingress backends, RoleBinding
subjects) stays what it was; references into the namespaces the objects came from follow the
release namespace (``namespace_references``), and every object installs there but a
RoleBinding of a Role the input does not hold, which stays in that Role's namespace (the
Namespace objects the objects came from are left out). Literal
text is escaped (``${`` -> ``$${``) so it never becomes a placeholder. Selectors that chose
objects by a standard label are kept working by ``selected_labels``. ``merge_templates``
re-applies a creator's edits to a regenerated template.
"""

from __future__ import annotations

__all__ = ["BootstrapResult", "bootstrap_template", "camel_case", "escape_literals"]

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from helmforge.core.templates.cluster_names import name_cluster_objects
from helmforge.core.templates.namespace_references import follow_release_namespace
from helmforge.core.templates.selected_labels import keep_selected_labels
from helmforge.core.templates.service_ports import follow_service_ports

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_STANDARD_LABELS = frozenset(
    {
        "helm.sh/chart",
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
    }
)
_POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def camel_case(name: str) -> str:
    """``frontend-external`` -> ``frontendExternal``; a valid Helm value name."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    if not words:
        return "object"
    text = words[0][:1].lower() + words[0][1:] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    return text if _IDENTIFIER.match(text) else f"x{text}"


def escape_literals(node: Any) -> Any:
    """A copy where every ``${`` of literal text is written ``$${`` (never a placeholder)."""
    if isinstance(node, str):
        return node.replace("${", "$${")
    if isinstance(node, Mapping):
        return {key: escape_literals(value) for key, value in node.items()}
    if isinstance(node, list):
        return [escape_literals(item) for item in node]
    return node


@dataclass(slots=True)
class BootstrapResult:
    """The template document and notes for the creator (what was changed and why)."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


class _Parameters:
    """The ``spec.values`` tree being built; ``claim`` returns the placeholder text."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def claim(
        self, path: Sequence[str], *, default: Any = None, description: str, required: bool = False
    ) -> str:
        keys = [key if _IDENTIFIER.match(key) else camel_case(key) for key in path]
        node = self.tree
        for index, wanted in enumerate(keys[:-1]):
            key = wanted
            while _is_leaf(node.get(key)):
                key = f"{key}_{index}"
            keys[index] = key
            node = node.setdefault(key, {})
        last, suffix = keys[-1], 2
        while last in node:
            last = f"{keys[-1]}{suffix}"
            suffix += 1
        keys[-1] = last
        parameter: dict[str, Any] = (
            {"required": True, "description": description}
            if required
            else {"default": default, "description": description}
        )
        node[last] = parameter
        return "${values." + ".".join(keys) + "}"


def _is_leaf(node: Any) -> bool:
    return isinstance(node, dict) and ("default" in node or "required" in node)


def _listed(value: Any) -> list[Any]:
    """``value`` when it is a list, else none: an object of an odd shape fails its schema check
    after bootstrapping, with its path, instead of crashing here."""
    return value if isinstance(value, list) else []


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """``repo[:tag][@digest]`` -> (repository, tag, digest)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


class _Builder:
    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        self.objects = objects
        self.parameters = _Parameters()
        self.notes: list[str] = []
        # namespace -> the objects that were in it (all now install into the release's)
        self.moved: dict[str, list[str]] = {}
        # Workload name -> its parameter group, so an HPA joins its target's group.
        self.groups: dict[tuple[str, str], str] = {}
        self.roles = {
            (str(item["metadata"].get("namespace")), str(item["metadata"]["name"]))
            for item in objects
            if item.get("kind") == "Role"
        }
        # Service name -> port number -> its parameter, followed by what calls the port
        self.service_ports: dict[str, dict[int, str]] = {}
        # The namespaces the objects came from: a Namespace object of one is left out
        self.sources = {
            item["metadata"]["namespace"]
            for item in objects
            if isinstance(item["metadata"].get("namespace"), str)
        }
        self.left_out: set[str] = set()
        # RoleBindings that stay in their Role's namespace, renamed once the notes are written
        self.kept_bindings: list[dict[str, Any]] = []

    def group(self, kind: str, name: str) -> str:
        return self.groups.setdefault((kind, name), camel_case(name))

    def resources(self) -> list[dict[str, Any]]:
        ids: set[str] = set()
        resources = []
        for raw in self.objects:
            manifest: dict[str, Any] = escape_literals(raw)
            kind, name = str(manifest.get("kind")), str(manifest["metadata"]["name"])
            if kind == "Namespace" and name in self.sources:
                self.leave_out_namespace(raw, name)
                continue
            self.tidy_metadata(manifest, kind, name)
            handler = getattr(self, f"kind_{kind.lower()}", None)
            if handler is not None:
                handler(manifest, name)
            pod_path = _POD_SPEC_PATHS.get(kind)
            if pod_path is not None:
                self.pod(manifest, pod_path, kind=kind, name=name)
            resources.append({"id": self.resource_id(name, kind, ids), "manifest": manifest})
        return resources

    def leave_out_namespace(self, namespace: Mapping[str, Any], name: str) -> None:
        """The Namespace the objects came from is the release namespace's now: created by the
        chart too, it stayed empty, made a second instance's install fail on it, and made an
        install into it (``helm install -n NAME --create-namespace``) fail."""
        self.left_out.add(name)
        labels = namespace["metadata"].get("labels")
        kept = ""
        if isinstance(labels, Mapping) and labels:
            pairs = ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))
            kept = f"; its labels ({pairs}) belong on the release namespace"
        self.notes.append(
            f"Namespace/{name}: left out, its objects install into the release namespace{kept}"
        )

    @staticmethod
    def resource_id(name: str, kind: str, ids: set[str]) -> str:
        base = re.sub(r"[^a-z0-9-]+", "-", f"{name}-{kind}".lower()).strip("-")[:60].strip("-")
        candidate, number = base or "resource", 2
        while candidate in ids:
            candidate = f"{base[:57]}-{number}"
            number += 1
        ids.add(candidate)
        return candidate

    def tidy_metadata(self, manifest: dict[str, Any], kind: str, name: str) -> None:
        metadata = manifest["metadata"]
        if self.binds_a_role_elsewhere(manifest, kind, name):
            return
        namespace = metadata.pop("namespace", None)
        if isinstance(namespace, str):
            self.moved.setdefault(namespace, []).append(f"{kind}/{name}")
        labels = metadata.get("labels")
        if isinstance(labels, dict):
            for key in sorted(set(labels) & _STANDARD_LABELS):
                value = labels.pop(key)
                self.notes.append(
                    f"{kind}/{name}: label {key}={value} removed (helmforge sets its own "
                    "value on every object)"
                )
            if not labels:
                del metadata["labels"]

    def binds_a_role_elsewhere(self, manifest: dict[str, Any], kind: str, name: str) -> bool:
        """A RoleBinding of a Role the input does not hold (an aggregated API server's of
        ``extension-apiserver-authentication-reader`` in kube-system) grants it only in the
        Role's namespace: the binding stays there, named per chart (several instances bind
        there), while its subjects follow the release namespace."""
        metadata = manifest["metadata"]
        namespace, role = metadata.get("namespace"), manifest.get("roleRef")
        if (
            kind != "RoleBinding"
            or not isinstance(namespace, str)
            or not isinstance(role, dict)
            or role.get("kind") != "Role"
            or (namespace, str(role.get("name"))) in self.roles
        ):
            return False
        self.kept_bindings.append(metadata)
        self.notes.append(
            f"RoleBinding/{name}: stays in namespace {namespace}, named ${{ctx.name}}-{name}: "
            f"it binds Role {namespace}/{role.get('name')}, which is not among the imported "
            "objects and grants nothing in another namespace"
        )
        return True

    def pod(self, manifest: dict[str, Any], path: tuple[str, ...], *, kind: str, name: str) -> None:
        spec: Any = manifest
        for key in path:
            spec = spec.get(key) if isinstance(spec, dict) else None
        if not isinstance(spec, dict):
            return
        group = self.group(kind, name)
        if kind in _SCALABLE:
            replicas = manifest["spec"].get("replicas", 1)
            manifest["spec"]["replicas"] = self.parameters.claim(
                [group, "replicaCount"], default=replicas, description=f"Pods of {kind} {name}"
            )
        containers = spec.get("containers")
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, dict):
                prefix = [group] if index == 0 else [group, camel_case(str(container.get("name")))]
                self.container(container, prefix, where=f"{kind} {name}")
        init = spec.get("initContainers")
        for container in init if isinstance(init, list) else []:
            if isinstance(container, dict):
                prefix = [group, camel_case(str(container.get("name")))]
                self.container(container, prefix, where=f"{kind} {name} (init)")

    def container(self, container: dict[str, Any], prefix: list[str], *, where: str) -> None:
        label = f"container {container.get('name')} of {where}"
        self.namespace_mentions(container, label)
        image = container.get("image")
        if isinstance(image, str) and "$" not in image:
            repository, tag, digest = _split_image(image)
            repo = self.parameters.claim(
                [*prefix, "image", "repository"],
                default=repository,
                description=f"Image of {label}",
            )
            text = repo
            if tag is not None or digest is None:
                text += ":" + self.parameters.claim(
                    [*prefix, "image", "tag"],
                    default=tag if tag is not None else "latest",
                    description=f"Image tag of {label}",
                )
            if digest is not None:
                text += "@" + self.parameters.claim(
                    [*prefix, "image", "digest"], default=digest, description=f"Digest of {label}"
                )
            container["image"] = text
        if isinstance(container.get("resources"), dict) and container["resources"]:
            container["resources"] = self.parameters.claim(
                [*prefix, "resources"],
                default=container["resources"],
                description=f"CPU and memory of {label}",
            )
        for variable in _listed(container.get("env")):
            if (
                isinstance(variable, dict)
                and isinstance(variable.get("name"), str)
                and _IDENTIFIER.match(variable["name"])
                and isinstance(variable.get("value"), str)
                and "$" not in variable["value"]
            ):
                variable["value"] = self.parameters.claim(
                    [*prefix, "env", variable["name"]],
                    default=variable["value"],
                    description=f"{variable['name']} of {label}",
                )
        ports = container.get("ports")
        first = ports[0] if isinstance(ports, list) and ports else None
        if isinstance(first, dict) and isinstance(first.get("containerPort"), int):
            first["containerPort"] = self.parameters.claim(
                [*prefix, "containerPort"],
                default=first["containerPort"],
                description=f"Port of {label}",
            )
        self.probes(container, prefix, label)

    def namespace_mentions(self, container: dict[str, Any], label: str) -> None:
        """Arguments and env values naming a namespace the objects came from (cert-manager's
        ``--leader-election-namespace=kube-system``, whose Roles now install elsewhere): a
        ``--flag=NAMESPACE``, a Service DNS name in it, or the whole value of a ``*NAMESPACE*``
        variable. The text is not rewritten; the creator is told."""
        texts: list[tuple[Any, bool]] = [
            (text, False)
            for text in [*_listed(container.get("command")), *_listed(container.get("args"))]
        ]
        for variable in _listed(container.get("env")):
            if isinstance(variable, dict):
                texts.append(
                    (variable.get("value"), "NAMESPACE" in str(variable.get("name")).upper())
                )
        for text, whole in texts:
            if not isinstance(text, str):
                continue
            for namespace in sorted(self.sources):
                if (
                    (whole and text == namespace)
                    or text.endswith(f"={namespace}")
                    or f".{namespace}.svc" in text
                ):
                    self.notes.append(
                        f"{label}: {text!r} names namespace {namespace}, whose objects now "
                        "install into the release namespace (${release.namespace} follows it)"
                    )

    def probes(self, container: dict[str, Any], prefix: list[str], label: str) -> None:
        found: list[tuple[str, dict[str, Any]]] = []
        for probe in _PROBES:
            for handler in ("httpGet", "tcpSocket"):
                target = (container.get(probe) or {}).get(handler)
                if isinstance(target, dict) and isinstance(target.get("port"), int):
                    found.append((probe, target))
        ports = {target["port"] for _probe, target in found}
        if len(ports) == 1:
            placeholder = self.parameters.claim(
                [*prefix, "probePort"], default=ports.pop(), description=f"Probe port of {label}"
            )
            for _probe, target in found:
                target["port"] = placeholder
            return
        for probe, target in found:
            target["port"] = self.parameters.claim(
                [*prefix, probe, "port"], default=target["port"], description=f"{probe} of {label}"
            )

    def kind_cronjob(self, manifest: dict[str, Any], name: str) -> None:
        spec = manifest.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("schedule"), str):
            spec["schedule"] = self.parameters.claim(
                [self.group("CronJob", name), "schedule"],
                default=spec["schedule"],
                description=f"Cron schedule of {name}",
            )

    def kind_statefulset(self, manifest: dict[str, Any], name: str) -> None:
        claims = (manifest.get("spec") or {}).get("volumeClaimTemplates")
        for claim in claims if isinstance(claims, list) else []:
            claim_name = str((claim.get("metadata") or {}).get("name", "data"))
            self.storage(
                claim.get("spec"),
                [self.group("StatefulSet", name), "persistence", camel_case(claim_name)],
                f"volume claim {claim_name} of {name}",
            )

    def kind_persistentvolumeclaim(self, manifest: dict[str, Any], name: str) -> None:
        self.storage(
            manifest.get("spec"), [self.group("PersistentVolumeClaim", name), "storage"], name
        )

    def storage(self, spec: Any, prefix: list[str], label: str) -> None:
        if not isinstance(spec, dict):
            return
        requests = (spec.get("resources") or {}).get("requests")
        if isinstance(requests, dict) and isinstance(requests.get("storage"), str):
            requests["storage"] = self.parameters.claim(
                [*prefix, "size"], default=requests["storage"], description=f"Size of {label}"
            )
        if isinstance(spec.get("storageClassName"), str):
            spec["storageClassName"] = self.parameters.claim(
                [*prefix, "className"],
                default=spec["storageClassName"],
                description=f"Storage class of {label}",
            )

    def kind_service(self, manifest: dict[str, Any], name: str) -> None:
        spec = manifest.get("spec")
        if not isinstance(spec, dict):
            return
        group = self.group("Service", name)
        if "clusterIP" not in spec or spec.get("clusterIP") != "None":
            spec["type"] = self.parameters.claim(
                [group, "service", "type"],
                default=spec.get("type", "ClusterIP"),
                description=f"Type of Service {name}",
            )
        for index, port in enumerate(_listed(spec.get("ports"))):
            if isinstance(port, dict) and isinstance(port.get("port"), int):
                key = "port" if index == 0 else f"{camel_case(str(port.get('name', index)))}Port"
                number = port["port"]
                port["port"] = self.parameters.claim(
                    [group, "service", key], default=number, description=f"Port of {name}"
                )
                self.service_ports.setdefault(name, {}).setdefault(number, port["port"])

    def kind_configmap(self, manifest: dict[str, Any], name: str) -> None:
        if isinstance(manifest.get("data"), dict) and manifest["data"]:
            manifest["data"] = self.parameters.claim(
                [self.group("ConfigMap", name), "data"],
                default=manifest["data"],
                description=f"Data of ConfigMap {name}",
            )

    def kind_secret(self, manifest: dict[str, Any], name: str) -> None:
        keys = sorted({*(manifest.get("data") or {}), *(manifest.get("stringData") or {})})
        manifest.pop("data", None)
        manifest.pop("stringData", None)
        if keys:
            manifest["stringData"] = {
                key: self.parameters.claim(
                    [self.group("Secret", name), "secret", key],
                    description=f"Value of {key} in Secret {name} (give it at generation)",
                    required=True,
                )
                for key in keys
            }
            self.notes.append(
                f"Secret/{name}: values of {', '.join(keys)} became required parameters "
                "without defaults (the imported values were dropped)"
            )

    def kind_ingress(self, manifest: dict[str, Any], name: str) -> None:
        spec = manifest.get("spec")
        if not isinstance(spec, dict):
            return
        group = self.group("Ingress", name)
        if isinstance(spec.get("ingressClassName"), str):
            spec["ingressClassName"] = self.parameters.claim(
                [group, "ingress", "className"],
                default=spec["ingressClassName"],
                description=f"Ingress class of {name}",
            )
        hosts: dict[str, str] = {}
        for rule in _listed(spec.get("rules")):
            host = rule.get("host") if isinstance(rule, dict) else None
            if isinstance(host, str) and "$" not in host:
                if host not in hosts:
                    hosts[host] = self.parameters.claim(
                        [group, "ingress", "host"], default=host, description=f"Host of {name}"
                    )
                rule["host"] = hosts[host]
        for tls in _listed(spec.get("tls")):
            if isinstance(tls, dict) and isinstance(tls.get("hosts"), list):
                tls["hosts"] = [hosts.get(host, host) for host in tls["hosts"]]

    def kind_horizontalpodautoscaler(self, manifest: dict[str, Any], name: str) -> None:
        spec = manifest.get("spec")
        if not isinstance(spec, dict):
            return
        target = spec.get("scaleTargetRef") or {}
        group = self.group(str(target.get("kind")), str(target.get("name", name)))
        for key in ("minReplicas", "maxReplicas"):
            if isinstance(spec.get(key), int):
                spec[key] = self.parameters.claim(
                    [group, "autoscaling", key], default=spec[key], description=f"{key} of {name}"
                )


def bootstrap_template(
    objects: Sequence[Mapping[str, Any]],
    *,
    name: str,
    kubernetes_version: str,
    version: str = "0.1.0",
    description: str = "",
) -> BootstrapResult:
    """A template document for ``objects`` (cleaned Kubernetes objects, in order)."""
    kept, label_notes = keep_selected_labels(objects)
    builder = _Builder(kept)
    builder.notes.extend(label_notes)
    resources = builder.resources()
    manifests = [resource["manifest"] for resource in resources]
    builder.notes.extend(
        follow_release_namespace(manifests, builder.moved, created=builder.left_out)
    )
    builder.notes.extend(follow_service_ports(manifests, builder.service_ports))
    for binding in builder.kept_bindings:
        binding["name"] = "${ctx.name}-" + binding["name"]
    builder.notes.extend(name_cluster_objects(resources, builder.parameters.tree))
    metadata: dict[str, Any] = {"name": name, "version": version}
    metadata["description"] = description or f"Bootstrapped from {len(resources)} object(s)"
    document: dict[str, Any] = {
        "apiVersion": "helmforge.dev/v1",
        "kind": "Template",
        "metadata": metadata,
        "spec": {"kubernetesVersion": kubernetes_version},
    }
    if builder.parameters.tree:
        document["spec"]["values"] = builder.parameters.tree
    document["spec"]["resources"] = resources
    for namespace, moved in sorted(builder.moved.items()):
        builder.notes.append(
            f"metadata.namespace {namespace} removed from {', '.join(moved)}: "
            "they install into the release namespace"
        )
    if len(builder.moved) > 1:
        builder.notes.append(
            f"the objects came from {len(builder.moved)} namespaces "
            f"({', '.join(sorted(builder.moved))}); the chart installs all of them into the one "
            "release namespace (split the input into one template per namespace to keep them "
            "apart)"
        )
    return BootstrapResult(document, builder.notes)
