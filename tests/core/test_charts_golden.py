"""Golden files: the example template rendered for a few contexts, byte for byte.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/core/test_charts_golden.py``
and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.templates.parsing import parse_template
from tests.support.charts import EXAMPLE, GOLDEN, context, write_chart
from tests.support.helm import assert_helm_lints

CASES = {
    "ledger-acme-prod-a1": ({}, {}),
    "ledger-globex-dev-01": (
        {"customer": "globex", "environment": "dev", "instance": "01", "version": "2.0.0-rc.1"},
        {"env": [{"name": "FEATURE", "value": "on"}], "greeting": "{{ not code }}"},
    ),
    "ledger-initech-uat-b2": ({"customer": "initech", "environment": "uat", "instance": "b2"}, {}),
}
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_matches_golden_files(name: str, tmp_path: Path) -> None:
    changes, overrides = CASES[name]
    template = parse_template(EXAMPLE.read_bytes(), source="examples/templates/web-service.yaml")
    chart = render_chart(
        template,
        context(**changes),
        schemas=load_schema_set(template.kubernetes_version),
        overrides=overrides,
        generator_version="0.0.0-golden",
    )
    assert chart.name == name
    folder = GOLDEN / "web-service" / name
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        write_chart(chart, folder.parent)
    expected = {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    assert sorted(expected) == sorted(chart.files)
    for path, data in chart.files.items():
        assert data == expected[path], f"{name}/{path} differs from the golden file"


@pytest.mark.helm
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_charts_lint(name: str) -> None:
    assert_helm_lints(GOLDEN / "web-service" / name)
