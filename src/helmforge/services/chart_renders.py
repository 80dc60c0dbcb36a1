"""Helm's rendering of an instance's chart, object by object: what Argo CD would apply.

The chart is built as an upgrade builds it (``chart_builds.instance_chart_archive``: template
and context only, nothing recorded or published) and rendered by Helm
(``adapters.helm_render``) with the overrides as the instance's values.yaml, under the
Application's release name and destination namespace, for the template's Kubernetes version.
The values preview uses it; fleet work over many instances can too (renders are serialized in
a process; a few tens of milliseconds each for a chart like the example's).
"""

from __future__ import annotations

__all__ = ["helm_available", "instance_objects"]

from collections.abc import Mapping
from typing import Any

from helmforge.adapters import helm_render
from helmforge.core.manifests.rendered import objects_of_manifest
from helmforge.core.templates.models import Template
from helmforge.services import chart_builds
from helmforge.services.instance_records import InstanceView


def helm_available() -> bool:
    """True when helm-sdkpy is installed (an optional dependency: ``helmforge[helm]``)."""
    return helm_render.render_available()


def instance_objects(
    view: InstanceView,
    template: Template,
    overrides: Mapping[str, Any],
    *,
    deadline: float,
    chart_version: str | None = None,
) -> dict[str, str]:
    """Helm's objects of ``view``'s chart built from ``template`` (``chart_version``: the
    version to stamp, else what the template's policy gives) with ``overrides``, by
    ``KIND/NAMESPACE/NAME``, each as the text Helm printed. Values the chart's schema refuses
    are rendered too. Raises ``InputError`` with Helm's message at the template file and line
    when a template fails, ``ExternalServiceError`` when helm-sdkpy is missing or the render
    takes longer than ``deadline`` seconds."""
    name, archive = chart_builds.instance_chart_archive(
        template, view.context, chart_version=chart_version
    )
    manifest = helm_render.render_chart(
        archive,
        overrides,
        release_name=view.app_name,
        namespace=view.namespace,
        kube_version=template.kubernetes_version,
        deadline=deadline,
        skip_schema_validation=True,
        source=f"chart {name} of {template.name}@{template.version}",
    )
    return objects_of_manifest(manifest, source=f"chart {name}")
