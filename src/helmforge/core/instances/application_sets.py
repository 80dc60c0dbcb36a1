"""One Argo CD ``ApplicationSet`` for a whole GitOps repository, pure: the alternative to one
Application applied per instance.

A Git *files* generator reads every instance's ``application.yaml``
(``<base>/*/*/*/*/application.yaml``) from the repository's branch; with ``goTemplate`` each
file's content is the template's parameters, unflattened, so the generated Application is the
file itself: name, labels, project and destination from its fields, and ``spec.sources`` and
``spec.syncPolicy`` copied whole by ``templatePatch`` (``toJson``: the sources' chart version
and value files, and ``syncPolicy.automated`` where the environment auto-syncs). helmforge keeps
writing ``application.yaml`` as before; with the ApplicationSet applied once, the
ApplicationSet controller creates and updates each Application from its file.

Only these Go-template forms are used, which a test re-implements: ``{{ .a.b }}`` (a string
field), ``{{ index .a.b "key" }}`` (a map entry whose key has dots or slashes) and
``{{ toJson .a.b }}`` (a whole value as JSON, which is YAML). The generated Applications belong
to the server's project whatever a file says.
"""

from __future__ import annotations

__all__ = ["application_set_manifest", "application_set_yaml"]

from typing import Any

from helmforge.core.errors import InputError, Location
from helmforge.core.instances.application import APPLICATION_LABEL, check_git_url
from helmforge.core.instances.layout import normalize_base_path
from helmforge.core.yaml_codec import dump_yaml

_LABELS = (
    "app.kubernetes.io/managed-by",
    "helmforge.io/product",
    "helmforge.io/customer",
    "helmforge.io/environment",
    "helmforge.io/instance",
)
_PATCH = (
    '{"spec": {"sources": {{ toJson .spec.sources }}, "syncPolicy": {{ toJson .spec.syncPolicy }}}}'
)


def application_set_manifest(
    *,
    name: str,
    repository_url: str,
    branch: str,
    base_path: str = "",
    project: str = "default",
    namespace: str = "argocd",
) -> dict[str, Any]:
    """The ``argoproj.io/v1alpha1`` ApplicationSet ``name`` generating one Application per
    ``application.yaml`` under ``base_path`` on ``branch`` of ``repository_url``, in Argo CD
    project ``project``. Raises ``InputError`` for a URL with credentials or a bad path."""
    check_git_url(repository_url, source="applicationset: repository.url")
    base = normalize_base_path(base_path)
    if not branch or any(c.isspace() for c in branch):
        raise InputError(
            f"branch {branch!r} is not valid", location=Location("applicationset", path="branch")
        )
    pattern = "/".join([*([base] if base else []), "*", "*", "*", "*", "application.yaml"])
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "helmforge"},
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [
                {
                    "git": {
                        "repoURL": repository_url,
                        "revision": branch,
                        "files": [{"path": pattern}],
                    }
                }
            ],
            "template": {
                "metadata": {
                    "name": "{{ .metadata.name }}",
                    "labels": {
                        **{
                            label: f'{{{{ index .metadata.labels "{label}" }}}}'
                            for label in _LABELS
                        },
                        # From the name, so application.yaml files written before this
                        # label existed still generate (missingkey=error).
                        APPLICATION_LABEL: "{{ .metadata.name }}",
                    },
                },
                "spec": {
                    "project": project,
                    "destination": {
                        "server": "{{ .spec.destination.server }}",
                        "namespace": "{{ .spec.destination.namespace }}",
                    },
                    "sources": [],
                },
            },
            "templatePatch": _PATCH,
            # Removing an instance's file must not delete what runs: helmforge never deletes.
            "syncPolicy": {"preserveResourcesOnDeletion": True},
        },
    }


def application_set_yaml(**fields: Any) -> str:
    """``application_set_manifest(**fields)`` as YAML, to apply once (``kubectl apply -f``)."""
    return dump_yaml(application_set_manifest(**fields))
