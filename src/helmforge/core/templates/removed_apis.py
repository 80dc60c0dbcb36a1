"""Kubernetes API versions that the API server no longer serves, as data.

The schema sets only know what a Kubernetes release serves, so a removed apiVersion looks
like an unknown kind (a CRD) and would pass with a warning; Helm then cannot install it.
``removed_api`` names the replacement and the release that removed the old version, from
the Kubernetes deprecated API migration guide.
"""

from __future__ import annotations

__all__ = ["REMOVED_APIS", "RemovedApi", "removed_api", "removed_api_message"]

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RemovedApi:
    """``api_version``/``kind`` is not served from Kubernetes ``removed_in`` (``"1.25"``) on.

    ``replacement`` is the apiVersion to use instead, or None when the kind has none.
    """

    api_version: str
    kind: str
    removed_in: str
    replacement: str | None
    note: str = ""


def _table(
    removed_in: str, replacement: str | None, api_versions: tuple[str, ...], kinds: str
) -> list[RemovedApi]:
    return [
        RemovedApi(api_version, kind, removed_in, replacement)
        for api_version in api_versions
        for kind in kinds.split()
    ]


REMOVED_APIS: tuple[RemovedApi, ...] = (
    *_table("1.16", "apps/v1", ("extensions/v1beta1",), "Deployment DaemonSet ReplicaSet"),
    *_table(
        "1.16",
        "apps/v1",
        ("apps/v1beta1", "apps/v1beta2"),
        "Deployment DaemonSet ReplicaSet StatefulSet ControllerRevision",
    ),
    *_table("1.16", "networking.k8s.io/v1", ("extensions/v1beta1",), "NetworkPolicy"),
    *_table("1.16", "policy/v1beta1", ("extensions/v1beta1",), "PodSecurityPolicy"),
    *_table(
        "1.22",
        "admissionregistration.k8s.io/v1",
        ("admissionregistration.k8s.io/v1beta1",),
        "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
    ),
    *_table(
        "1.22",
        "apiextensions.k8s.io/v1",
        ("apiextensions.k8s.io/v1beta1",),
        "CustomResourceDefinition",
    ),
    *_table("1.22", "apiregistration.k8s.io/v1", ("apiregistration.k8s.io/v1beta1",), "APIService"),
    *_table("1.22", "authentication.k8s.io/v1", ("authentication.k8s.io/v1beta1",), "TokenReview"),
    *_table(
        "1.22",
        "authorization.k8s.io/v1",
        ("authorization.k8s.io/v1beta1",),
        "SubjectAccessReview LocalSubjectAccessReview SelfSubjectAccessReview",
    ),
    *_table(
        "1.22",
        "certificates.k8s.io/v1",
        ("certificates.k8s.io/v1beta1",),
        "CertificateSigningRequest",
    ),
    *_table("1.22", "coordination.k8s.io/v1", ("coordination.k8s.io/v1beta1",), "Lease"),
    *_table(
        "1.22",
        "networking.k8s.io/v1",
        ("extensions/v1beta1", "networking.k8s.io/v1beta1"),
        "Ingress",
    ),
    *_table("1.22", "networking.k8s.io/v1", ("networking.k8s.io/v1beta1",), "IngressClass"),
    *_table(
        "1.22",
        "rbac.authorization.k8s.io/v1",
        ("rbac.authorization.k8s.io/v1beta1",),
        "ClusterRole ClusterRoleBinding Role RoleBinding",
    ),
    *_table("1.22", "scheduling.k8s.io/v1", ("scheduling.k8s.io/v1beta1",), "PriorityClass"),
    *_table(
        "1.22",
        "storage.k8s.io/v1",
        ("storage.k8s.io/v1beta1",),
        "CSIDriver CSINode StorageClass VolumeAttachment",
    ),
    *_table("1.25", "batch/v1", ("batch/v1beta1",), "CronJob"),
    *_table("1.25", "discovery.k8s.io/v1", ("discovery.k8s.io/v1beta1",), "EndpointSlice"),
    *_table("1.25", "events.k8s.io/v1", ("events.k8s.io/v1beta1",), "Event"),
    *_table("1.25", "autoscaling/v2", ("autoscaling/v2beta1",), "HorizontalPodAutoscaler"),
    *_table("1.25", "policy/v1", ("policy/v1beta1",), "PodDisruptionBudget"),
    RemovedApi(
        "policy/v1beta1",
        "PodSecurityPolicy",
        "1.25",
        None,
        "use Pod Security Admission (namespace labels pod-security.kubernetes.io/*)",
    ),
    *_table("1.25", "node.k8s.io/v1", ("node.k8s.io/v1beta1",), "RuntimeClass"),
    *_table("1.26", "autoscaling/v2", ("autoscaling/v2beta2",), "HorizontalPodAutoscaler"),
    *_table(
        "1.26",
        "flowcontrol.apiserver.k8s.io/v1",
        ("flowcontrol.apiserver.k8s.io/v1beta1",),
        "FlowSchema PriorityLevelConfiguration",
    ),
    *_table("1.27", "storage.k8s.io/v1", ("storage.k8s.io/v1beta1",), "CSIStorageCapacity"),
    *_table(
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1",
        ("flowcontrol.apiserver.k8s.io/v1beta2",),
        "FlowSchema PriorityLevelConfiguration",
    ),
    *_table(
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1",
        ("flowcontrol.apiserver.k8s.io/v1beta3",),
        "FlowSchema PriorityLevelConfiguration",
    ),
)
_BY_IDENTITY = {(entry.api_version, entry.kind): entry for entry in REMOVED_APIS}
_MINOR = re.compile(r"(\d+)\.(\d+)")


def _minor(version: str) -> tuple[int, int] | None:
    found = _MINOR.match(version)
    return (int(found[1]), int(found[2])) if found else None


def removed_api(api_version: str, kind: str, kubernetes_version: str) -> RemovedApi | None:
    """The removal that makes ``api_version``/``kind`` unusable on ``kubernetes_version``."""
    entry = _BY_IDENTITY.get((api_version, kind))
    target = _minor(kubernetes_version)
    if entry is None or target is None:
        return None
    removed = _minor(entry.removed_in)
    return entry if removed is not None and target >= removed else None


def removed_api_message(
    entry: RemovedApi, kubernetes_version: str = "", *, subject: str = ""
) -> str:
    """What to write instead, for a problem or an error; ``subject`` says what the target is
    (default: this template targets ``kubernetes_version``)."""
    instead = (
        f"use apiVersion: {entry.replacement}"
        if entry.replacement
        else (entry.note or "it has no replacement")
    )
    return (
        f"{entry.kind} {entry.api_version} was removed in Kubernetes {entry.removed_in} "
        f"({subject or f'this template targets {kubernetes_version}'}), so Helm cannot "
        f"install it: {instead}"
    )
