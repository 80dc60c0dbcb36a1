"""Helm's rendering of a chart (adapters/helm_render) beside helmforge's own substitution.

The values preview renders an instance's chart twice with Helm (helm-sdkpy ``Install``
against the loopback stand-in cluster); without helm-sdkpy it substitutes the template's
resources itself (``core.charts.manifest_previews``), which is what Helm would be measured
against here: ``helm template`` itself is not installed. Each example template's chart is
rendered both ways; figures are milliseconds per render (best of ROUNDS x REPEAT), then the
first render of the process (the Go library loaded, the stand-in started) and renders from
THREADS threads at once (the library's calls are serialized: the figure is the wall time per
render).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helmforge.adapters import helm_render
from helmforge.adapters.archives import pack_chart
from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.manifest_previews import preview_manifests
from helmforge.core.charts.rendering import effective_values, render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.templates.parsing import parse_template

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "templates"
ROUNDS = 3
REPEAT = 10
THREADS = 4
_OVERRIDES: dict[str, dict[str, object]] = {
    "stateful-store.yaml": {"password": "s3cret"},
    "config-edge-cases.yaml": {"code": "XYZ"},
}
CONTEXT = {
    "product": "ledger",
    "customer": "acme",
    "environment": "prod",
    "instance": "a1",
    "version": "3.4.0",
}


def _best(call: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPEAT):
            call()
        best = min(best, time.perf_counter() - start)
    return best / REPEAT * 1e3


def run() -> dict[str, float | str]:
    """Render every example chart both ways; print a table."""
    figures: dict[str, float | str] = {}
    if not helm_render.render_available():
        print("helm_render benchmark skipped: helm-sdkpy is not installed")
        return {"skipped": "helm-sdkpy is not installed"}
    context = parse_context(CONTEXT)
    cases = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        template = parse_template(path.read_bytes(), source=path.name)
        overrides = _OVERRIDES.get(path.name, {})
        chart = render_chart(
            template,
            context,
            schemas=load_schema_set(template.kubernetes_version),
            overrides=overrides,
            generator_version="0.0.0-bench",
        )
        archive = pack_chart(chart.name, dict(chart.files))
        values, _ = effective_values(template, context, overrides=overrides)
        cases.append((path.stem, template, archive, values))

    def helm(archive: bytes, version: str) -> str:
        return helm_render.render_chart(
            archive,
            {},
            release_name="ledger-acme-prod-a1",
            namespace="ledger",
            kube_version=version,
        )

    start = time.perf_counter()
    helm(cases[0][2], cases[0][1].kubernetes_version)
    first = (time.perf_counter() - start) * 1e3
    print(f"helm_render benchmark (milliseconds per render, best of {ROUNDS} x {REPEAT})")
    print(f"  {'chart':<20}  {'helm':>7}  {'substitution':>12}  ratio")
    for name, template, archive, values in cases:
        assert helm(archive, template.kubernetes_version) == helm(
            archive, template.kubernetes_version
        )
        own = _best(lambda a=archive, t=template: helm(a, t.kubernetes_version))
        substituted = _best(lambda t=template, v=values: preview_manifests(t, context, v))
        print(f"  {name:<20}  {own:7.2f}  {substituted:12.3f}  {own / substituted:6.0f}")
        figures[f"{name} helm ms"] = round(own, 2)
    name, template, archive, _ = cases[-1]
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=lambda: [helm(archive, template.kubernetes_version) for _ in range(REPEAT)]
        )
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    concurrent = (time.perf_counter() - start) / (THREADS * REPEAT) * 1e3
    print(f"  first render of the process: {first:.0f} ms")
    print(f"  {THREADS} threads at once ({name}): {concurrent:.2f} ms per render")
    figures["first render ms"] = round(first, 1)
    figures["concurrent ms per render"] = round(concurrent, 2)
    return figures


if __name__ == "__main__":
    run()
