"""Template init as the import tests drive it: objects in, the template written, its chart
generated, Helm-linted and rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.access.principals import local_operator
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.templates.parsing import parse_template
from helmforge.services.template_bootstrap import InitResult, init_template_file
from tests.support.charts import write_chart
from tests.support.helm import assert_helm_lints

CONTEXT = {
    "product": "shop",
    "customer": "acme",
    "environment": "dev",
    "instance": "a1",
    "version": "1.0.0",
}


def init_objects(
    tmp_path: Path, *sources: str | Path, name: str = "app"
) -> tuple[Path, InitResult]:
    """``template init`` of ``sources`` (text, written to files, or paths) into NAME.yaml."""
    paths: list[str] = []
    for index, source in enumerate(sources):
        if isinstance(source, Path):
            paths.append(str(source))
        else:
            written = tmp_path / f"input-{index}.yaml"
            written.write_text(source)
            paths.append(str(written))
    out = tmp_path / f"{name}.yaml"
    result = init_template_file(
        paths,
        name=name,
        out=out,
        kubernetes_version="1.31",
        stdin=None,
        open_store=None,
        actor=local_operator("t"),
    )
    return out, result


def chart_files(template_file: Path, into: Path, **context: str) -> dict[str, str]:
    """Render, write and Helm-lint the chart; its files as text."""
    template = parse_template(template_file.read_bytes(), source=str(template_file))
    chart = render_chart(
        template,
        parse_context({**CONTEXT, **context}),
        schemas=load_schema_set("1.31"),
        generator_version="test",
    )
    assert_helm_lints(write_chart(chart, into))
    return {path: data.decode() for path, data in chart.files.items()}


def rendered_objects(
    out: Path, into: Path, namespace: str, *, instance: str = "a1"
) -> dict[tuple[str, str], Any]:
    """Helm's objects of the chart as release ``namespace`` gets them, keyed by kind and
    name; cluster-scoped names without the chart name."""
    from helmforge.adapters import helm_render

    chart_files(out, into, instance=instance)
    chart = f"shop-acme-dev-{instance}"
    manifest = helm_render.render_chart(into / chart, {}, release_name=chart, namespace=namespace)
    found = {}
    for item in yaml.safe_load_all(manifest):
        if item:
            name = item["metadata"]["name"]
            if "namespace" not in item["metadata"]:
                name = name.removeprefix(f"{chart}-")
            found[(item["kind"], name)] = item
    return found
