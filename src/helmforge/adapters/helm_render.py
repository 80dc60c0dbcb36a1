"""Helm's own rendering of a chart: the manifests Argo CD would apply for some values.

helm-sdkpy has no client-side ``template`` and its ``Install`` has no dry run, so a render is
an ``Install`` against a stand-in Kubernetes API on loopback (one per process, started on first
use, bound to 127.0.0.1 on a free port). For each render the stand-in is an empty cluster:
it answers the discovery Helm needs (``/version``, ``/api``, ``/apis`` and each group's
resource list, for the Kubernetes version asked for; an empty OpenAPI document, which Helm
reads to check hooks), says any object Helm looks up is absent, and accepts each create
(Helm's objects and, unless the process started with ``HELM_DRIVER=memory``, its release
Secret) by echoing it back. Objects created as JSON are kept until the attempt ends and
listed, a Job as complete and a Pod as succeeded, so Helm sees its hooks ready and goes on;
watches end at once. The release manifest Helm returns, then its hooks (as ``helm template``
prints them), is the answer.

Each render has its own path on the stand-in (``/r/<token>``), so concurrent renders never
see each other's discovery. A kind the stand-in does not know (a custom resource) fails
Helm's mapping with "no matches for kind"; it is added to that render's discovery and the
render runs again, so the answer depends only on the chart, the values and the Kubernetes
version. The Go library's calls are serialized; each render is bounded by a deadline and
never holds the caller longer (a render past it keeps the library until Helm's own timeout,
the same deadline, ends it).

``lookup`` sees an empty cluster, as with ``helm template``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_KUBE_VERSION", "render_available", "render_chart"]

import asyncio
import importlib.util
import json
import math
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from helmforge.core.errors import ExternalServiceError, InputError, Location

DEFAULT_KUBE_VERSION = "1.31.0"
_MAX_LEARNED_KINDS = 64

# The built-in kinds the stand-in's discovery lists: (kind, plural, namespaced).
_BUILT_IN: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "v1": (
        ("ConfigMap", "configmaps", True),
        ("Endpoints", "endpoints", True),
        ("Event", "events", True),
        ("LimitRange", "limitranges", True),
        ("Namespace", "namespaces", False),
        ("Node", "nodes", False),
        ("PersistentVolume", "persistentvolumes", False),
        ("PersistentVolumeClaim", "persistentvolumeclaims", True),
        ("Pod", "pods", True),
        ("PodTemplate", "podtemplates", True),
        ("ReplicationController", "replicationcontrollers", True),
        ("ResourceQuota", "resourcequotas", True),
        ("Secret", "secrets", True),
        ("Service", "services", True),
        ("ServiceAccount", "serviceaccounts", True),
    ),
    "apps/v1": (
        ("ControllerRevision", "controllerrevisions", True),
        ("DaemonSet", "daemonsets", True),
        ("Deployment", "deployments", True),
        ("ReplicaSet", "replicasets", True),
        ("StatefulSet", "statefulsets", True),
    ),
    "batch/v1": (("CronJob", "cronjobs", True), ("Job", "jobs", True)),
    "autoscaling/v2": (("HorizontalPodAutoscaler", "horizontalpodautoscalers", True),),
    "autoscaling/v1": (("HorizontalPodAutoscaler", "horizontalpodautoscalers", True),),
    "policy/v1": (("PodDisruptionBudget", "poddisruptionbudgets", True),),
    "networking.k8s.io/v1": (
        ("Ingress", "ingresses", True),
        ("IngressClass", "ingressclasses", False),
        ("NetworkPolicy", "networkpolicies", True),
    ),
    "rbac.authorization.k8s.io/v1": (
        ("ClusterRole", "clusterroles", False),
        ("ClusterRoleBinding", "clusterrolebindings", False),
        ("Role", "roles", True),
        ("RoleBinding", "rolebindings", True),
    ),
    "apiextensions.k8s.io/v1": (("CustomResourceDefinition", "customresourcedefinitions", False),),
    "storage.k8s.io/v1": (
        ("CSIDriver", "csidrivers", False),
        ("StorageClass", "storageclasses", False),
    ),
    "scheduling.k8s.io/v1": (("PriorityClass", "priorityclasses", False),),
    "coordination.k8s.io/v1": (("Lease", "leases", True),),
    "discovery.k8s.io/v1": (("EndpointSlice", "endpointslices", True),),
    "admissionregistration.k8s.io/v1": (
        ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
        ("ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False),
    ),
    "certificates.k8s.io/v1": (("CertificateSigningRequest", "certificatesigningrequests", False),),
}
_FINISHED: dict[str, dict[str, Any]] = {
    "Job": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    "Pod": {"phase": "Succeeded"},
}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_NO_MATCH = re.compile(r'no matches for kind "([^"]+)" in version "([^"]+)"')
# Where Helm says a template failed: "(chart/templates/x.yaml:6:8)",
# "template: chart/templates/x.yaml:21:24: executing ..." or "chart/templates/x.yaml:21:32".
_LOCATION = re.compile(r"([\w.-]+(?:/[\w.-]+)*/templates/[\w./-]+):(\d+)")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")


@dataclass(slots=True)
class _Cluster:
    """One render's view of the stand-in: its Kubernetes version and the kinds it lists."""

    major: str
    minor: str
    git_version: str
    kinds: dict[str, list[tuple[str, str, bool]]] = field(default_factory=dict)
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def keep(self, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        """Keep an object created in ``collection`` as a cluster would have it: a resource
        version, a uid, and a Job complete or a Pod succeeded (a hook Helm waits for)."""
        count = sum(len(kept) for kept in self.objects.values())
        metadata = data.setdefault("metadata", {})
        metadata.update(resourceVersion="1", uid=f"00000000-0000-0000-0000-{count:012d}")
        status = _FINISHED.get(str(data.get("kind")))
        if status is not None:
            data["status"] = status
        self.objects.setdefault(collection, []).append(data)
        return data

    def learn(self, kind: str, group_version: str) -> bool:
        known = self.kinds.setdefault(group_version, [])
        if any(entry[0] == kind for entry in known):
            return False
        known.append((kind, kind.lower() + "s", True))
        return True

    def resources(self, group_version: str) -> list[tuple[str, str, bool]] | None:
        return self.kinds.get(group_version)


def _cluster_of(kube_version: str) -> _Cluster:
    found = _VERSION.match(kube_version.strip())
    if found is None:
        raise InputError(
            f"Kubernetes version {kube_version!r} is not MAJOR.MINOR[.PATCH] (e.g. 1.31.0)",
            location=Location(path="kubernetesVersion"),
        )
    major, minor, patch = found.group(1), found.group(2), found.group(3) or "0"
    return _Cluster(
        major=major,
        minor=minor,
        git_version=f"v{major}.{minor}.{patch}",
        kinds={gv: list(entries) for gv, entries in _BUILT_IN.items()},
    )


class _StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (Helm closing a watch) is no error worth printing."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.clusters: dict[str, _Cluster] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def cluster(self, token: str) -> _Cluster | None:
        with self.lock:
            return self.clusters.get(token)


def _resource_list(group_version: str, entries: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": _VERBS,
            }
            for kind, plural, namespaced in entries
        ],
    }


def _group_list(cluster: _Cluster) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for group_version in cluster.kinds:
        if "/" in group_version:
            group, version = group_version.split("/", 1)
            groups.setdefault(group, []).append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{group}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for group, versions in groups.items()
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm each answer would wait
    # for the client's delayed ACK (some 40 ms, a render makes about 25 requests one by one).
    disable_nagle_algorithm = True
    server: _StandIn

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, status: int, data: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(data).encode())

    def _absent(self, status: int = 404, reason: str = "NotFound") -> None:
        self._json(
            status,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": reason,
                "code": status,
            },
        )

    def _route(self) -> tuple[_Cluster, list[str], str] | None:
        path, _, query = self.path.partition("?")
        parts = [part for part in path.split("/") if part]
        if len(parts) < 2 or parts[0] != "r":
            return None
        cluster = self.server.cluster(parts[1])
        return None if cluster is None else (cluster, parts[2:], query)

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return self._absent()
        cluster, parts, query = routed
        if parts == ["version"]:
            return self._json(
                200,
                {
                    "major": cluster.major,
                    "minor": cluster.minor,
                    "gitVersion": cluster.git_version,
                    "platform": "linux/amd64",
                },
            )
        if parts == ["api"]:
            return self._json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            return self._json(200, _group_list(cluster))
        if parts == ["openapi", "v3"]:
            return self._json(200, {"paths": {}})
        if parts == ["openapi", "v2"]:  # an OpenAPI v2 Document in protobuf: swagger "2.0"
            return self._send(200, b"\x0a\x032.0", "application/octet-stream")
        group_version, rest = _split_group_version(parts)
        entries = cluster.resources(group_version) if group_version else None
        if entries is None:
            return self._absent()
        if not rest:
            return self._json(200, _resource_list(group_version, entries))
        if "watch=" in query:
            return self._send(200, b"")  # the watch ends at once; Helm lists again
        if len(rest) % 2 == 0:
            return self._absent()  # one object (``.../NAME``): Helm only looks before creating
        kind = next((k for k, plural, _ in entries if plural == rest[-1]), "")
        with self.server.lock:
            items = list(cluster.objects.get("/".join(parts), []))
        return self._json(
            200,
            {
                "kind": f"{kind}List",
                "apiVersion": group_version,
                "metadata": {"resourceVersion": "1"},
                "items": items,
            },
        )

    def _echo(self, status: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        routed = self._route()
        if routed is None:
            self._absent()
            return
        cluster, parts, _ = routed
        content_type = self.headers.get("Content-Type") or "application/json"
        if self.command == "POST" and content_type.startswith("application/json"):
            with self.server.lock:
                kept = cluster.keep("/".join(parts), json.loads(body))
            body = json.dumps(kept).encode()
        self._send(status, body, content_type)

    def do_POST(self) -> None:
        self._echo(201)

    def do_PUT(self) -> None:
        self._echo(200)

    def do_PATCH(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._absent()

    def do_DELETE(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._absent()


def _split_group_version(parts: list[str]) -> tuple[str, list[str]]:
    """``/api/v1/...`` and ``/apis/GROUP/VERSION/...`` as (group version, what follows)."""
    if len(parts) >= 2 and parts[0] == "api":
        return parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return f"{parts[1]}/{parts[2]}", parts[3:]
    return "", []


_STAND_INS: list[_StandIn] = []  # the process's one stand-in, once started
_STAND_IN_LOCK = threading.Lock()
_HELM_LOCK = threading.Lock()


def _stand_in() -> _StandIn:
    with _STAND_IN_LOCK:
        if not _STAND_INS:
            server = _StandIn()
            threading.Thread(
                target=server.serve_forever, name="helm-render-stand-in", daemon=True
            ).start()
            _STAND_INS.append(server)
        return _STAND_INS[0]


def render_available() -> bool:
    """True when helm-sdkpy can be imported (it is an optional dependency)."""
    return importlib.util.find_spec("helm_sdkpy") is not None


def _kubeconfig(url: str, namespace: str) -> str:
    """A kubeconfig for the stand-in, as text (helm-sdkpy takes YAML content in place of a
    file when it starts with ``apiVersion:``)."""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        f"clusters: [{{name: stand-in, cluster: {{server: {json.dumps(url)}}}}}]\n"
        "users: [{name: stand-in, user: {}}]\n"
        "contexts: [{name: stand-in, context: "
        f"{{cluster: stand-in, user: stand-in, namespace: {json.dumps(namespace)}}}}}]\n"
        "current-context: stand-in\n"
    )


def _install(
    kubeconfig: str,
    chart: Path,
    values: Mapping[str, Any],
    *,
    release_name: str,
    namespace: str,
    timeout: int,
    skip_schema_validation: bool,
) -> dict[str, Any]:
    import helm_sdkpy

    config = helm_sdkpy.Configuration(namespace=namespace, kubeconfig=kubeconfig)
    result: dict[str, Any] = asyncio.run(
        helm_sdkpy.Install(config).run(
            release_name,
            str(chart),
            values=dict(values),
            wait=False,
            timeout=timeout,
            skip_schema_validation=skip_schema_validation,
        )
    )
    return result


# Helm could not talk to the stand-in (Go's "Post \"http://127.0.0.1:…\": EOF" and the like).
_UNREACHABLE = re.compile(
    r'cluster unreachable|connection refused|(?:Get|Post|Put|Patch|Delete) "http://127\.0\.0\.1'
)


def _helm_error(error: Exception, source: str) -> InputError | ExternalServiceError:
    """Helm's message as it is: a template's failure located at the first template file and
    line it names, a chart Helm refuses at ``source``; a library that does not load or a
    stand-in Helm could not reach is not the chart's fault."""
    import helm_sdkpy

    text = str(error).removeprefix("install failed: ").strip()
    found = _LOCATION.search(text)
    if found is not None:
        return InputError(
            f"Helm cannot render the chart: {text}",
            location=Location(found.group(1), line=int(found.group(2))),
        )
    if isinstance(error, helm_sdkpy.HelmLibraryNotFound) or _UNREACHABLE.search(text):
        return ExternalServiceError(f"Helm could not render the chart: {text}")
    return InputError(f"Helm cannot render the chart: {text}", location=Location(source))


def render_chart(
    chart: Path | bytes,
    values: Mapping[str, Any],
    *,
    release_name: str,
    namespace: str,
    kube_version: str = DEFAULT_KUBE_VERSION,
    deadline: float = 30.0,
    skip_schema_validation: bool = False,
    source: str | None = None,
) -> str:
    """Render ``chart`` (a folder, a .tgz file, or a .tgz's bytes) with ``values`` as Helm
    installs it as release ``release_name`` in ``namespace`` on a cluster of
    ``kube_version``: the release manifest, ``# Source:`` comments included, then the
    hooks' manifests, as ``helm template`` prints them (Argo CD applies hooks as its own).

    ``skip_schema_validation``: render values the chart's values.schema.json refuses too.
    ``source`` names the chart in errors Helm gives no template location for (default: its
    path, ``<chart archive>`` for bytes). Raises ``InputError`` when Helm refuses the chart
    or a template fails (Helm's message, located at the template file and line it names),
    ``ExternalServiceError`` when helm-sdkpy is missing or the render (waiting for the
    library included) takes longer than ``deadline`` seconds.
    """
    if not render_available():
        raise ExternalServiceError(
            "helm-sdkpy is not installed; Helm cannot render charts here "
            "(pip install 'helmforge[helm]')"
        )
    ends = time.monotonic() + deadline
    how: dict[str, Any] = {
        "cluster": _cluster_of(kube_version),
        "ends": ends,
        "release_name": release_name,
        "namespace": namespace,
        "skip_schema_validation": skip_schema_validation,
        "source": source or ("<chart archive>" if isinstance(chart, bytes) else str(chart)),
    }
    if not isinstance(chart, bytes):
        return _render(chart, values, **how)
    with tempfile.TemporaryDirectory(prefix="helmforge-render-") as folder:
        path = Path(folder) / "chart.tgz"
        path.write_bytes(chart)
        return _render(path, values, **how)


def _render(
    chart: Path,
    values: Mapping[str, Any],
    *,
    cluster: _Cluster,
    ends: float,
    release_name: str,
    namespace: str,
    skip_schema_validation: bool,
    source: str,
) -> str:
    import helm_sdkpy

    server = _stand_in()
    token = secrets.token_hex(8)
    with server.lock:
        server.clusters[token] = cluster
    kubeconfig = _kubeconfig(f"{server.url}/r/{token}", namespace)
    try:
        for _ in range(_MAX_LEARNED_KINDS + 1):
            with server.lock:
                cluster.objects.clear()  # each attempt starts on an empty cluster
            try:
                result = _bounded(
                    lambda: _install(
                        kubeconfig,
                        chart,
                        values,
                        release_name=release_name,
                        namespace=namespace,
                        timeout=max(1, math.ceil(ends - time.monotonic())),
                        skip_schema_validation=skip_schema_validation,
                    ),
                    ends=ends,
                    what="Helm's render of the chart",
                )
            except helm_sdkpy.HelmError as error:
                missing = _NO_MATCH.search(str(error))
                if missing is not None:
                    with server.lock:
                        learned = cluster.learn(missing.group(1), missing.group(2))
                    if learned:
                        continue
                raise _helm_error(error, source) from None
            return _printed(result)
        raise InputError(
            f"Helm cannot render the chart: more than {_MAX_LEARNED_KINDS} kinds outside "
            "Kubernetes' own",
            location=Location(source),
        )
    finally:
        with server.lock:
            server.clusters.pop(token, None)


def _printed(release: Mapping[str, Any]) -> str:
    """The release as ``helm template`` prints it: the manifest, then each hook."""
    hooks = "".join(
        f"---\n# Source: {hook.get('path', '')}\n{hook.get('manifest', '')}\n"
        for hook in release.get("hooks") or []
        if isinstance(hook, Mapping)
    )
    return str(release.get("manifest", "")) + hooks


def _bounded(call: Any, *, ends: float, what: str) -> dict[str, Any]:
    """Run ``call`` on its own thread holding the library; give up at ``ends``."""
    remaining = ends - time.monotonic()
    if remaining <= 0 or not _HELM_LOCK.acquire(timeout=remaining):
        raise ExternalServiceError(f"{what} waited for Helm past its deadline")
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error
        finally:
            _HELM_LOCK.release()
            done.set()

    threading.Thread(target=run, name="helm-render", daemon=True).start()
    if not done.wait(max(0.0, ends - time.monotonic())):
        raise ExternalServiceError(f"{what} did not finish within its deadline")
    if "error" in outcome:
        raise outcome["error"]
    result: dict[str, Any] = outcome["result"]
    return result
