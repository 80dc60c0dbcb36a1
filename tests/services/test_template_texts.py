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


def test_a_when_naming_no_configured_environment_is_reported_not_passed_silently() -> None:
    text = EXAMPLE.read_text().replace("when: {environment: prod}", "when: {environment: prd}", 1)
    environments = ("dev", "sit", "uat", "prod")
    problems = check_template_text(text, environments=environments)
    errors = [(p.path, p.message) for p in problems if p.severity == "error"]
    assert errors == [
        (
            "spec.layers[0].when.environment",
            "when.environment: 'prd' is no configured environment (dev, sit, uat, prod); "
            "this layer can never apply",
        )
    ]
    warnings = [
        (p.path, p.severity, p.message)
        for p in check_template_text(EXAMPLE.read_text(), environments=environments)
        if "configured environment" in p.message
    ]
    assert warnings == [  # when: {environment: [dev, test]}: dev still matches
        (
            "spec.layers[1].when.environment",
            "warning",
            "when.environment: 'test' is no configured environment (dev, sit, uat, prod); "
            "that option can never match",
        )
    ]
    with pytest.raises(InputError, match="'prd' is no configured environment"):
        parse_valid_text(text, source="t.yaml", environments=environments)
    assert parse_valid_text(EXAMPLE.read_text(), source="t.yaml", environments=environments)
    assert not [p for p in check_template_text(text) if "configured environment" in p.message]


def test_checking_in_one_pass_never_crashes_on_a_damaged_template() -> None:
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    for number in range(len(lines)):
        damaged = "".join(lines[:number] + lines[number + 1 :])
        for text in (damaged, damaged.replace("replicaCount}", "replicaCont}")):
            for problem in check_template_text(text):  # returns problems, never raises
                assert problem.message
