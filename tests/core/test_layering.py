"""core.templates.layering: what a visitor must still give, and what they changed."""

from __future__ import annotations

import pytest

from helmforge.core.templates.layering import changed_values, deep_merge, unset_required
from helmforge.core.templates.parsing import parse_template
from tests.support.charts import CONTEXT, EXAMPLE


@pytest.mark.parametrize(
    ("environment", "missing"),
    [("sit", [("ingress", "host")]), ("dev", []), ("prod", [])],
)
def test_required_values_no_matching_layer_sets_are_unset(
    environment: str, missing: list[tuple[str, ...]]
) -> None:
    # ingress.host has no default; the dev/test and uat/prod layers set it, nothing else does.
    template = parse_template(EXAMPLE.read_bytes(), source=str(EXAMPLE))
    assert unset_required(template, {**CONTEXT, "environment": environment}) == missing


def test_changed_values_keeps_only_what_differs_key_by_key() -> None:
    base = {"replicaCount": 1, "image": {"tag": "1.0", "pullPolicy": "IfNotPresent"}, "x": [1]}
    submitted = {"replicaCount": 1, "image": {"tag": "2.0", "pullPolicy": "IfNotPresent"}, "new": 0}
    changed = changed_values(submitted, base)
    assert changed == {"image": {"tag": "2.0"}, "new": 0}
    merged = deep_merge(dict(base), changed)
    assert all(merged[key] == value for key, value in submitted.items())
    assert changed_values(base, base) == {}
