"""The impact view's work over a fleet (DESIGN §10) beside Helm rendering the same charts.

For INSTANCES dev instances of the example template (overrides ``{"replicaCount": 2}``) and a
new version that renames ``replicaCount`` with a migration and changes a default, one run:

- helmforge: ``core.fleet.impact.impact_of`` per instance, as the ``fleet.impact`` job calls it
  (migration, blocked reasons, the values schema check, both versions' manifests resolved and
  diffed, the effective values diffed); wall time and the process's peak RSS after it;
- Helm: the new version's chart of each instance built (``chart_builds.instance_chart_archive``)
  and rendered by Helm (``adapters.helm_render``, helm-sdkpy) one by one, which is what a user
  scripting ``helm template`` per instance would run — for one version only, where the impact
  view looks at two. Ratio: helmforge's wall time over Helm's (goal <= 0.5).

Git reads and the job's bookkeeping are left out: the benchmark measures the per-instance work
that grows with the fleet. ``HELMFORGE_BENCH_QUICK=1`` runs 100 instances instead of 1,000.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

from helmforge.adapters import helm_render
from helmforge.core.fleet.impact import impact_of
from helmforge.core.templates.parsing import parse_template
from helmforge.services.chart_builds import instance_chart_archive
from helmforge.services.instance_values import problems_of

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "templates" / "web-service.yaml"
INSTANCES = 100 if os.environ.get("HELMFORGE_BENCH_QUICK") else 1000
OVERRIDES: dict[str, Any] = {"replicaCount": 2}
_MIGRATION = '  migrations:\n    - from: "<2.0.0"\n      rename: {replicaCount: replicas}\n'


def _versions() -> tuple[Any, Any]:
    text = EXAMPLE.read_text(encoding="utf-8")
    current = parse_template(text, source="web-service@1.2.0")
    new = (
        text.replace("version: 1.2.0", "version: 2.0.0", 1)
        .replace("    replicaCount:\n", "    replicas:\n", 1)
        .replace("        replicaCount: 3\n", "        replicas: 3\n", 1)
        .replace("${values.replicaCount}", "${values.replicas}")
        .replace("default: 8080", "default: 8081", 1)
        .replace('  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + _MIGRATION, 1)
    )
    return current, parse_template(new, source="web-service@2.0.0")


def _context(number: int) -> dict[str, str]:
    return {
        "product": "shop",
        "customer": f"c{number // 20}",
        "environment": "dev",
        "instance": f"i{number}",
        "version": "3.4.0",
    }


def run() -> dict[str, float | str]:
    """Time both sides; print a table."""
    current, target = _versions()
    contexts = [_context(number) for number in range(INSTANCES)]
    start = time.perf_counter()
    kinds: dict[str, int] = {}
    for context in contexts:
        found = impact_of(
            "/".join(context[key] for key in ("product", "customer", "environment", "instance")),
            current=current,
            target=target,
            context=context,
            overrides=OVERRIDES,
            schema_check=lambda values, context=context: [
                f"{problem.path}: {problem.message}"
                for problem in problems_of(target, context, values)
            ],
        )
        kinds[found.change] = kinds.get(found.change, 0) + 1
    helmforge_seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures: dict[str, float | str] = {
        "instances": float(INSTANCES),
        "helmforge_s": helmforge_seconds,
        "peak_rss_mb": peak_mb,
        "kinds": ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())),
    }
    print(f"impact of {target.name}@{target.version} on {INSTANCES} instances: {figures['kinds']}")
    print(f"  helmforge impact_of, both versions: {helmforge_seconds:8.2f} s")
    print(f"  peak RSS after it:                  {peak_mb:8.0f} MB (goal <= 300)")
    if not helm_render.render_available():
        print("  Helm side skipped: helm-sdkpy is not installed")
        return figures
    start = time.perf_counter()
    for context in contexts:
        _, archive = instance_chart_archive(target, context)
        helm_render.render_chart(
            archive,
            {"replicas": 2},
            release_name=f"shop-{context['customer']}-dev-{context['instance']}",
            namespace=f"shop-{context['customer']}-dev-{context['instance']}",
            kube_version=target.kubernetes_version,
            deadline=60.0,
            skip_schema_validation=True,
        )
    helm_seconds = time.perf_counter() - start
    figures["helm_s"] = helm_seconds
    figures["ratio"] = helmforge_seconds / helm_seconds
    print(f"  Helm render, new version only:      {helm_seconds:8.2f} s")
    print(f"  ratio helmforge / Helm:             {figures['ratio']:8.2f} (goal <= 0.5)")
    return figures


if __name__ == "__main__":
    run()
