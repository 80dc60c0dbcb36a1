"""Template texts: every problem in one pass, reading and schema checks together."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.services.template_texts import check_template_text, parse_valid_text
from tests.support.charts import EXAMPLE


def test_validation_reports_a_layer_type_error_in_the_same_pass_as_a_reading_problem() -> None:
    text = EXAMPLE.read_text()
    broken = text.replace("replicaCount: 3", "replicaCount: three", 1).replace(
        "description: Stateless HTTP service behind an Ingress", "description: [1]", 1
    )
    problems = [(p.path, p.message) for p in check_template_text(broken)]
    assert problems == [
        ("metadata.description", "description must be a string"),
        ("spec.layers[0].values.replicaCount", "replicaCount: 'three' is not of type 'integer'"),
    ]
    with pytest.raises(InputError, match=r"has 2 problem\(s\)"):
        parse_valid_text(broken, source="t.yaml")


def test_unknown_kubernetes_version_is_one_problem_beside_the_others() -> None:
    broken = EXAMPLE.read_text().replace('kubernetesVersion: "1.31"', 'kubernetesVersion: "1.99"')
    broken = broken.replace("kind: Template", "kind: Tmpl", 1)
    messages = [p.message for p in check_template_text(broken)]
    assert "kind must be Template" in messages
    assert any(m.startswith("no built-in schemas for Kubernetes 1.99") for m in messages)
