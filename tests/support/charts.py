"""Helpers for chart-engine tests: the bundled example, writing rendered charts, lint levels."""

from __future__ import annotations

from pathlib import Path

from helmforge.core.charts import RenderedChart
from helmforge.core.contexts import Context, parse_context

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "templates" / "web-service.yaml"
GOLDEN = REPO / "tests" / "golden"


def context(**changes: str) -> Context:
    """A valid context, with some keys changed."""
    raw = {
        "product": "ledger",
        "customer": "acme",
        "environment": "prod",
        "instance": "a1",
        "version": "3.4.0",
    }
    raw.update(changes)
    return parse_context(raw)


def write_chart(chart: RenderedChart, into: Path) -> Path:
    """Write a rendered chart's files under ``into/<chart name>`` and return that folder."""
    folder = into / chart.name
    for path, data in chart.files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder
