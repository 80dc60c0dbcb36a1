"""Real Helm 4 (the helm-sdkpy Go library) as the test oracle.

Lint reports severities without messages: 1 info, 2 warning, 3 error, 4 unknown.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import helm_sdkpy

ERROR = 3


def helm_lint(chart: Path) -> dict[str, Any]:
    """Run Helm lint on a chart folder or .tgz and return helm-sdkpy's raw result."""
    return asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(chart)))


def assert_helm_lints(chart: Path) -> None:
    """Fail unless Helm lint finds no error (severity 3 or more) in the chart."""
    result = helm_lint(chart)
    failures = [m for m in result.get("Messages", []) if m.get("Severity", 0) >= ERROR]
    assert not failures, f"Helm lint failed for {chart}: {failures}"


def helm_show_chart(chart: Path) -> str:
    """Helm's view of Chart.yaml for a chart folder or .tgz."""
    return asyncio.run(helm_sdkpy.Show(helm_sdkpy.Configuration()).chart(str(chart)))
