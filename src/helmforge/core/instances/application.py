"""The Argo CD ``Application`` of an instance (DESIGN §6), pure.

Multi-source, in this order:

1. the chart from the OCI registry as a Helm source (``repoURL: <registry host/path>`` without
   ``oci://``, ``chart``, ``targetRevision: <chart version>``), reading its values from
   ``$values/<folder>/values.yaml``;
2. the GitOps repository with ``ref: values``, which is what makes ``$values`` resolve. Argo CD
   resolves ``$values/...`` from the root of the ref source, so the file path is the full path
   in the repository, base path included.

The destination namespace is ``<product>-<customer>-<environment>-<instance>`` unless the caller
passes another one. Without ``automated`` there is no ``syncPolicy.automated``: helmforge asks
Argo CD to sync the exact revision it pushed, so a sync never picks up a commit nobody reviewed.
With it (the auto-sync environments, ``dev`` by default) the Application carries
``syncPolicy.automated`` (prune and self-heal): Argo CD rolls out each pushed commit itself and
helmforge refreshes and waits for it.
"""

from __future__ import annotations

__all__ = [
    "APPLICATION_LABEL",
    "VALUES_REF",
    "ApplicationSpec",
    "application_manifest",
    "application_selector",
    "application_yaml",
    "check_branch",
    "check_git_url",
    "check_registry_location",
]

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from helmforge.core.errors import InputError, Location
from helmforge.core.instances.layout import InstanceId, normalize_base_path
from helmforge.core.versions import parse_semver
from helmforge.core.yaml_codec import dump_yaml

VALUES_REF = "values"
#: The label carrying the Application's own name, so that a label selector (Argo CD's list
#: operation takes ``selector``, not a list of names) picks exactly the Applications asked for.
APPLICATION_LABEL = "helmforge.io/application"
_CHART_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?\Z")
# host[:port][/path], as Argo CD wants it for an OCI Helm repository (no scheme, no userinfo).
_REGISTRY = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9]+([._/-][a-z0-9]+)*)?\Z")
_GIT_URL = re.compile(
    r"(https?|ssh)://[^\s@/]+(@[^\s@/]+)?(/[^\s]*)?\Z|[A-Za-z0-9._-]+@[^\s:/]+:\S+\Z"
)
# A branch name as Git's check-ref-format --branch takes it, narrowed to plain characters: no
# leading '-' (read as an option), no '..', no folder starting with '.' or ending '.lock'.
_BRANCH = re.compile(
    r"(?!-)(?!HEAD\Z)(?!.*\.\.)(?!/)(?!.*//)(?!\.|.*/\.)(?!.*\.lock(/|\Z))"
    r"[A-Za-z0-9._/-]{1,255}(?<![./])\Z"
)
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def check_registry_location(text: str, *, source: str = "registry") -> str:
    """``host[:port][/path]`` for the chart source, or ``InputError`` (a scheme or userinfo is
    refused, the latter without echoing it: it may hold a password)."""
    if "@" in text:
        raise InputError(
            "the registry location must not contain userinfo (user:password@); credentials "
            "belong in the Argo CD repository secret",
            location=Location(source),
        )
    if not _REGISTRY.match(text):
        raise InputError(
            f"registry location {text!r} is not valid: expected host[:port][/path] without a "
            "scheme (Argo CD adds oci:// itself for a Helm OCI repository)",
            location=Location(source),
        )
    return text


def check_git_url(text: str, *, source: str = "repository.url") -> str:
    """An ``https://``, ``http://``, ``ssh://`` or ``user@host:path`` URL, or ``InputError``.

    A password in the userinfo (``https://user:secret@host``) is refused and never echoed; an SSH
    user name (``git@``) is fine.
    """
    scheme_end = text.find("://")
    authority = text[scheme_end + 3 :].split("/", 1)[0] if scheme_end >= 0 else ""
    if "@" in authority and (":" in authority.split("@", 1)[0] or text.startswith("http")):
        raise InputError(
            "the repository URL must not contain credentials (user:password@); pass them as "
            "username/password or an SSH key instead",
            location=Location(source),
        )
    if not _GIT_URL.match(text) or not _has_host_and_port(text):
        raise InputError(
            f"repository URL {text!r} is not valid: expected https://host/path, ssh://host/path "
            "or user@host:path (a host name or [IPv6] address, a port 1-65535; no host or user "
            "starting with '-')",
            location=Location(source),
        )
    return text


def _has_host_and_port(text: str) -> bool:
    """A host (and port, 1-65535) that no ``ssh`` or ``git`` would read as an option: neither
    the host nor the user starts with '-' (``ssh://-oProxyCommand=.../x``)."""
    if "://" not in text:  # user@host:path, matched whole by the pattern
        user, _, rest = text.partition("@")
        return not user.startswith("-") and not rest.startswith("-")
    try:
        parsed = urllib.parse.urlsplit(text)
        port = parsed.port
    except ValueError:  # an unclosed '[', a port that is no number or past 65535
        return False
    host, user = parsed.hostname or "", parsed.username or ""
    return bool(host) and port != 0 and not host.startswith("-") and not user.startswith("-")


def check_branch(branch: str, *, source: str) -> str:
    """``branch`` when it is a branch name helmforge commits to, else ``InputError``: letters,
    digits, '.', '_', '-' and '/', not starting with '-', not ``HEAD``, no '..', no folder
    starting with '.' or ending in '.lock', no leading or trailing '/' or '.'."""
    if not _BRANCH.match(branch):
        raise InputError(
            f"branch {branch[:255]!r} is not a valid Git branch name here: at most 255 letters, "
            "digits, '.', '_', '-' and '/', not starting with '-', not HEAD, no '..', no folder "
            "starting with '.' or ending in '.lock', no leading or trailing '/' or '.'",
            location=Location(source),
        )
    return branch


@dataclass(frozen=True, slots=True)
class ApplicationSpec:
    """Everything an instance's Application is built from; validated on construction.

    ``registry_location`` is the registry host and path the chart was published under (its
    ``repoURL``); ``repository_url``/``branch``/``base_path`` are the GitOps repository's.
    """

    instance: InstanceId
    chart: str
    chart_version: str
    registry_location: str
    repository_url: str
    branch: str
    base_path: str = ""
    project: str = "default"
    namespace: str | None = None
    application_namespace: str = "argocd"
    destination_server: str = "https://kubernetes.default.svc"
    automated: bool = False

    def __post_init__(self) -> None:
        if not _CHART_NAME.match(self.chart):
            raise InputError(
                f"chart name {self.chart!r} is not valid: 1-53 lower-case letters, digits and '-'",
                location=Location("application", path="chart"),
            )
        parse_semver(self.chart_version, source="application: chart_version")
        check_registry_location(self.registry_location, source="application: registry")
        check_git_url(self.repository_url, source="application: repository.url")
        check_branch(self.branch, source="application: branch")
        object.__setattr__(self, "base_path", normalize_base_path(self.base_path))
        for field in ("project", "application_namespace"):
            if not _LABEL.match(getattr(self, field)):
                raise InputError(
                    f"{field} {getattr(self, field)!r} is not valid: an RFC 1123 label",
                    location=Location("application", path=field),
                )
        if self.namespace is not None and not _LABEL.match(self.namespace):
            raise InputError(
                f"namespace {self.namespace!r} is not valid: 1-63 lower-case letters, digits "
                "and '-', starting and ending with a letter or digit",
                location=Location("application", path="namespace"),
            )

    @property
    def name(self) -> str:
        """The Application's name: the default namespace form, unique per instance. Argo CD
        copies it into the ``app.kubernetes.io/instance`` label, hence the 63-character rule."""
        return self.instance.default_namespace()

    @property
    def destination_namespace(self) -> str:
        return self.namespace or self.instance.default_namespace()

    @property
    def values_file(self) -> str:
        """The chart source's value file: ``$values/`` + the full path in the repository."""
        return f"${VALUES_REF}/{self.instance.values_path(self.base_path)}"


def application_manifest(spec: ApplicationSpec) -> dict[str, Any]:
    """The ``argoproj.io/v1alpha1`` Application of ``spec`` as plain data."""
    instance = spec.instance
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": spec.name,
            "namespace": spec.application_namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "helmforge",
                "helmforge.io/product": instance.product,
                "helmforge.io/customer": instance.customer,
                "helmforge.io/environment": instance.environment,
                "helmforge.io/instance": instance.instance,
                APPLICATION_LABEL: spec.name,
            },
        },
        "spec": {
            "project": spec.project,
            "sources": [
                {
                    "repoURL": spec.registry_location,
                    "chart": spec.chart,
                    "targetRevision": spec.chart_version,
                    "helm": {"valueFiles": [spec.values_file]},
                },
                {
                    "repoURL": spec.repository_url,
                    "targetRevision": spec.branch,
                    "ref": VALUES_REF,
                },
            ],
            "destination": {
                "server": spec.destination_server,
                "namespace": spec.destination_namespace,
            },
            "syncPolicy": _sync_policy(spec),
        },
    }


def application_selector(names: Iterable[str]) -> str:
    """The label selector naming exactly the Applications ``names`` (as helmforge writes
    them: ``APPLICATION_LABEL`` is each one's name); ``InputError`` for a name that is not a
    label value (an Application name is an RFC 1123 label, so none of helmforge's is)."""
    chosen = sorted(set(names))
    for name in chosen:
        if not _LABEL.match(name):
            raise InputError(
                f"application name {name!r} is not an RFC 1123 label",
                location=Location("application", path="metadata.name"),
            )
    if not chosen:
        raise InputError(
            "a selector names at least one application",
            location=Location("application", path="metadata.name"),
        )
    return f"{APPLICATION_LABEL} in ({','.join(chosen)})"


def _sync_policy(spec: ApplicationSpec) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if spec.automated:
        policy["automated"] = {"prune": True, "selfHeal": True}
    policy["syncOptions"] = ["CreateNamespace=true"]
    return policy


def application_yaml(spec: ApplicationSpec) -> str:
    """``application.yaml`` as written to the repository (helmforge's YAML codec: strings a
    YAML 1.1 reader would misread are quoted)."""
    return dump_yaml(application_manifest(spec))
